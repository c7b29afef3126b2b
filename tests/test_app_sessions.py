"""Several sessions through the app at the same moment (threads, not one after another).

Three students open different links at once: different seeds, a different model, and a link with bad
values. The threads meet at a barrier and each session's page runs while the others run. Each must
see exactly what the same link shows when opened alone afterwards (with every run cache emptied, so
the solo run recomputes instead of reading what the concurrent runs stored), and only its own
notices.
"""

from __future__ import annotations

import json
import threading

import pytest
from apptest import app

from benchmarks.pages import clear_caches

pytestmark = pytest.mark.usefixtures("as_served")   # conftest: every run goes through app.py

LINKS = {
    "A": {"model": "mnist", "seed": 11, "steps": 5, "label": 2},
    "B": {"model": "mnist-noskip", "seed": 12, "steps": 5, "label": 5},
    "C": {"model": "mnist", "seed": "banana", "steps": -4, "label": 7},   # falls back: seed 0, 5 steps
}
PAGE = "pages/denoise.py"


def view(at) -> dict:
    """What the session shows: every figure's data and the notices."""
    return {"figures": [json.dumps(json.loads(c.proto.spec)["data"], sort_keys=True) for c in at.get("plotly_chart")],
            "notices": sorted(w.value for w in at.warning)}


@pytest.fixture
def one_runtime(monkeypatch):
    """AppTest puts a mock Runtime in one global slot at the start of each run and empties it at the end: not
    thread-safe, so a session finishing could pull the runtime from under one still running ("Runtime hasn't
    been created!", seen once in CI). A served app has one Runtime for all sessions: keep the last one in place."""
    from streamlit.runtime import Runtime
    last = {}

    def instance(cls):
        if cls._instance is not None:
            last["runtime"] = cls._instance
        if "runtime" not in last:
            raise RuntimeError("Runtime hasn't been created!")
        return last["runtime"]
    monkeypatch.setattr(Runtime, "instance", classmethod(instance))


def test_sessions_at_the_same_moment_see_only_their_own_pictures_and_notices(one_runtime):
    clear_caches()
    start, views, errors = threading.Barrier(len(LINKS)), {}, []

    def session(name):
        try:
            start.wait(timeout=30)
            at = app(PAGE, **LINKS[name])
            views[name] = (view(at), [e.message for e in at.exception])
        except BaseException as e:              # noqa: BLE001 - reported below
            errors.append((name, repr(e)))
    threads = [threading.Thread(target=session, args=(n,)) for n in LINKS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    for name, (_, exc) in views.items():
        assert not exc, (name, exc)

    for name in LINKS:
        clear_caches()                                          # the solo run computes afresh
        alone = view(app(PAGE, **LINKS[name]))
        together = views[name][0]
        assert together["figures"] and together["figures"] == alone["figures"], \
            f"session {name} showed other pictures than its link shows alone"
        assert together["notices"] == alone["notices"], (name, together["notices"], alone["notices"])
    assert views["A"][0]["figures"] != views["B"][0]["figures"] != views["C"][0]["figures"]
    assert not views["A"][0]["notices"] and not views["B"][0]["notices"]
    notes = " ".join(views["C"][0]["notices"])
    assert "“seed”" in notes and "“steps”" in notes, notes
