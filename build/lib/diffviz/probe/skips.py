"""What each decoder level's two inputs carry over a run: the skip (from the encoder) and the backbone (from below).

May import `diffviz.probe.readings` and below.
"""

from __future__ import annotations

from diffviz.probe import readings


def skip_backbone_summary(traces: dict, levels: int, cut: float = 0.5) -> dict:
    """Per level k and part ("skip" | "backbone"): the share of energy above `cut` ("high") and the RMS ("rms")
    at every captured step, keyed (k, part, "high" | "rms") -> (S,) arrays. Needs the captures
    ``decoder.{k}.skip`` and ``decoder.{k}.upsample`` of every step."""
    out = {}
    for k in range(levels):
        for part, key in (("skip", f"decoder.{k}.skip"), ("backbone", f"decoder.{k}.upsample")):
            x = readings.stack_steps(traces, key)                    # (S, C, H, W)
            out[(k, part, "high")] = readings.high_shares(x, cut)
            out[(k, part, "rms")] = readings.level_stats(traces, key)["rms"]
    return out
