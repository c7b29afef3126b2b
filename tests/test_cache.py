"""The shared run cache (diffviz.app.cache.BoundedCache) and the first model load, under real races.

Every race here is forced, not hoped for: the threads meet at a barrier, and the computation waits
until every thread has asked, so all of them are inside `get_or_compute` (or `zoo.load`) before the
first value exists.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from diffviz.app.cache import BoundedCache
from diffviz.model import checkpoint, zoo
from diffviz.model.config import preset
from diffviz.model.unet import UNet

N = 8


def race(n: int, work) -> list:
    """Run ``work(i)`` in ``n`` threads released together; their results (re-raises the first error)."""
    start, out, errors = threading.Barrier(n), [None] * n, []

    def go(i):
        try:
            start.wait(timeout=30)
            out[i] = work(i)
        except BaseException as e:                 # noqa: BLE001 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    if errors:
        raise errors[0]
    return out


def test_eviction_by_count_is_least_recently_used():
    c = BoundedCache(max_entries=3)
    for k in "abc":
        c.get_or_compute(k, lambda k=k: k.upper())
    assert c.get_or_compute("a", lambda: "recomputed") == "A"          # a hit: "a" is now the newest
    c.get_or_compute("d", lambda: "D")                                   # evicts "b", the oldest
    assert len(c) == 3 and c.computed == 4
    assert c.get_or_compute("b", lambda: "B2") == "B2" and c.computed == 5   # was gone: computed again
    assert c.get_or_compute("a", lambda: "x") == "A"                     # "a" survived both evictions
    assert c.get_or_compute("c", lambda: "C2") == "C2"                   # "c" went when "b" came back


def test_eviction_by_bytes_keeps_the_total_under_the_limit():
    c = BoundedCache(max_entries=100, max_bytes=100, size=len)
    c.get_or_compute(1, lambda: b"x" * 40)
    c.get_or_compute(2, lambda: b"y" * 40)
    assert c.nbytes == 80 and len(c) == 2
    c.get_or_compute(3, lambda: b"z" * 30)                              # 110 > 100: the oldest goes
    assert c.nbytes == 70 and len(c) == 2
    assert c.get_or_compute(1, lambda: b"new") == b"new"                # 1 was evicted
    big = c.get_or_compute(4, lambda: b"w" * 500)                        # alone over the limit: kept alone
    assert len(c) == 1 and c.nbytes == 500 and c.get_or_compute(4, lambda: b"") is big
    c.clear()
    assert len(c) == 0 and c.nbytes == 0


def test_one_computation_when_many_ask_at_the_same_moment():
    c = BoundedCache()
    asked = []

    def compute():
        deadline = time.monotonic() + 10
        while len(asked) < N and time.monotonic() < deadline:          # everyone has asked: a real race
            time.sleep(0.005)
        time.sleep(0.05)
        return object()

    def work(i):
        asked.append(i)
        return c.get_or_compute("same key", compute)
    got = race(N, work)
    assert c.computed == 1 and all(g is got[0] for g in got)


def test_an_exception_is_not_cached():
    c = BoundedCache()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of memory, once")
        return "fine"
    with pytest.raises(RuntimeError, match="once"):
        c.get_or_compute("k", flaky)
    assert len(c) == 0 and c.computed == 0
    assert c.get_or_compute("k", flaky) == "fine" and len(calls) == 2
    assert c.get_or_compute("k", flaky) == "fine" and len(calls) == 2     # now cached


def test_an_exception_under_a_race_reaches_its_caller_and_the_others_retry():
    c = BoundedCache()
    asked, calls = [], []

    def compute():
        calls.append(1)
        deadline = time.monotonic() + 10
        while len(asked) < N and time.monotonic() < deadline:
            time.sleep(0.005)
        if len(calls) == 1:
            raise ValueError("the first computation fails")
        return "value"

    def work(i):
        asked.append(i)
        try:
            return c.get_or_compute("k", compute)
        except ValueError as e:
            return e
    got = race(N, work)
    failed = [g for g in got if isinstance(g, ValueError)]
    assert len(failed) == 1 and got.count("value") == N - 1
    assert len(calls) == 2 and c.computed == 1                          # one failure, one success


@pytest.fixture
def tiny_entry(tmp_path, monkeypatch):
    torch.manual_seed(0)
    checkpoint.save_checkpoint(UNet(preset("tiny")), tmp_path / "tiny")
    monkeypatch.setitem(zoo.MODELS, "tiny", zoo.Entry("tiny", "A tiny test model", "class", 2.0,
                                                      prefix=tmp_path / "tiny"))
    zoo.clear_cache()
    yield "tiny"
    zoo.clear_cache()


def test_the_first_model_load_really_races(tiny_entry, monkeypatch):
    """Eight sessions open the app on a fresh server at the same moment: the checkpoint is read once,
    and all eight get the same model object."""
    real, loads, asked = checkpoint.load_checkpoint, [], []

    def slow_load(*a, **kw):
        loads.append(1)
        deadline = time.monotonic() + 10
        while len(asked) < N and time.monotonic() < deadline:
            time.sleep(0.005)
        return real(*a, **kw)
    monkeypatch.setattr(checkpoint, "load_checkpoint", slow_load)

    def work(i):
        asked.append(i)
        return zoo.load(tiny_entry, "cpu")
    got = race(N, work)
    assert len(loads) == 1
    assert all(m is got[0][0] for m, _ in got)
