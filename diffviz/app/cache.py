"""A small, thread-safe, size-bounded cache for sampling runs, keyed by plain values.

Thirty students opening the same link ask for the same key at the same moment: the first one
computes, the others wait on that key's lock and get the same (read-only) object. The computation
can ask whether any of them still waits (`BoundedCache.wanted`), and stop when none does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


def _always() -> bool:
    return True


class BoundedCache:
    """Least-recently-used cache bounded by entry count and by total bytes (``size(value)``)."""

    def __init__(self, max_entries: int = 48, max_bytes: int = 768 * 2**20, size=lambda v: 0):
        self.max_entries, self.max_bytes, self.size = max_entries, max_bytes, size
        self._data: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict = {}
        self._waiters: dict = {}                           # key -> the `wants` of every caller waiting
        self.computed = 0                                  # how many times `compute` actually ran

    def get_or_compute(self, key, compute, wants=None):
        """The cached value for ``key``, computing it (once, even under concurrency) if needed.

        wants: a callable saying whether this caller still waits for the value (None: always); while
        the value is computed, `wanted(key)` asks every caller waiting for it.
        """
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
            mine = wants or _always
            self._waiters.setdefault(key, []).append(mine)
        try:
            with key_lock:
                with self._lock:
                    if key in self._data:
                        self._data.move_to_end(key)
                        return self._data[key][0]
                value = compute()
                nbytes = int(self.size(value))
                with self._lock:
                    self.computed += 1
                    self._data[key] = (value, nbytes)
                    self._bytes += nbytes
                    while len(self._data) > self.max_entries or (self._bytes > self.max_bytes and len(self._data) > 1):
                        _, (_, b) = self._data.popitem(last=False)
                        self._bytes -= b
                return value
        finally:
            with self._lock:
                waiting = self._waiters.get(key, [])
                waiting.remove(mine)
                if not waiting:                            # nobody else holds or waits for the key's lock
                    del self._waiters[key]
                    self._key_locks.pop(key, None)

    def wanted(self, key) -> bool:
        """Does anybody still wait for ``key``'s value (see `get_or_compute`)?"""
        with self._lock:
            waiting = list(self._waiters.get(key, ()))
        return any(w() for w in waiting)

    def waiting(self, key) -> int:
        """How many callers are inside `get_or_compute` for ``key`` now (computing or waiting)."""
        with self._lock:
            return len(self._waiters.get(key, ()))

    def get(self, key):
        """The cached value for ``key`` (now the most recently used), or None (never computes)."""
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            self._data.move_to_end(key)
            return hit[0]

    def peek(self, key):
        """The cached value for ``key``, or None (never computes)."""
        with self._lock:
            hit = self._data.get(key)
            return hit[0] if hit is not None else None

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
