"""Per-session rate limits: a sliding window of recent events for each (action, session).

In memory, per server process (each process keeps its own counts): enough to stop one browser
tab flooding joins or answers, which is what it is for. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class TooMany(Exception):
    """Too many requests from one session in a short time."""


class RateLimiter:
    """At most ``limits[action] = (count, seconds)`` events per session in any window of that length."""

    def __init__(self, limits: dict[str, tuple[int, float]], clock=time.monotonic, max_sessions: int = 20000):
        self.limits = dict(limits)
        self.clock = clock
        self.max_sessions = max_sessions
        self._events: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def hit(self, action: str, session: str | None) -> None:
        """Count one ``action`` by ``session``; raise `TooMany` (saying how long to wait) when over the limit.

        ``session`` None is not limited (library use, tests of other things).
        """
        if session is None or action not in self.limits:
            return
        count, window = self.limits[action]
        now = self.clock()
        with self._lock:
            if len(self._events) > self.max_sessions:      # forget idle sessions (bounded memory)
                self._events = {k: q for k, q in self._events.items() if q and now - q[-1] < window}
            q = self._events.setdefault((action, str(session)), deque())
            while q and now - q[0] >= window:
                q.popleft()
            if len(q) >= count:
                wait = max(1, int(window - (now - q[0]) + 0.999))
                raise TooMany(f"Too many {action}s from this page in a short time: wait {wait} s and try again.")
            q.append(now)
