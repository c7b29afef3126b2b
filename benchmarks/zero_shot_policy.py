"""Choose the zero-shot reading's pruning (first round, labels kept) on digits it is not reported on.

    python benchmarks/zero_shot_policy.py --part train --limit 500      # tune on 500 training digits
    python benchmarks/zero_shot_policy.py --part held                    # the same table on the 500 held-out

Computes every (digit, label, level) error once (`zero_shot.classify` with no pruning), then replays
each policy on that table: all labels at ``first`` levels spread over the range, then only the
``keep`` best labels at the rest. A replayed reading is exactly what `classify(first=, keep=)` returns
(`zero_shot.replay`; tests/test_zero_shot.py checks it). Prints JSON: per policy, the
accuracy and the U-Net rows per digit (its cost: rows × the machine's ms per row).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from diffviz.data.digits import mnist  # noqa: E402
from diffviz.evaluation import zero_shot  # noqa: E402
from diffviz.model import zoo  # noqa: E402


def main(argv=None) -> int:
    """Print each pruning policy's accuracy and rows per digit on the chosen digits, as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("train", "held"), default="train")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", default="", help="an .npz to keep the error table in (reused when present)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    x, y = mnist(a.part)
    pick = np.linspace(0, len(x) - 1, min(a.limit, len(x))).round().astype(int)
    x, y = x[pick], y[pick]
    if a.cache and Path(a.cache).exists():
        errors = np.load(a.cache)["errors"]
    else:
        model, meta = zoo.load("mnist", "cpu")
        schedule = str((meta.get("args") or {}).get("schedule", "linear"))
        errors = zero_shot.classify(model, x, first=len(zero_shot.LEVELS), keep=10, schedule=schedule).errors
        if a.cache:
            np.savez_compressed(a.cache, errors=errors)
    rows = []
    for first in (2, 3, 4, 5, 6, 8, 12, 24):
        for keep in (1, 2, 3, 4):
            r = zero_shot.replay(errors, zero_shot.LEVELS, first, keep)
            rows.append({"first": first, "keep": keep, "rows_per_digit": round(float(r.model_calls.mean()), 1),
                         "accuracy": round(float((r.labels == y).mean()), 4)})
    print(json.dumps({"part": a.part, "digits": len(x), "levels": list(zero_shot.LEVELS), "policies": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
