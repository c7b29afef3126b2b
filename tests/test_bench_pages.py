"""benchmarks/pages.py runs and prints what it promises (one cheap page, one rerun)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_page_benchmark_runs_and_prints_json():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "benchmarks/pages.py", "--only", "overview", "--repeats", "1", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    res = json.loads(lines[0])
    assert res["targets"] == {"first_s": 2.0, "rerun_s": 0.15} and res["repeats"] == 1
    (page,) = res["pages"]
    assert page["page"] == "overview" and not page["exceptions"]
    assert page["first_s"] > 0 and page["first_ratio"] == round(page["first_s"] / 2.0, 3)
    if page["widget"] is not None:
        assert len(page["reruns"]) == 1 and page["rerun_s"] > 0
