"""One U-Net forward pass for many sampling runs at once: thirty students' requests become one batch.

The U-Net costs much less per sample in a large batch (on 2 CPU cores about 4 ms per sample at
batch 2, 2 ms at batch 60), and a class asks for many runs at the same moment. Each sampling run
(its own thread) hands every forward pass to a shared `Batcher`; the first request of a group
waits a few milliseconds, or until every active run has asked, then runs all rows as one pass
and gives each run its own rows back.

Same seed, same pictures, whoever else is in the batch: a row's result must not depend on its
neighbours or on the batch's size. On CPU it does, slightly (about 1e-6): matrix products and
convolutions pick other kernels, and another summation order, for another number of rows. So
every pass here has exactly `ROWS` rows: a request's rows are cut into chunks of `ROWS`, the last
padded with repeats of its first row. With one shape for every pass, a row is computed the same
way at any position and beside any neighbours (tests/test_batcher.py checks it bit for bit): a
run alone through the batcher and the same run inside a batch of thirty give identical arrays.

Captures ride along: each request names the capture points it wants and which of its rows; the
batched pass records the union and each request gets its own slice. Requests with interventions
(which change the network while it runs) are never mixed with others: they run alone, padded.

Fair and cancellable: a batch takes at most `max_rows` rows, in turns by owner (a session), so a
session with many requests waiting gets one place per turn and the others are not pushed back;
a request whose `wanted()` says False when its batch is put together is dropped uncomputed and
its caller gets `Cancelled` (a run nobody waits for any more: its student left or asked again).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from diffviz.model.capture import Trace, capture, resolve

ROWS = 8                # rows of every pass: one shape, so a row never depends on the batch


def padded_forward(model, x, t, cond, capture_select=None, capture_rows: slice | None = None, rows: int = ROWS,
                   pool: ThreadPoolExecutor | None = None):
    """``model(x, t, cond)`` run in passes of exactly ``rows`` rows (the last padded), and its trace.

    x: (B, C, H, W); t: (B,); cond: (B, ...) or None. Returns (out (B, C, H, W), Trace or None);
    the trace holds ``capture_select`` for ``capture_rows`` of the B rows (default: all).
    pool: passes without captures run side by side on its threads (one core each: torch releases
    the GIL inside every operation); each pass is the same computation wherever it runs.
    """
    B = x.shape[0]
    pad = -B % rows
    if pad:
        x = torch.cat([x, x[:1].expand(pad, *x.shape[1:])])
        t = torch.cat([t, t[:1].expand(pad)])
        cond = torch.cat([cond, cond[:1].expand(pad, *cond.shape[1:])]) if cond is not None else None
    parts = [slice(lo, lo + rows) for lo in range(0, B + pad, rows)]

    def one(part: slice):                                   # (rows, C, H, W)
        with torch.inference_mode():
            return model(x[part], t[part], cond[part] if cond is not None else None)
    outs, traces = [], []
    if capture_select:                                      # one capture block per pass (a block keeps one)
        for part in parts:
            with capture(model, capture_select) as trace:
                outs.append(model(x[part], t[part], cond[part] if cond is not None else None))
            traces.append(trace)
    elif pool is not None and len(parts) > 1:               # a capture is this thread's: never on the pool
        outs = list(pool.map(one, parts))
    else:
        outs = [model(x[part], t[part], cond[part] if cond is not None else None) for part in parts]
    out = torch.cat(outs)[:B]
    if not capture_select:
        return out, None
    keep = capture_rows or slice(0, B)                      # a copy: a view would keep every padded row alive
    return out, Trace({k: torch.cat([tr[k] for tr in traces])[keep].clone() for k in traces[0]})


class Cancelled(Exception):
    """A sampling run, or one of its passes, stopped because nobody waits for it any more."""


@dataclass(eq=False)                                     # compared by identity (they hold tensors)
class _Request:
    x: torch.Tensor
    t: torch.Tensor
    cond: torch.Tensor | None
    capture_select: tuple | None
    capture_rows: slice | None
    owner: object = None                                   # whose turn it is (a session); None = its own
    wanted: Callable[[], bool] | None = None               # False: drop it, uncomputed
    done: bool = False
    out: torch.Tensor | None = None
    trace: Trace | None = None
    error: BaseException | None = None

    @property
    def rows(self) -> int:
        return self.x.shape[0]


class Batcher:
    """Collects forward passes from concurrent sampling runs and runs them as one padded batch.

    window_s: how long the first request of a group waits for others (it stops waiting as soon as
    every run inside `active()` has asked, or a batch is full). rows: the rows of every pass (see
    `ROWS`). max_rows: the most rows one batch takes; more wait for the next batch, taken in turns
    by owner (one request of each owner, then a second of each, ...), so a session that floods
    requests gets one place per turn and cannot push the others back. workers: how many passes of
    a batch (without captures) run at once, each on its own core (see `padded_forward`).
    """

    def __init__(self, window_s: float = 0.004, rows: int = ROWS, max_rows: int = 4 * ROWS, workers: int = 1):
        self.window_s, self.rows_per_pass, self.max_rows = window_s, rows, max_rows
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="diffviz-pass") if workers > 1 else None
        self._cv = threading.Condition()
        self._pending: dict[tuple, list[_Request]] = {}
        self._leading: set[tuple] = set()                  # keys whose batch is being gathered or run
        self._active = 0
        self.batches = 0                                   # statistics: batches run, rows in them,
        self.rows = 0                                      # requests dropped uncomputed
        self.cancelled = 0

    @contextlib.contextmanager
    def active(self):
        """Mark one sampling run as under way: a group stops waiting when all active runs have asked."""
        with self._cv:
            self._active += 1
        try:
            yield self
        finally:
            with self._cv:
                self._active -= 1
                self._cv.notify_all()

    def pending(self) -> int:
        """How many requests wait for a batch now (statistics, tests)."""
        with self._cv:
            return sum(len(g) for g in self._pending.values())

    def client(self, owner=None, wanted: Callable[[], bool] | None = None) -> Client:
        """A handle whose `forward` carries one run's owner and wish (see `forward`)."""
        return Client(self, owner, wanted)

    def forward(self, model, x, t, cond, capture_select=None, capture_rows: slice | None = None,
                owner=None, wanted: Callable[[], bool] | None = None):
        """``model(x, t, cond)`` for this caller's rows, computed in a batch with other callers' rows.

        Returns (out, trace): trace holds ``capture_select`` for ``capture_rows`` of this caller's
        rows (None when nothing was asked). owner: who is asking (a session; requests of one owner
        take turns with everyone else's). wanted: asked when the batch is put together; False drops
        the request uncomputed and raises `Cancelled`. Blocks until done; raises what the pass raised.
        """
        sel = tuple(capture_select) if capture_select else None
        req = _Request(x, t, cond, sel, capture_rows, owner, wanted)
        key = (id(model), tuple(x.shape[1:]), x.dtype, None if cond is None else (tuple(cond.shape[1:]), cond.dtype))
        with self._cv:
            self._pending.setdefault(key, []).append(req)
            self._cv.notify_all()
            while not req.done:
                if key in self._leading:                   # another caller leads this key's batch: wait
                    self._cv.wait()
                    continue
                self._leading.add(key)                     # lead one batch (not always holding my request)
                batch = []
                try:
                    batch = self._gather(key)
                    self._cv.release()
                    try:
                        self._run(model, batch)
                    finally:
                        self._cv.acquire()
                finally:                                   # whatever happened: the next caller may lead
                    self._leading.discard(key)
                    for r in batch:
                        r.done = True
                    self._cv.notify_all()
        if req.error is not None:
            raise req.error
        return req.out, req.trace

    def _gather(self, key) -> list[_Request]:
        """(Lock held.) Wait for the group to fill, drop unwanted requests, take one batch in turns."""
        deadline = time.perf_counter() + self.window_s
        group = self._pending[key]
        while (len(group) < self._active and sum(r.rows for r in group) < self.max_rows
               and (left := deadline - time.perf_counter()) > 0):
            self._cv.wait(left)
        for r in [r for r in group if not _still_wanted(r)]:
            group.remove(r)
            r.error, r.done = Cancelled("nobody waits for this pass any more"), True
            self.cancelled += 1
        batch = take_turns(group, self.max_rows)
        for r in batch:
            group.remove(r)
        if not group:
            del self._pending[key]
        return batch

    def _run(self, model, reqs: list[_Request]) -> None:
        if not reqs:
            return
        try:
            x = torch.cat([r.x for r in reqs])             # (N, C, H, W), N = all callers' rows
            t = torch.cat([r.t for r in reqs])
            cond = torch.cat([r.cond for r in reqs]) if reqs[0].cond is not None else None
            select = list(dict.fromkeys(k for r in reqs for k in (r.capture_select or ())))
            out, trace = padded_forward(model, x, t, cond, select or None, rows=self.rows_per_pass, pool=self._pool)
            self.batches, self.rows = self.batches + 1, self.rows + x.shape[0]
            start = 0
            for r in reqs:
                n = r.rows
                r.out = out[start:start + n]
                if r.capture_select:
                    lo, hi, _ = (r.capture_rows or slice(0, n)).indices(n)
                    r.trace = Trace({k: trace[k][start + lo:start + hi].clone()       # its own rows only
                                     for k in resolve(model, r.capture_select)})
                start += n
        except BaseException as e:  # noqa: BLE001 (handed to every caller, who raises it: none hangs)
            for r in reqs:
                r.error = e


def _still_wanted(r: _Request) -> bool:
    if r.wanted is None:
        return True
    try:
        return bool(r.wanted())
    except Exception:  # noqa: BLE001 (a wish that cannot be read is kept: computing too much is harmless)
        return True


def take_turns(group: list, max_rows: int) -> list:
    """Requests for one batch, in turns by owner: the first request of every owner (owners in the order
    of their oldest request), then the second of every owner, ... while the batch has room for
    ``max_rows`` rows (at least one request). A request without owner is its own owner.
    """
    queues: dict = {}
    for r in group:
        queues.setdefault(id(r) if r.owner is None else ("owner", r.owner), []).append(r)
    batch, rows = [], 0
    for turn in range(max((len(q) for q in queues.values()), default=0)):
        for q in queues.values():
            if turn < len(q):
                if batch and rows + q[turn].rows > max_rows:
                    return batch
                batch.append(q[turn])
                rows += q[turn].rows
    return batch


class Client:
    """One sampling run's handle on a `Batcher`: its passes carry the run's owner and wish."""

    def __init__(self, batcher: Batcher, owner=None, wanted: Callable[[], bool] | None = None):
        self.batcher, self.owner, self.wanted = batcher, owner, wanted

    def forward(self, model, x, t, cond, capture_select=None, capture_rows: slice | None = None):
        """`Batcher.forward` with this client's owner and wish."""
        return self.batcher.forward(model, x, t, cond, capture_select, capture_rows, self.owner, self.wanted)

    def active(self):
        """`Batcher.active` of the batcher behind this client."""
        return self.batcher.active()
