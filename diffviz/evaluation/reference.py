"""What samples are compared with: the real digits' judge features, the Fréchet floor of real data,
and the memorisation threshold.
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
