"""How good are the shipped models? ``python -m diffviz.cli.evaluate --json``.

For every shipped MNIST model in the zoo, at the app's default sampler settings (`defaults`:
DDIM 50 steps; guidance = the zoo's default for the model):

* **label accuracy**: the judge (`diffviz.evaluation.judge`, a CNN trained only on real training digits)
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

Text models (``shapes``) are scored by `diffviz.evaluation.captions` and reported under
``"text_models"``. Everything is seeded: a rerun gives the same numbers on the same machine.
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
