import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import require

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_prints_one_sane_json_object():
    require("diffusers")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "diffviz.cli.bench", "--json", "--quick", "--threads", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    res = json.loads(lines[0])
    for key in ("params", "forward_ms", "trajectory_s", "trajectory_capture_s", "capture_overhead",
                "captured_mb_per_step", "peer_forward_ratio", "device", "threads", "weights"):
        assert key in res, key
    assert res["params"] > 1_000_000 and res["threads"] == 1 and res["device"] == "cpu"
    assert res["steps"] == 5 and res["repeats"] == 1 and res["guidance"] == 2.0
    for key in ("forward_ms", "trajectory_s", "trajectory_capture_s", "capture_overhead", "captured_mb_per_step",
                "peer_forward_ratio"):
        assert isinstance(res[key], (int, float)) and res[key] > 0, key
    assert abs(res["capture_overhead"] - res["trajectory_capture_s"] / res["trajectory_s"]) < 0.01
    # a full capture of the mnist U-Net (conditional half, batch 1) is well under a few MB per step
    assert 0.05 < res["captured_mb_per_step"] < 5
    assert res["weights"].startswith(("shipped", "random"))


def test_defaults_module():
    from diffviz.diffusion import defaults
    from diffviz.evaluation import speed
    assert defaults.SAMPLER in ("ddim", "ddpm") and 1 <= defaults.STEPS <= 1000 and defaults.GUIDANCE >= 1.0
    assert isinstance(defaults.SEED, int) and 0 <= defaults.LABEL <= 9
    assert speed.DEFAULT_GUIDANCE == defaults.GUIDANCE == 2.0 and speed.STEPS == 50
