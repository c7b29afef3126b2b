"""The metrics: Fréchet distance between feature sets, nearest-neighbour distances, memorisation share.
"""

from __future__ import annotations

import numpy as np
import torch

# ---------------------------------------------------------------- metrics

def feature_stats(f) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need features (N >= 2, D), got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_from_stats(mu1, cov1, mu2, cov2) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), the Fréchet distance between two Gaussians.

    tr (Σ1 Σ2)^½ is computed as Σ √λ of the symmetric Σ1^½ Σ2 Σ1^½ (same eigenvalues), which
    stays real and stable for the rank-deficient covariances of small sample sets.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    r = _psd_sqrt(cov1)
    m = r @ cov2 @ r
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = mu1 - mu2
    return float(max(d @ d + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt, 0.0))


def frechet_distance(f1, f2) -> float:
    """Fréchet distance between two feature sets (N1, D) and (N2, D)."""
    return frechet_from_stats(*feature_stats(f1), *feature_stats(f2))


def nn_distances(a, b, exclude_self: bool = False, chunk: int = 1000) -> np.ndarray:
    """Pixel-space L2 distance from each image of ``a`` to its nearest image in ``b``: (len(a),).

    exclude_self: ``a`` is ``b`` and an image's distance to itself does not count.
    """
    a = torch.as_tensor(np.asarray(a, np.float32)).reshape(len(a), -1)
    b = torch.as_tensor(np.asarray(b, np.float32)).reshape(len(b), -1)
    out = []
    for i in range(0, len(a), chunk):
        d = torch.cdist(a[i:i + chunk], b)
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + i] = float("inf")
        out.append(d.min(dim=1).values)
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def memorisation_share(distances, threshold: float) -> float:
    """Share of nearest-training-digit distances below ``threshold``."""
    return float((np.asarray(distances) < threshold).mean())


def mean_std(values) -> dict:
    """Mean, sample standard deviation and count of a list of draws."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "draws": [float(x) for x in v]}
