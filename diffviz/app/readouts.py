"""Sentences the attention page phrases from its measurements (the heads' entropies, the words' maps).

No Streamlit here: plain text from numbers, so a test can check the wording against the readings.
"""

from __future__ import annotations

import numpy as np

from diffviz.data import text
from diffviz.probe import claims


def habits_text(e, step: int, side: int, onto: str) -> str:
    """The prompt, phrased from this query's measured entropies (S, heads) on this run."""
    hb = claims.head_habits(e, step)
    return (f"move the query pixel (**Query x**, **Query y**) from the background onto {onto} and compare the "
            f"heads. Measured for the query now: at step {step} head {hb['focused']} is the most focused "
            f"({hb['focused_bits']:.2f} bits) and head {hb['spread']} the most spread ({hb['spread_bits']:.2f} "
            f"bits; looking everywhere equally: {np.log2(side * side):.2f} bits). Then drag **Show step** and "
            f"watch the entropy chart: over the run, head {hb['changing']} changes most, from "
            f"{hb['changing_lo']:.2f} to {hb['changing_hi']:.2f} bits.")


def word_focus(prompt: str, final, tokens: list[str], agg, xside: int, block: str) -> tuple[str | None, bool]:
    """A sentence measured on this run: how much of each word's attention (mean over all steps) lies on
    the first shape of the caption, found in the final image (None when the caption names no shape), and
    whether its position words got less weight than its colour and shape words."""
    from diffviz.evaluation.captions import shape_mask_from_image
    try:
        mask, _ = shape_mask_from_image(prompt, np.clip(final, -1, 1))
    except (ValueError, StopIteration, IndexError):
        return None, False
    small = claims.pooled(mask[None].astype(np.float32), xside) >= 0.5                 # (xside, xside)
    if not small.any():
        return None, False
    f = claims.token_focus(agg, small)
    kinds = {**{w: "colour" for w in text.COLOUR_WORDS}, **{w: "shape" for w in text.SHAPE_WORDS},
             **{w: "size" for w in text.SIZE_WORDS}, **{w: "position" for w in text.POSITION_WORDS}}
    first_and = tokens.index("and") if "and" in tokens else len(tokens)          # the first shape's phrase
    shown = [(w, f["share"][i], f["weight"][i]) for i, w in enumerate(tokens[:first_and]) if w in kinds]
    if not shown:
        return None, False
    parts = ", ".join(f"“{w}” {sh:.0%} (a shape pixel gives it {wt:.0%} of its attention)" for w, sh, wt in shown)
    pos = [wt for w, _, wt in shown if kinds[w] == "position"]
    what = [wt for w, _, wt in shown if kinds[w] in ("colour", "shape")]
    verdict, less = "", bool(pos and what and max(pos) < min(what))
    if pos and what:
        verdict = (f" The position words get {'less' if max(pos) < min(what) else 'about as much or more'} "
                   f"weight than the colour and shape words ({max(pos):.0%} at most vs {min(what):.0%} at least).")
    return (f"Measured on this run ({block}, mean over all steps): the share of each word's attention "
            f"that lies on the first shape, found in the final image ({small.mean():.0%} of the map; a word "
            f"that looked everywhere equally would have that share): {parts}.{verdict}"), less
