"""benchmarks/classroom.py: its statistics, its memory reading, and one tiny class against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.students import rss_mb, summary


def test_summary_nearest_rank_and_unfinished():
    times = [0.1 * k for k in range(1, 21)] + [None, None]          # 20 finished, 2 did not
    s = summary(times, len(times))
    assert s["n"] == 22 and s["unfinished"] == 2
    assert s["p50_s"] == 1.0 and s["p95_s"] == 1.9 and s["max_s"] == 2.0
    assert summary([None], 1) == {"n": 1, "p50_s": None, "p95_s": None, "max_s": None, "unfinished": 1}


def test_rss_counts_the_children_too():
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(80 * 2**20); time.sleep(30)"])
    try:
        import time
        time.sleep(1.0)
        alone = rss_mb(child.pid)
        with_me = rss_mb(os.getppid())                                # pytest's parent holds pytest, which holds the child
        assert alone > 80 and with_me > alone
    finally:
        child.kill()
        child.wait()
    assert rss_mb(None) is None


@pytest.mark.slow
def test_a_class_of_two_finishes_its_pages():
    proc = subprocess.run([sys.executable, "benchmarks/classroom.py", "same", "--clients", "2", "--rounds", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout)["results"]["same"]
    assert r["n"] == 2 and r["unfinished"] == 0 and r["exceptions"] == 0
    assert r["p95_s"] > 0 and r["rounds"][0]["rss_mb"] > 100 and r["payload_kb_per_page"] > 1
