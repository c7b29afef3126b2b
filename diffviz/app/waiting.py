"""Who still waits for a sampling run: a script run's wish, a fair queue, and runs parked half-done.

A page's script runs in its session's thread. When the student asks again (moves a slider, reloads)
or leaves (the websocket closes), Streamlit only *asks* that run to stop: the request is noticed at
the script's next ``st.`` call, and a thread busy sampling makes none for seconds. Left alone, the
abandoned run computes to the end while the others wait behind it (docs/deploy.md, bad load).

So a sampling run asks, before each step, whether anybody still waits for it: `script_run_wanted`
reads the script run's pending request (none, or only a fragment's rerun: still wanted; a full
rerun or a stop: not) and whether its session is still connected. A run that several sessions wait
for (the runs cache gives every asker of a key the same run) stops only when none of them waits.
A stopped run is `PARKED` for a while: asked again (a rerun with the same settings, a student who
comes back) it goes on from the step where it stopped, with the same bits.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections import OrderedDict, deque

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from diffviz.diffusion.batcher import Cancelled


def script_run_wanted():
    """A callable, safe from any thread: is the script run calling this now still wanted by its session?

    Outside a Streamlit script run (tests, the command line) it always says True.
    """
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return lambda: True
    requests, session_id = ctx.script_requests, ctx.session_id

    def wanted() -> bool:
        return requests_continue(requests) and session_connected(session_id)
    return wanted


def requests_continue(requests) -> bool:
    """True while a script run's `ScriptRequests` hold nothing that ends it: no request, or a fragment's
    rerun that waits for the run to end (as Streamlit's own check treats it). A full rerun or a stop: False.

    Streamlit has no public way to ask this from another thread; its state is read as its own
    ``on_scriptrunner_yield`` reads it (without the lock, which only guards the change).
    """
    state = getattr(getattr(requests, "_state", None), "value", "CONTINUE")
    if state == "RERUN":
        data = getattr(requests, "_rerun_data", None)
        return bool(data is not None and data.fragment_id_queue and not data.is_fragment_scoped_rerun)
    return state == "CONTINUE"


def session_connected(session_id: str) -> bool:
    """True while the session's browser tab is connected (always True without a Streamlit server)."""
    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


def owner() -> str:
    """Who asks: the session's id (the batcher serves sessions in turns), or the thread's outside Streamlit."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else f"thread-{threading.get_ident()}"


def end_this_run() -> None:
    """End the current script run, which nobody wants any more, the way Streamlit ends one.

    An ``st.`` call is where Streamlit handles a pending rerun or stop (it raises its own exception,
    which ends the run without an error on the page); when nothing is pending (the session went
    away) ``st.stop`` ends it quietly.
    """
    st.empty()
    st.stop()


def pace(min_gap_s: float = 0.2) -> None:
    """Start this session's script runs at most every ``min_gap_s``: a client that floods reruns waits
    here, asleep (other sessions run meanwhile), instead of running the page again and again. A student
    moving a slider is never this fast for long; a fragment's rerun does not pass here. Without a
    Streamlit server (AppTest) it does nothing."""
    if not Runtime.exists():
        return
    now = time.monotonic()
    wait = min_gap_s - (now - st.session_state.get("_diffviz_run_started", -1e9))
    if wait > 0:
        time.sleep(wait)
    st.session_state["_diffviz_run_started"] = time.monotonic()
    _collect_now_and_then()


_GC = {"last": time.monotonic()}
_GC_LOCK = threading.Lock()


def _collect_now_and_then(every_s: float = 10.0) -> None:
    """A full garbage collection at most every ``every_s`` per process (Streamlit's own after every run
    is off: .streamlit/config.toml), so cycles left by figures are still freed."""
    with _GC_LOCK:
        if time.monotonic() - _GC["last"] < every_s:
            return
        _GC["last"] = time.monotonic()
    gc.collect(2)


class Gate:
    """At most ``limit`` sampling runs compute at once; the others wait in arrival order, asleep, and
    one that nobody waits for any more leaves the queue (`Cancelled`) instead of taking its turn.

    One session has one script thread, so it holds at most one place: a session that reruns again
    and again goes to the back each time and never pushes the others back.
    """

    def __init__(self, limit: int, poll_s: float = 0.2):
        self.limit, self.poll_s = max(1, int(limit)), poll_s
        self._cv = threading.Condition()
        self._queue: deque = deque()
        self._running = 0

    @contextlib.contextmanager
    def enter(self, wanted=None):
        """Wait for a place (asking ``wanted()`` every ``poll_s``), hold it inside the block."""
        me = object()
        with self._cv:
            self._queue.append(me)
            try:
                while not (self._queue[0] is me and self._running < self.limit):
                    if wanted is not None and not wanted():
                        raise Cancelled("left the queue: nobody waits for this run any more")
                    self._cv.wait(self.poll_s)
            finally:
                self._queue.remove(me)                     # admitted (it was first) or gone
                self._cv.notify_all()
            self._running += 1
        try:
            yield
        finally:
            with self._cv:
                self._running -= 1
                self._cv.notify_all()

    @property
    def waiting(self) -> int:
        return len(self._queue)


class Parked:
    """Runs stopped half-done, by key, for ``max_age_s`` (at most ``max_entries``, oldest out first)."""

    def __init__(self, max_entries: int = 8, max_age_s: float = 120.0):
        self.max_entries, self.max_age_s = max_entries, max_age_s
        self._runs: OrderedDict = OrderedDict()            # key -> (time parked, run)
        self._lock = threading.Lock()

    def put(self, key, run) -> None:
        """Keep a stopped run (one per key: a later one replaces it)."""
        with self._lock:
            self._runs.pop(key, None)
            self._runs[key] = (time.monotonic(), run)
            old = time.monotonic() - self.max_age_s
            while self._runs and (len(self._runs) > self.max_entries or next(iter(self._runs.values()))[0] < old):
                self._runs.popitem(last=False)

    def take(self, key):
        """The run parked under ``key`` (it leaves the store: one thread goes on with it), or None."""
        with self._lock:
            hit = self._runs.pop(key, None)
        return None if hit is None or hit[0] < time.monotonic() - self.max_age_s else hit[1]

    def __len__(self) -> int:
        return len(self._runs)
