"""The classroom benchmark's parts: a loopback Streamlit server, its memory, and a websocket student.

A student speaks Streamlit's own protocol, as the browser does: a websocket to ``/_stcore/stream``
with the subprotocol ``streamlit``; ``rerun_script`` BackMsgs out; ForwardMsgs in, until
``script_finished``. See benchmarks/classroom.py.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
EARLY_FOR_RERUN = 2                    # ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
PAGE_TIMEOUT_S = 180.0


# ---------------------------------------------------------------- the server and its memory

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run app.py`` on a loopback port, in its own process group; ended on exit."""

    def __init__(self, port: int | None = None, extra: tuple = ()):
        self.port = port or free_port()
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(self.port), "--server.address", "127.0.0.1",
               "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *extra]
        self.log = open(os.environ.get("CLASSROOM_LOG", os.devnull), "w")  # noqa: SIM115 (closed in close)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("the server did not start within 60 s")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
        self.log.close()


def _tree(root_pid: int) -> list[int]:
    """A process and all its descendants (pids), from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def rss_mb(root_pid: int | None) -> float | None:
    """Resident memory of a process and all its descendants (MB), from /proc."""
    if root_pid is None:
        return None
    total = 0
    for pid in _tree(root_pid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def cpu_s(root_pid: int | None) -> float | None:
    """CPU seconds (user + system) a process and its living descendants have used so far, from /proc.

    It depends less than wall-clock time on what else runs on the machine: the difference over a
    round is the work the server did for it (two cores at most give it back within half that time)."""
    if root_pid is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _tree(root_pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])              # utime, stime (clock ticks)
        except (OSError, IndexError, ValueError):
            pass
    return round(total / ticks, 2)


class RunEvents:
    """The server's sampling-run events (``DIFFVIZ_TRACE_RUNS``: one ``diffviz-run EVENT ...`` line on stderr
    each time a run starts, stops because nobody waits for it, resumes, finishes), counted from its log."""

    def __init__(self, path: str | os.PathLike | None):
        self.path, self.offset = path, 0

    def since_last(self) -> dict | None:
        """How many of each event since the previous call (None without a log)."""
        if not self.path:
            return None
        text = Path(self.path).read_text(errors="replace")
        new, self.offset = text[self.offset:], len(text)
        events = [line.split()[1] for line in new.splitlines() if line.startswith("diffviz-run ")]
        return {e: events.count(e) for e in ("started", "stopped", "resumed", "finished")}


def load_avg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---------------------------------------------------------------- one student

class Student:
    """One browser tab: a websocket session, its page, and the widgets the server has shown it."""

    def __init__(self, url: str, page: str, query: str):
        self.ws_url = url.replace("http", "ws", 1) + "/_stcore/stream"
        self.page, self.query = page, query
        self.page_hash = ""
        self.sliders: dict[str, tuple[str, str]] = {}      # label -> (widget id, fragment id)
        self.exceptions: list[str] = []
        self.bytes = 0
        self.ws = None

    async def connect(self) -> None:
        """Open the websocket (within 60 s; a student who cannot connect counts as an unfinished page)."""
        try:
            self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=2**28,
                                               open_timeout=60, ping_interval=None)
        except (OSError, TimeoutError, websockets.InvalidHandshake):
            self.ws = None

    async def run(self, widget: tuple[str, str, int] | None = None, timeout: float = PAGE_TIMEOUT_S):
        """Send one rerun (a page load, or a slider moved to a value) and wait for the page to finish.

        Returns the seconds it took, or None when it did not finish within ``timeout``.
        """
        msg = BackMsg()
        rs = msg.rerun_script
        rs.query_string, rs.page_name, rs.page_script_hash = self.query, self.page, self.page_hash
        if widget is not None:
            wid, frag, value = widget
            ws = rs.widget_states.widgets.add()
            ws.id = wid
            ws.double_array_value.data.append(float(value))
            if frag:
                rs.fragment_id = frag
        if self.ws is None:
            return None
        t0 = time.perf_counter()
        try:
            await self.ws.send(msg.SerializeToString())
            await asyncio.wait_for(self._until_finished(), timeout)
        except (TimeoutError, websockets.ConnectionClosed):
            return None
        return time.perf_counter() - t0

    async def _until_finished(self) -> None:
        while True:
            data = await self.ws.recv()
            self.bytes += len(data)
            fm = ForwardMsg()
            fm.ParseFromString(data)
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fm.new_session.page_script_hash
            elif kind == "navigation":                     # st.navigation: the page's own hash (a fragment
                self.page_hash = fm.navigation.page_script_hash  # rerun with app.py's hash ran the default page)
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                what = el.WhichOneof("type")
                if what == "slider":
                    self.sliders[el.slider.label] = (el.slider.id, fm.delta.fragment_id)
                elif what == "exception":
                    self.exceptions.append(f"{el.exception.type}: {el.exception.message}"[:300])
            elif kind == "script_finished" and fm.script_finished != EARLY_FOR_RERUN:
                return

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def rerun_message(s: Student) -> bytes:
    """A page request for the student's page and link, as bytes to send without waiting for the page."""
    msg = BackMsg()
    msg.rerun_script.query_string, msg.rerun_script.page_name = s.query, s.page
    return msg.SerializeToString()


def summary(times: list, n_asked: int) -> dict:
    """p50/p95/max seconds (nearest rank) over the finished pages, and how many did not finish."""
    done = sorted(t for t in times if t is not None)
    pick = (lambda q: round(done[max(0, math.ceil(q * len(done)) - 1)], 3)) if done else (lambda q: None)
    return {"n": n_asked, "p50_s": pick(0.5), "p95_s": pick(0.95), "max_s": round(done[-1], 3) if done else None,
            "unfinished": n_asked - len(done)}


