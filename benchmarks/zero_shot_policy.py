"""Choose the zero-shot reading's staged policy on digits it is not reported on.

    python benchmarks/zero_shot_policy.py --part train --limit 300 --cache /tmp/zs-train.npz
    python benchmarks/zero_shot_policy.py --part held --cache /tmp/zs-held.npz      # the same on the 500 held-out

Computes every (digit, label, probe) error once: all 10 labels at every noise level t = 300…650 (step
50) and noise draw 0…3 (one `zero_shot.classify` stage with every probe), then replays candidate
policies on that table (`zero_shot.replay`, tested equal to running them): all labels at a few levels
(draw 0); digits whose margin is below θ1 go on with their ``keep`` best labels to more draws; those
still below θ2 to more again. Prints JSON: each policy's accuracy and U-Net rows per digit (its cost:
rows × the machine's ms per row), the cheapest policy per accuracy first (the frontier).
"""

from __future__ import annotations

import argparse
import itertools
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
from diffviz.evaluation.zero_shot import Stage, _grid  # noqa: E402
from diffviz.model import zoo  # noqa: E402

LEVELS, DRAWS = tuple(range(300, 651, 50)), (0, 1, 2, 3)
FIRST = {"400-600": (400, 500, 600), "300-600": (300, 400, 500, 600), "350-650": (350, 450, 550, 650)}
MID = (350, 400, 450, 500, 550, 600)                                     # where single probes read best


def policies():
    """Candidate policies: (name, policy)."""
    for (fname, first), keep, th1, th2 in itertools.product(
            FIRST.items(), (2, 3, 4), (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, np.inf),
            (0.0, 0.02, 0.04, 0.06, 0.1, 0.15, 0.2, np.inf)):
        rest = tuple(t for t in MID if t not in first)
        pol = (Stage(_grid(first, [0])),
               Stage(_grid(rest, [0]) + _grid(MID, [1]), keep=keep, margin=th1),
               Stage(_grid(MID, [2, 3]), keep=min(keep, 2), margin=th2))
        yield f"all at {fname} | <{th1}: best {keep} at +{len(rest) + len(MID)} | <{th2}: best {min(keep, 2)} at +12", pol


def table(part: str, limit: int, cache: str, threads: int):
    """(errors (B, 10, P), labels (B,), ts (P,), draws (P,)) for ``limit`` digits of ``part`` spread evenly."""
    if cache and Path(cache).exists():
        z = np.load(cache)
        return z["errors"], z["y"], z["ts"], z["draws"]
    torch.set_num_threads(threads)
    x, y = mnist(part)
    pick = np.linspace(0, len(x) - 1, min(limit, len(x))).round().astype(int)
    model, meta = zoo.load("mnist", "cpu")
    schedule = str((meta.get("args") or {}).get("schedule", "linear"))
    r = zero_shot.classify(model, x[pick], policy=(Stage(_grid(LEVELS, DRAWS)),), schedule=schedule)
    if cache:
        np.savez_compressed(cache, errors=r.errors, y=y[pick], ts=r.ts, draws=r.draws)
    return r.errors, y[pick], r.ts, r.draws


def main(argv=None) -> int:
    """Print each policy's accuracy and rows per digit on the chosen digits, as JSON (frontier first)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("train", "held"), default="train")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", default="", help="an .npz to keep the error table in (reused when present)")
    a = p.parse_args(argv)
    errors, y, ts, draws = table(a.part, a.limit, a.cache, a.threads)
    rows = []
    for name, pol in itertools.chain([("shipped (zero_shot.POLICY)", zero_shot.POLICY)], policies()):
        r = zero_shot.replay(errors, ts, draws, pol)
        rows.append({"policy": name, "rows_per_digit": round(float(r.model_calls.mean()), 1),
                     "accuracy": round(float((r.labels == y).mean()), 4), "wrong": int((r.labels != y).sum())})
    frontier, best = [], -1.0
    for row in sorted(rows[1:], key=lambda r: (r["rows_per_digit"], -r["accuracy"])):
        if row["accuracy"] > best:
            frontier.append(row)
            best = row["accuracy"]
    full = zero_shot.replay(errors, ts, draws, (Stage(_grid(MID, DRAWS)),))
    print(json.dumps({"part": a.part, "digits": len(y), "shipped": rows[0], "frontier": frontier,
                      "every_label_at_every_mid_probe": round(float((full.labels == y).mean()), 4),
                      "policies": rows[1:]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
