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

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from diffviz.evaluation import judge
from diffviz.evaluation.metrics import (
    frechet_distance,
    mean_std,
    memorisation_share,
    nn_distances,
)

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
    from diffviz.data.digits import mnist
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
    """The memorisation threshold and the share real held-out digits reach (the reference for samples)."""
    return {"threshold": ref.threshold,
            "threshold_what": "median pixel-L2 distance from a training digit to its nearest other training digit",
            "held_out_share": memorisation_share(ref.held_nn, ref.threshold),
            "class_thresholds": [float(t) for t in ref.class_thresholds],
            "held_out_share_class_threshold": float((ref.held_nn < ref.class_thresholds[ref.held_y]).mean()),
            "held_out_median_nn": float(np.median(ref.held_nn))}
