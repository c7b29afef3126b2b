"""The measured-quality table of the shipped models (models/evaluation.json), with each column explained.
"""

from __future__ import annotations

import threading

import numpy as np
import streamlit as st

from diffviz.model import zoo

EVALUATION = zoo.MODELS_DIR / "evaluation.json"
_EVAL = {"mtime": None, "data": None}
_EVAL_LOCK = threading.Lock()


def evaluation() -> dict:
    """The measured quality table (``models/evaluation.json``, re-read when it changes); {} when absent."""
    import json
    try:
        mtime = EVALUATION.stat().st_mtime
    except OSError:
        return {}
    with _EVAL_LOCK:
        if _EVAL["mtime"] != mtime:
            try:
                _EVAL["data"] = json.loads(EVALUATION.read_text())
            except (OSError, ValueError):
                _EVAL["data"] = {}
            _EVAL["mtime"] = mtime
        return _EVAL["data"] or {}


def quality(name: str) -> dict[str, str] | None:
    """A model's measured quality as {measure: readable value}, or None when not measured yet."""
    table = evaluation()
    m = (table.get("models") or {}).get(name)
    if isinstance(m, dict) and isinstance(m.get("label_accuracy"), dict):
        la, fd, mem = m["label_accuracy"], m.get("fd") or {}, m.get("memorisation") or {}
        out = {"label accuracy": f"{la['mean']:.1%} ± {la.get('std', 0):.1%}"}
        if "mean" in fd:
            ratio = fd.get("ratio_to_floor")
            out["Fréchet distance (lower = better)"] = f"{fd['mean']:.2f} ± {fd.get('std', 0):.2f}" + (
                f" ({ratio:.1f}× real digits)" if ratio else "")
        if "mean" in mem:
            out["memorised"] = f"{mem['mean']:.1%}"
        cfg = m.get("settings") or {}
        if cfg:
            out["measured with"] = (f"{str(cfg.get('sampler', '')).upper()} {cfg.get('steps', '')} steps, "
                                    f"w = {cfg.get('guidance', '')}, {cfg.get('draws', '')} × "
                                    f"{10 * int(cfg.get('n_per_digit', 0) or 0)} samples")
        return out
    t = (table.get("text_models") or {}).get(name)
    if isinstance(t, dict) and "missing" not in t and "one_shape_full_match" in t:
        def pct(v):
            return "–" if v is None else f"{v:.1%}"
        out = {"one shape drawn exactly": pct(t.get("one_shape_full_match")),
               "two shapes drawn exactly": pct(t.get("two_shapes_full_match"))}
        ca = t.get("cross_attention") or {}

        def mid_late(part):        # colour and shape words averaged, all blocks: "82% / 84%"
            return " / ".join(f"{np.mean([ca[part][tok][r]['all'] for tok in ('colour', 'shape')]):.0%}"
                              for r in ("mid", "late"))
        try:
            out["colour & shape words' attention on their shape (mid / late t)"] = (
                f"{mid_late('shares')} (uniform {ca['baseline']:.0%})")
            out["weight the shape's pixels give each of those words (mid / late t)"] = mid_late("weights")
        except (KeyError, TypeError):
            pass
        return out
    return None


# What each column of the quality table measures, and how (the table's tooltips; MODELS.md says the same).
HELP = {
    "model": "The shipped checkpoint (models/<name>.safetensors).",
    "label accuracy": "Share of samples the judge (a digit classifier trained only on real training digits, 99.2% "
                      "on held-out digits) reads as the digit that was asked for; mean ± std over 5 draws of "
                      "500 samples (50 per digit).",
    "Fréchet distance (lower = better)": "Distance between the samples and the 500 held-out real digits, as two "
                                         "Gaussians in the judge's 128-d feature space; in brackets: how many "
                                         "times the same distance for 500 real training digits (the floor).",
    "memorised": "Share of samples whose nearest training digit (pixel distance) is closer than two real training "
                 "digits typically are (their median nearest-neighbour distance). Real held-out digits score "
                 "50% by construction, so about half is normal, not a fault: far above it would mean copying.",
    "measured with": "Sampler, steps, guidance w and samples behind the numbers of this row.",
    "one shape drawn exactly": "Captions with one shape: share of images where the shapes checker finds that "
                               "shape with the right colour, size and position (and nothing else).",
    "two shapes drawn exactly": "Captions with two shapes: share of images where both are found with every "
                                "attribute right.",
    "colour & shape words' attention on their shape (mid / late t)": "Share of a colour or shape word's "
        "cross-attention that lies inside the generated shape, at mid and late sampling steps; uniform: the "
        "shape's share of the image.",
    "weight the shape's pixels give each of those words (mid / late t)": "Mean attention weight a pixel of the "
        "shape gives its colour or shape word (out of 1, split over every token of the caption).",
}


def quality_table(names: list[str], where=None) -> bool:
    """The measured quality of ``names`` side by side; "not measured yet" where the table has none.

    Returns whether any of them has been measured (a table was shown)."""
    where = where or st
    rows = {n: quality(n) for n in names}
    measures = list(dict.fromkeys(k for q in rows.values() if q for k in q))
    if not measures:
        where.caption("Measured quality: not measured yet for " + ", ".join(names) +
                      " (`python -m diffviz.cli.evaluate --out models/evaluation.json` writes the table).")
        return False
    data = {"model": names}
    for k in measures:
        data[k] = [(rows[n] or {}).get(k, "–") if rows[n] else "not measured yet" for n in names]
    config = {k: st.column_config.TextColumn(k, help=HELP.get(k)) for k in data}
    where.dataframe(data, hide_index=True, width="stretch", column_config=config)
    return True


def retrained_comparison(s, traj, src=None) -> None:
    """The skips page's last section: mnist next to mnist-noskip (and its same-budget partner) on the same
    seed, with their measured quality. ``traj``: the page's run of the sidebar's model (reused), or None;
    ``src``: the page's `sources.Source` (your drawing: each model repairs or inverts the same drawing)."""
    from diffviz.app import render, runs, sources
    from diffviz.figures import maps
    from diffviz.model import zoo
    choices = [n for n in ("mnist", "mnist-noskip", "mnist-step1500") if n in zoo.available()]
    st.subheader("Retrained without skips")
    if s.kind != "class":
        st.info("The retrained no-skip partner exists for the MNIST models: choose **mnist** in the "
                "sidebar's Model menu to compare them.", icon="ℹ️")
        return
    if "mnist-noskip" not in choices:
        st.info("The no-skip model (mnist-noskip) is not available yet.", icon="ℹ️")
        return
    st.markdown("Cutting a skip at inference time removes something the decoder was trained to rely on. "
                "A fairer question: can a U-Net **trained** without skips do as well? `mnist-noskip` is the "
                "same recipe with `use_skips=False`; `mnist-step1500` is the normal model trained by the very "
                "same command, for the same 1,500 steps (its fair partner).")
    panels = []
    for name in choices:
        final = traj.final[0] if name == s.model and traj is not None else (
            sources.trajectory(s, src, model=name) if src is not None else runs.trajectory(s, model=name)).final[0]
        meta = runs.load_model(name)[1]
        trained = meta.get("step", meta.get("steps"))                    # training steps behind the weights
        panels.append(maps.Panel(f"{name} · {trained:,} steps" if isinstance(trained, int) else name, final))
    title = {"drawing": f"The same drawing repaired from t = {getattr(src, 't0', None)}, same seed ({s.seed}), same "
                        "sampler", "inversion": f"The same drawing, inverted by each model and decoded back (seed {s.seed})"
             }.get(getattr(src, "kind", "noise"), f"Same seed ({s.seed}), same digit, same sampler")
    render.plot(maps.panel_row(panels, title=title, size=240),
            key="retrained")
    if "mnist-step1500" not in choices:
        st.caption("mnist-step1500 (the same-budget partner) is not available yet.")
    if quality_table(choices):
        st.caption("Measured over many samples by `python -m diffviz.cli.evaluate` (label accuracy by a digit "
                   "classifier trained on real digits; Fréchet distance to held-out digits): one image is an "
                   "example, the table is the evidence.")
