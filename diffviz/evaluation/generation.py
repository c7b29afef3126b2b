"""Samples for the evaluation, in batches, with seeds that never repeat between draws.
"""

from __future__ import annotations

import numpy as np
import torch

from diffviz.diffusion import sampling
from diffviz.evaluation.progress import BF16

DRAW_STRIDE = 100_000          # draw d, sample i uses seed  seed + d * DRAW_STRIDE + i


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
    """Seeds of draw `draw`: sample i uses seed + draw * DRAW_STRIDE + i (draws never share a seed)."""
    return [seed + draw * DRAW_STRIDE + i for i in range(n)]
