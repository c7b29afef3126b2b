"""benchmarks/classroom.py: its statistics, its memory reading, and one tiny class against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.students import Server, Student, rerun_message, rss_mb, summary


def test_summary_nearest_rank_and_unfinished():
    times = [0.1 * k for k in range(1, 21)] + [None, None]          # 20 finished, 2 did not
    s = summary(times, len(times))
    assert s["n"] == 22 and s["unfinished"] == 2
    assert s["p50_s"] == 1.0 and s["p95_s"] == 1.9 and s["max_s"] == 2.0
    assert summary([None], 1) == {"n": 1, "p50_s": None, "p95_s": None, "max_s": None, "unfinished": 1}


def test_rss_counts_the_children_too():
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(80 * 2**20); time.sleep(30)"])
    try:
        time.sleep(1.0)
        alone = rss_mb(child.pid)
        with_me = rss_mb(os.getppid())                                # pytest's parent holds pytest, which holds the child
        assert alone > 80 and with_me > alone
    finally:
        child.kill()
        child.wait()
    assert rss_mb(None) is None


@pytest.mark.slow
def test_a_run_left_behind_stops_and_a_class_of_two_finishes_its_pages(tmp_path, monkeypatch):
    """One real server: a run whose student leaves, or asks again, stops between two steps; the same
    link asked again goes on from there; then the benchmark's class of two finishes its pages."""
    log = tmp_path / "server.log"
    monkeypatch.setenv("CLASSROOM_LOG", str(log))
    monkeypatch.setenv("DIFFVIZ_TRACE_RUNS", "1")
    monkeypatch.setenv("DIFFVIZ_TORCH_THREADS", "1")      # 2 threads on a busy machine: 1 s a pass (spin-waits)
    server = Server()
    try:
        asyncio.run(_left_behind(server.url, log))
        proc = subprocess.run([sys.executable, "benchmarks/classroom.py", "same", "--clients", "2", "--rounds", "1",
                               "--url", server.url, "--pid", str(server.proc.pid)],
                              cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout)["results"]["same"]
    assert r["n"] == 2 and r["unfinished"] == 0 and r["exceptions"] == 0
    assert r["p95_s"] > 0 and r["rounds"][0]["rss_mb"] > 100 and r["payload_kb_per_page"] > 1


async def _left_behind(url: str, log: Path) -> None:
    async def seen(event: str, seed: int, timeout: float = 120.0) -> int:
        """Wait for ``diffviz-run EVENT STEPS model seeds=SEED`` in the server's log; its steps done."""
        end = time.time() + timeout
        while time.time() < end:
            for line in log.read_text().splitlines():
                w = line.split()
                if w[:2] == ["diffviz-run", event] and w[-1] == f"seeds={seed}":
                    return int(w[2])
            await asyncio.sleep(0.02)
        raise AssertionError(f"no “{event}” for seed {seed} in the server's log:\n{log.read_text()[-3000:]}")

    long = "sampler=ddpm&steps=100&seed="                 # 100 passes: a second on a quiet machine
    a = Student(url, "denoise", long + "901")             # asks for a long run, leaves 0.1 s into it
    await a.connect()
    await a.ws.send(rerun_message(a))
    await seen("started", 901)
    await asyncio.sleep(0.1)
    await a.close()
    done = await seen("stopped", 901)
    assert done < 100
    b = Student(url, "denoise", long + "901")             # the same link later: the run goes on from there
    await b.connect()
    assert await b.run() is not None and not b.exceptions
    assert await seen("resumed", 901) == done and await seen("finished", 901) == 100
    await b.close()
    c = Student(url, "denoise", long + "902")             # asks, and asks again mid-run (a reload, a flood)
    await c.connect()
    await c.ws.send(rerun_message(c))
    await seen("started", 902)
    assert await c.run() is not None and not c.exceptions
    assert await seen("finished", 902) == 100
    runs = [w[1:3] for w in map(str.split, log.read_text().splitlines())
            if w[:1] == ["diffviz-run"] and w[-1] == "seeds=902"]
    assert [e for e, _ in runs] in (["started", "finished"], ["started", "stopped", "resumed", "finished"]), runs
    assert len({n for e, n in runs if e in ("stopped", "resumed")}) <= 1   # computed once: nothing thrown away
    await c.close()
