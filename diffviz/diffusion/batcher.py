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
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

import torch

from diffviz.model.capture import Trace, capture, resolve

ROWS = 8                # rows of every pass: one shape, so a row never depends on the batch


def padded_forward(model, x, t, cond, capture_select=None, capture_rows: slice | None = None, rows: int = ROWS):
    """``model(x, t, cond)`` run in passes of exactly ``rows`` rows (the last padded), and its trace.

    x: (B, C, H, W); t: (B,); cond: (B, ...) or None. Returns (out (B, C, H, W), Trace or None);
    the trace holds ``capture_select`` for ``capture_rows`` of the B rows (default: all).
    """
    B = x.shape[0]
    pad = -B % rows
    if pad:
        x = torch.cat([x, x[:1].expand(pad, *x.shape[1:])])
        t = torch.cat([t, t[:1].expand(pad)])
        cond = torch.cat([cond, cond[:1].expand(pad, *cond.shape[1:])]) if cond is not None else None
    outs, traces = [], []
    for lo in range(0, B + pad, rows):
        part = slice(lo, lo + rows)
        if capture_select:                                  # one capture block per pass (a block keeps one)
            with capture(model, capture_select) as trace:
                outs.append(model(x[part], t[part], cond[part] if cond is not None else None))
            traces.append(trace)
        else:
            outs.append(model(x[part], t[part], cond[part] if cond is not None else None))
    out = torch.cat(outs)[:B]
    if not capture_select:
        return out, None
    keep = capture_rows or slice(0, B)                      # a copy: a view would keep every padded row alive
    return out, Trace({k: torch.cat([tr[k] for tr in traces])[keep].clone() for k in traces[0]})


@dataclass
class _Request:
    x: torch.Tensor
    t: torch.Tensor
    cond: torch.Tensor | None
    capture_select: tuple | None
    capture_rows: slice | None
    done: threading.Event = field(default_factory=threading.Event)
    out: torch.Tensor | None = None
    trace: Trace | None = None
    error: BaseException | None = None


class Batcher:
    """Collects forward passes from concurrent sampling runs and runs them as one padded batch.

    window_s: how long the first request of a group waits for others (it stops waiting as soon as
    every run inside `active()` has asked). rows: the rows of every pass (see `ROWS`).
    """

    def __init__(self, window_s: float = 0.004, rows: int = ROWS):
        self.window_s, self.rows_per_pass = window_s, rows
        self._lock = threading.Condition()
        self._pending: dict[tuple, list[_Request]] = {}
        self._active = 0
        self.batches = 0                                   # passes run, and rows in them (statistics)
        self.rows = 0

    @contextlib.contextmanager
    def active(self):
        """Mark one sampling run as under way: a group stops waiting when all active runs have asked."""
        with self._lock:
            self._active += 1
        try:
            yield self
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def forward(self, model, x, t, cond, capture_select=None, capture_rows: slice | None = None):
        """``model(x, t, cond)`` for this caller's rows, computed in a batch with other callers' rows.

        Returns (out, trace): trace holds ``capture_select`` for ``capture_rows`` of this caller's
        rows (None when nothing was asked). Blocks until the batch has run; raises what it raised.
        """
        sel = tuple(capture_select) if capture_select else None
        req = _Request(x, t, cond, sel, capture_rows)
        key = (id(model), tuple(x.shape[1:]), x.dtype, None if cond is None else (tuple(cond.shape[1:]), cond.dtype))
        with self._lock:
            group = self._pending.setdefault(key, [])
            group.append(req)
            leader = len(group) == 1
            self._lock.notify_all()
        if not leader:
            req.done.wait()
        else:
            self._lead(model, key)
        if req.error is not None:
            raise req.error
        return req.out, req.trace

    def _lead(self, model, key) -> None:
        deadline = time.perf_counter() + self.window_s
        with self._lock:
            while len(self._pending[key]) < self._active and (left := deadline - time.perf_counter()) > 0:
                self._lock.wait(left)
            group = self._pending.pop(key)
        self._run(model, group)

    def _run(self, model, reqs: list[_Request]) -> None:
        try:
            x = torch.cat([r.x for r in reqs])             # (N, C, H, W), N = all callers' rows
            t = torch.cat([r.t for r in reqs])
            cond = torch.cat([r.cond for r in reqs]) if reqs[0].cond is not None else None
            select = list(dict.fromkeys(k for r in reqs for k in (r.capture_select or ())))
            out, trace = padded_forward(model, x, t, cond, select or None, rows=self.rows_per_pass)
            self.batches, self.rows = self.batches + 1, self.rows + x.shape[0]
            start = 0
            for r in reqs:
                n = r.x.shape[0]
                r.out = out[start:start + n]
                if r.capture_select:
                    rows = r.capture_rows or slice(0, n)
                    lo, hi, _ = rows.indices(n)
                    r.trace = Trace({k: trace[k][start + lo:start + hi].clone()       # its own rows only
                                     for k in resolve(model, r.capture_select)})
                start += n
        except BaseException as e:  # noqa: BLE001 (handed to every caller, who raises it: none hangs)
            for r in reqs:
                r.error = e
        finally:
            for r in reqs:
                r.done.set()
