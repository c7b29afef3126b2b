"""Measure the "bring your own digit" readings on the 500 held-out digits: DDIM inversion and the zero-shot reading.

    diffviz-digit-eval                      # everything, JSON on stdout (several minutes on 2 cores)
    diffviz-digit-eval --limit 50 --skip-inversion

Inversion: plain (one U-Net call per step) and improved (fixed-point iterations per step, seeded
white start), at 25 and 50 steps, conditioned on the true label with no guidance; the median
reconstruction PSNR and the statistics of x_T. Zero-shot: accuracy and seconds per digit of
`diffviz.evaluation.zero_shot.classify` beside the judge's accuracy on the same digits, with the
U-Net's cost per row measured in the same run (the machine is shared: compare within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
import torch

from diffviz.data.digits import mnist
from diffviz.diffusion import inversion
from diffviz.evaluation import judge, zero_shot
from diffviz.model import zoo


def held_out(limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits, or ``limit`` of them spread evenly (every k-th)."""
    x, y = mnist("held")
    if limit and limit < len(x):
        pick = np.linspace(0, len(x) - 1, limit).round().astype(int)
        x, y = x[pick], y[pick]
    return x, y


def _r(v, n=3):
    return round(float(v), n)


def measure_inversion(model, x, y, steps: int, iterations: int, noise_seed, schedule: str) -> dict:
    """Invert and reconstruct every digit; PSNR and x_T statistics."""
    t0 = time.perf_counter()
    inv = inversion.invert(model, x, y.tolist(), steps, iterations, noise_seed, schedule, check=False)
    t1 = time.perf_counter()
    rec = inversion.reconstruct(model, inv.x_T, y.tolist(), steps, schedule)
    t2 = time.perf_counter()
    p = inversion.psnr(rec, x)
    g = inversion.gaussian_stats(inv.x_T)
    return {"steps": steps, "iterations": iterations, "white_start": noise_seed is not None,
            "psnr_median_db": _r(np.median(p), 2), "psnr_min_db": _r(p.min(), 2),
            "psnr_p10_db": _r(np.percentile(p, 10), 2),
            "x_T_std_median": _r(np.median(g["std"])), "x_T_std_range": [_r(g["std"].min()), _r(g["std"].max())],
            "x_T_lag1_correlation_median": _r(np.median(g["lag1_correlation"])),
            "model_calls_per_digit": {"invert": inv.model_calls, "reconstruct": steps},
            "seconds_per_digit": {"invert": _r((t1 - t0) / len(x), 4), "reconstruct": _r((t2 - t1) / len(x), 4)}}


def row_cost_ms(model, bf16: bool, rows: int = zero_shot.CHUNK, reps: int = 5) -> float:
    """Milliseconds per U-Net row (one image, one t, one label) in a batch of ``rows``: the machine's speed now (best of ``reps``)."""
    x = torch.randn(rows, 1, model.config.image_size, model.config.image_size)
    t, c = torch.full((rows,), 300), torch.zeros(rows, dtype=torch.long)
    best = float("inf")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        model(x, t, c)
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x, t, c)
            best = min(best, time.perf_counter() - t0)
    return best / rows * 1000


def measure_zero_shot(model, x, y, schedule: str, bf16: bool) -> dict:
    """Accuracy and cost of the zero-shot reading (the shipped staged policy), the judge's accuracy on the same digits."""
    before, load0 = row_cost_ms(model, bf16), os.getloadavg()[0]
    t0 = time.perf_counter()
    r = zero_shot.classify(model, x, schedule=schedule, bf16=bf16)
    secs = time.perf_counter() - t0
    after, load1 = row_cost_ms(model, bf16), os.getloadavg()[0]
    first = r.mean_errors(first_only=True).argmin(1)
    return {"precision": "bfloat16" if bf16 else "float32", "readings": r.labels.tolist(),
            "accuracy": _r((r.labels == y).mean(), 4), "seconds_per_digit": _r(secs / len(x), 4),
            "unet_rows_per_digit": _r(r.model_calls.mean(), 1),
            "policy": [{"probes_t:draw": " ".join(f"{t}:{d}" for t, d in s.probes), "labels": s.keep,
                        "if_margin_below": s.margin if np.isfinite(s.margin) else None} for s in zero_shot.POLICY],
            "digits_per_stages": {str(k): int((r.stages == k).sum()) for k in range(1, len(zero_shot.POLICY) + 1)},
            "first_stage_only_accuracy": _r((first == y).mean(), 4),
            f"unet_ms_per_row_batch{zero_shot.CHUNK}_before_after": [_r(before, 2), _r(after, 2)],
            "load_average_1min_before_after": [_r(load0, 2), _r(load1, 2)],
            "judge_accuracy": _r(judge.accuracy(x, y), 4), "digits": len(x)}


def main(argv=None) -> int:
    """diffviz-digit-eval: inversion PSNR and the zero-shot reading on the 500 held-out digits, as JSON."""
    p = argparse.ArgumentParser(prog="diffviz-digit-eval", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist", help="a class-conditional registry model (default mnist)")
    p.add_argument("--limit", type=int, default=None, help="only this many held-out digits, spread evenly")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--iterations", type=int, default=2, help="fixed-point iterations per step of the improved inversion")
    p.add_argument("--steps", type=int, nargs="+", default=[25, 50])
    p.add_argument("--skip-inversion", action="store_true")
    p.add_argument("--skip-zero-shot", action="store_true")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16", "both"), default="auto",
                   help="the zero-shot reading's U-Net precision; auto (what the app uses): bfloat16 where the CPU "
                        "has it natively, else float32; both: run it twice and count the digits read differently")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, meta = zoo.load(a.model, "cpu")
    if model.config.conditioning != "class":
        p.error(f"{a.model} is not conditioned on class labels")
    schedule = str((meta.get("args") or {}).get("schedule", "linear"))
    x, y = held_out(a.limit)
    out = {"command": "diffviz-digit-eval " + shlex.join(sys.argv[1:] if argv is None else argv),
           "model": a.model, "digits": len(x), "threads": a.threads,
           "machine": f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}"}
    if not a.skip_inversion:
        out["inversion"] = [measure_inversion(model, x, y, s, it, seed, schedule)
                            for s in a.steps for it, seed in ((0, None), (a.iterations, 0))]
    if not a.skip_zero_shot:
        out["native_bf16"] = zoo.native_bf16("cpu")
        kinds = {"auto": [out["native_bf16"]], "float32": [False], "bfloat16": [True], "both": [True, False]}[a.precision]
        runs = [measure_zero_shot(model, x, y, schedule, bf16) for bf16 in kinds]
        out["zero_shot"] = runs[0]
        if len(runs) == 2:
            out["zero_shot_float32"] = runs[1]
            out["digits_read_differently_bf16_vs_fp32"] = int(np.sum(np.array(runs[0]["readings"]) != runs[1]["readings"]))
        for run in runs:
            del run["readings"]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
