"""The class models' report: label accuracy by the judge, Fréchet distance against the floor, memorisation,
and the sampler × steps table; `evaluate` runs it for the zoo, `merge_reports` joins runs.
"""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from diffviz.diffusion import defaults
from diffviz.evaluation import judge
from diffviz.evaluation.generation import DRAW_STRIDE, draw_seeds, generate
from diffviz.evaluation.metrics import (
    frechet_distance,
    mean_std,
    memorisation_share,
    nn_distances,
)
from diffviz.evaluation.progress import log
from diffviz.evaluation.reference import (
    Reference,
    fd_floor,
    reference,
    reference_memorisation,
)
from diffviz.model import checkpoint, zoo

TABLE = (("ddim", 10), ("ddim", 25), ("ddim", 50), ("ddpm", 100), ("ddpm", 250))


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
        log(progress, f"  {name} draw {d + 1}/{draws}: label accuracy {s['label_accuracy']:.1%}, "
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
        log(progress, f"  {name} {sampler} {steps}: label accuracy {s['label_accuracy']:.1%}, FD {s['fd']:.2f}")
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
            from diffviz.evaluation import captions
            r = captions.evaluate_text_model(model, n=n_text, seed=seed, sampler=sampler, steps=steps,
                                                    guidance=g, batch=batch, attn_captions=attn_captions,
                                                    progress=progress, name=name)
            report.setdefault("text_models", {})[name] = r
            continue
        if ref is None:
            j = judge.load_judge(device=device)
            report["judge"] = {"held_accuracy": j.meta.get("accuracy"), "feature_dim": judge.FEATURE_DIM,
                               "command": j.meta.get("command")}
            log(progress, "reference: held-out features and nearest-neighbour distances ...")
            ref = reference(data)
            floor = fd_floor(ref, n_per_digit, draws, j)
            report["reference"] = {"fd_floor": floor, "memorisation": reference_memorisation(ref)}
            log(progress, f"FD floor (real vs held-out): {floor['mean']:.2f} ± {floor['std']:.2f}")
        log(progress, f"{name}: {draws} draw(s) of {10 * n_per_digit} samples, {sampler} {steps}, guidance {g}")
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
