"""The one Streamlit-aware module: the shared sidebar, permalink state, cached model and runs.

Every widget that matters is bound to a query parameter of the same name, so the address bar
always holds the whole view: a teacher copies it, a student opening it sees the same images.
Values from the address are parsed, validated and clamped; a bad one gives a short notice and
falls back to its default. Nothing from the address is ever rendered as HTML, and text from it
is escaped before it reaches Markdown (no links or images can be smuggled in).
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
    where.dataframe(data, hide_index=True, width="stretch")
    return True
