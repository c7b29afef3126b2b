"""Bad load: a run nobody waits for stops between two steps (and goes on later with the same bits), a
request nobody wants is never computed, and a session that floods requests cannot push the others back.

Every ordering here is forced (active runs counted, callers waited for), never left to the clock.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest
import torch
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests

from diffviz.app import waiting
from diffviz.app.cache import BoundedCache
from diffviz.diffusion import sampling
from diffviz.diffusion.batcher import Batcher, Cancelled, padded_forward

ARRAYS = ("timesteps", "x_t", "eps", "pred_x0", "final")


def _inputs(model, n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    x = torch.randn(n, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    return x, torch.randint(0, 1000, (n,), generator=g), torch.randint(0, 10, (n,), generator=g)


def _threads(n: int, work, batcher: Batcher | None = None):
    """``work(k)`` in n threads, with all n runs marked active first (a batch waits for all of them)."""
    out, errors = [None] * n, [None] * n

    def one(k):
        try:
            out[k] = work(k)
        except Exception as e:                             # noqa: BLE001 (the test looks at it)
            errors[k] = e
    with contextlib.ExitStack() as stack:
        for _ in range(n if batcher is not None else 0):
            stack.enter_context(batcher.active())
        threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    assert not any(th.is_alive() for th in threads)
    return out, errors


def _same(a: sampling.Trajectory, b: sampling.Trajectory) -> None:
    for name in ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert set(a.traces) == set(b.traces)
    for i, tr in a.traces.items():
        for k, v in tr.items():
            assert torch.equal(v, b.traces[i][k]), (i, k)


def test_a_request_nobody_wants_is_dropped_uncomputed_and_the_others_keep_their_bits(tiny_model):
    b = Batcher(window_s=30)                               # starts when all three runs have asked
    inputs = [_inputs(tiny_model, 2, seed=k) for k in range(3)]
    with torch.inference_mode():
        alone = [padded_forward(tiny_model, *inp)[0] for inp in inputs]

    def work(k):
        with torch.inference_mode():
            return b.forward(tiny_model, *inputs[k], owner=k, wanted=(lambda: k != 1))[0]
    out, errors = _threads(3, work, b)
    assert isinstance(errors[1], Cancelled) and out[1] is None
    assert torch.equal(out[0], alone[0]) and torch.equal(out[2], alone[2])
    assert b.rows == 4 and b.cancelled == 1                # request 1's rows never reached the network


class Echo:
    """A stand-in U-Net that doubles its input, logs which requests' rows each pass holds, and holds its
    first pass until ``release`` is set (so that the whole flood is waiting when the next batch forms)."""

    def __init__(self):
        self.passes, self.started, self.release = [], threading.Event(), threading.Event()

    def __call__(self, x, t, cond):
        self.passes.append(sorted({int(v) for v in x[:, 0, 0, 0]}))
        self.started.set()
        self.release.wait(30)
        return x * 2


def test_a_flooding_session_cannot_push_another_back():
    b, echo, flood = Batcher(window_s=0.001, max_rows=4), Echo(), 8    # a batch: 2 requests of 2 rows
    out, errors, threads = {}, [], []

    def ask(marker: int, owner: str):
        x = torch.full((2, 1, 2, 2), float(marker))
        try:
            out[marker] = (b.forward(echo, x, torch.zeros(2, dtype=torch.long), None, owner=owner)[0], x)
        except Exception as e:                             # noqa: BLE001
            errors.append(e)

    def start(marker: int, owner: str):
        threads.append(threading.Thread(target=ask, args=(marker, owner)))
        threads[-1].start()
    start(100, "flood")
    echo.started.wait(30)                                  # the first batch is running (and held)
    for k in range(1, flood):
        start(100 + k, "flood")
    while b.pending() < flood - 1:
        time.sleep(0.001)
    start(1, "calm")                                       # the calm session asks last of all
    while b.pending() < flood:
        time.sleep(0.001)
    echo.release.set()
    for th in threads:
        th.join(30)
    assert not errors and len(out) == flood + 1
    assert all(torch.equal(o, 2 * x) for o, x in out.values())         # every request got its own rows back
    assert echo.passes[0] == [100] and 1 in echo.passes[1], echo.passes  # the very next batch holds the calm one
    assert sum(len(p) for p in echo.passes) == flood + 1


def test_take_turns_one_request_per_owner_per_turn():
    from diffviz.diffusion.batcher import _Request, take_turns

    def req(owner):
        return _Request(torch.zeros(2, 1, 1, 1), torch.zeros(2), None, None, None, owner)
    group = [req("a"), req("a"), req("a"), req("b"), req(None), req("b")]
    assert [r.owner for r in take_turns(group, 8)] == ["a", "b", None, "a"]
    assert take_turns(group, 100) == [group[0], group[3], group[4], group[1], group[5], group[2]]
    big = [_Request(torch.zeros(12, 1, 1, 1), torch.zeros(12), None, None, None, "a")]
    assert take_turns(big, 8) == big                       # one request always fits


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_a_stopped_run_goes_on_with_the_same_bits(tiny_model, sampler):
    kw = dict(sampler=sampler, steps=8, guidance=2.0, seeds=[5], capture_select=["bottleneck"])
    whole = sampling.run(tiny_model, [3], **kw, batcher=Batcher())          # the same run, never stopped
    run = sampling.Run(tiny_model, [3], **kw, batcher=Batcher())
    with pytest.raises(Cancelled):
        run.advance(lambda: run.done_steps < 3)            # stops before step 3
    assert run.done_steps == 3
    with pytest.raises(Cancelled):
        run.advance(lambda: False)
    assert run.done_steps == 3
    _same(run.advance(), whole)


def test_a_run_stopped_inside_the_batcher_goes_on_with_the_same_bits(tiny_model):
    kw = dict(sampler="ddpm", steps=6, guidance=2.0, seeds=[9])
    whole = sampling.run(tiny_model, [7], **kw, batcher=Batcher())
    run = sampling.Run(tiny_model, [7], **kw, batcher=Batcher())
    calls = []

    def wanted():                                          # per step: asked by the run, then by the batcher
        calls.append(1)
        return len(calls) != 6                             # the batcher's ask in step 2 says no
    with pytest.raises(Cancelled):
        run.advance(wanted)
    assert run.done_steps == 2 and run.batcher.cancelled == 1
    _same(run.advance(lambda: True), whole)


def test_a_shared_run_stops_only_when_nobody_waits(tiny_model):
    cache, key = BoundedCache(size=lambda tr: tr.nbytes()), ("run", 1)
    kw = dict(steps=30, guidance=2.0, seeds=[1])
    run = sampling.Run(tiny_model, [3], **kw, batcher=Batcher())
    leaves_at = [5, 12]                                    # student k leaves once the run has done leaves_at[k] steps

    def compute():
        while run.done_steps == 0 and cache.waiting(key) < 2:   # both students are in before the first step
            time.sleep(0.001)
        return run.advance(lambda: cache.wanted(key))

    def student(k):
        return cache.get_or_compute(key, compute, wants=lambda: run.done_steps < leaves_at[k])
    _, errors = _threads(2, student)
    assert all(isinstance(e, Cancelled) for e in errors)
    assert run.done_steps == 12                            # went on after the first left, stopped when both had
    assert len(cache) == 0 and cache.waiting(key) == 0
    late = cache.get_or_compute(key, lambda: run.advance(lambda: cache.wanted(key)))   # a third comes: goes on
    _same(late, sampling.run(tiny_model, [3], **kw, batcher=Batcher()))


def test_what_streamlit_asks_a_script_run_to_do():
    r = ScriptRequests()
    assert waiting.requests_continue(r)
    assert r.request_rerun(RerunData(fragment_id="frag"))  # a fragment's rerun waits for the run: still wanted
    assert waiting.requests_continue(r)
    r = ScriptRequests()
    r.request_rerun(RerunData(query_string="seed=2"))      # the student asked again: this run is not wanted
    assert not waiting.requests_continue(r)
    r = ScriptRequests()
    r.request_stop()                                       # the session closed
    assert not waiting.requests_continue(r)
    assert waiting.script_run_wanted()() and waiting.session_connected("nobody")   # outside a server
    assert waiting.owner().startswith("thread-")


def test_the_gate_admits_in_order_and_lets_the_unwanted_leave():
    gate, log = waiting.Gate(1, poll_s=0.01), []
    hold, leave = threading.Event(), threading.Event()

    def holder():
        with gate.enter():
            hold.set()
            leave.wait(30)

    def queued(name, wanted=None):
        try:
            with gate.enter(wanted):
                log.append(name)
        except Cancelled:
            log.append(f"{name} left")
    first = threading.Thread(target=holder)
    first.start()
    hold.wait(30)
    gone = threading.Event()
    threads = [threading.Thread(target=queued, args=("a",)),
               threading.Thread(target=queued, args=("quitter", lambda: not gone.is_set())),
               threading.Thread(target=queued, args=("b",))]
    for k, th in enumerate(threads):
        th.start()
        while gate.waiting < k + 1:
            time.sleep(0.001)
    gone.set()
    while "quitter left" not in log:
        time.sleep(0.001)
    leave.set()
    for th in [first, *threads]:
        th.join(30)
    assert log == ["quitter left", "a", "b"] and gate.waiting == 0


def test_parked_runs_are_bounded_and_taken_once():
    p = waiting.Parked(max_entries=2, max_age_s=60)
    for k in range(3):
        p.put(k, f"run{k}")
    assert len(p) == 2 and p.take(0) is None
    assert p.take(2) == "run2" and p.take(2) is None
    old = waiting.Parked(max_age_s=0.0)
    old.put("k", "run")
    assert old.take("k") is None
