"""Does bfloat16 inference pay on this CPU? The U-Net's forward time in float32 and bf16, and what bf16
does to the pictures: the judge's accuracy on generated digits and the PSNR against float32.

    python benchmarks/bf16.py                           # batch 2 and 60, 10 digits x 10 seeds, DDIM 25
    python benchmarks/bf16.py --per-digit 3 --repeats 5 # shorter

bf16 here is ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the U-Net (weights stay float32,
matrix products and convolutions run in bf16; the sampler's arithmetic stays float32), the way
`diffviz-evaluate --bf16` and `diffviz-train --bf16` use it. It pays only where the CPU computes
bf16 natively (AVX-512 BF16 or AMX); elsewhere oneDNN converts every operand and is slower.
Prints one JSON object; timings depend on the machine's load (``uptime`` is reported with them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from diffviz.diffusion import defaults, sampling
from diffviz.evaluation import judge
from diffviz.model import zoo


def cpu_bf16() -> dict:
    """The CPU's bf16-related flags (from /proc/cpuinfo) and what torch makes of the CPU."""
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return {"flags": {f: f in flags for f in wanted}, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": "avx512_bf16" in flags or "amx_bf16" in flags}


def _load_avg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@torch.inference_mode()
def forward_ms(model, batch: int, bf16: bool, repeats: int) -> dict:
    """Median milliseconds of one U-Net forward pass at ``batch`` rows (after one warm-up), and per row."""
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    cond = sampling.encode_conditions(model, [i % 10 for i in range(batch)])
    times = []
    for k in range(repeats + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(x, t, cond)
        if k:
            times.append((time.perf_counter() - t0) * 1000)
    ms = statistics.median(times)
    return {"ms": round(ms, 2), "ms_per_row": round(ms / batch, 3)}


def digits(model, per_digit: int, steps: int, bf16: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """per_digit seeds of every digit 0-9 sampled at once (DDIM, the app's guidance): (images, labels, seconds)."""
    labels = np.repeat(np.arange(10), per_digit)
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        x = sampling.sample(model, labels.tolist(), sampler="ddim", steps=steps, guidance=defaults.GUIDANCE,
                            seeds=[1000 + i for i in range(len(labels))])
    return x.astype(np.float32), labels, time.perf_counter() - t0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of b against a, pictures in [-1, 1] (peak-to-peak 2)."""
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else round(10 * np.log10(4.0 / mse), 2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mnist")
    ap.add_argument("--batches", default="2,60", help="forward batch sizes, comma-separated")
    ap.add_argument("--repeats", type=int, default=10, help="timed forwards per batch size and precision")
    ap.add_argument("--per-digit", type=int, default=10, help="generated digits per label for the judge")
    ap.add_argument("--steps", type=int, default=defaults.STEPS)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, a.threads))
    model, _ = zoo.load(a.model)
    report = {"cpu": cpu_bf16(), "model": a.model, "threads": torch.get_num_threads(), "load_before": _load_avg(),
              "forward": {}}
    for b in (int(v) for v in a.batches.split(",")):
        report["forward"][f"batch_{b}"] = {name: forward_ms(model, b, name == "bf16", max(1, a.repeats))
                                           for name in ("fp32", "bf16")}
    x32, labels, s32 = digits(model, a.per_digit, a.steps, False)
    x16, _, s16 = digits(model, a.per_digit, a.steps, True)
    net = judge.load_judge()
    read32, read16 = judge.classify(x32, net), judge.classify(x16, net)
    report["digits"] = {
        "n": len(labels), "sampler": f"ddim {a.steps} steps, guidance {defaults.GUIDANCE}",
        "seconds": {"fp32": round(s32, 2), "bf16": round(s16, 2)},
        "judge_accuracy": {"fp32": round(float((read32 == labels).mean()), 3),
                           "bf16": round(float((read16 == labels).mean()), 3)},
        "same_reading_share": round(float((read32 == read16).mean()), 3),
        "psnr_bf16_vs_fp32_db": psnr(x32, x16),
        "max_abs_diff": round(float(np.abs(x32 - x16).max()), 4)}
    report["load_after"] = _load_avg()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
