"""Measurements behind the sentences that tell a learner what they will see.

Every "you should see" on a page is phrased from one of these readings, taken on the settings the
learner has (model, seed, image, step), so the sentence stays true when the settings change.
Plain numpy; may import `diffviz.diffusion` and below, never plotly or Streamlit.
"""

from __future__ import annotations

import numpy as np

# A picture "correlates" with another when Pearson's r over all its values is at least this much.
CLEAR, FAINT, GONE = 0.8, 0.5, 0.2


def correlation(a, b) -> float:
    """Pearson's r between two arrays of the same size (0 when either is constant)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def correlations(frames, ref) -> np.ndarray:
    """Pearson's r of every frame (N, ...) with ``ref`` (...): (N,)."""
    f = np.asarray(frames, np.float64).reshape(len(frames), -1)
    r = np.asarray(ref, np.float64).ravel()
    f = f - f.mean(axis=1, keepdims=True)
    r = r - r.mean()
    den = np.sqrt((f * f).sum(axis=1) * (r * r).sum())
    return np.where(den > 0, (f @ r) / np.where(den > 0, den, 1), 0.0)


def fading(x0, eps, alphas_cumprod) -> dict:
    """How x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε loses the picture: r(x_t, x0) for every t, and the first t at
    which r falls below CLEAR, FAINT and GONE (None when it never does)."""
    ab = np.asarray(alphas_cumprod, np.float64)                       # (T,)
    x0 = np.asarray(x0, np.float64).ravel()
    eps = np.asarray(eps, np.float64).ravel()
    x_t = np.sqrt(ab)[:, None] * x0[None] + np.sqrt(1 - ab)[:, None] * eps[None]   # (T, D)
    r = correlations(x_t, x0)

    def first_below(level):
        idx = np.flatnonzero(r < level)
        return int(idx[0]) if len(idx) else None
    return {"r": r, "clear_until": first_below(CLEAR), "faint_at": first_below(FAINT), "gone_at": first_below(GONE)}


def first_settled(frames, ref, level: float = 0.9) -> int | None:
    """The first index from which every frame correlates with ``ref`` by at least ``level`` (None: never)."""
    r = correlations(frames, ref)
    below = np.flatnonzero(r < level)
    if not len(below):
        return 0
    k = int(below[-1]) + 1
    return k if k < len(r) else None


def error_valley(ts, err, t_true: int, near: int = 100) -> dict:
    """Where an error curve over the told t is lowest, and whether that is within ``near`` of the truth."""
    ts, err = np.asarray(ts), np.asarray(err, np.float64)
    i = int(np.argmin(err))
    best = int(ts[i])
    j = int(np.argmin(np.abs(ts - t_true)))
    return {"best_t": best, "best_err": float(err[i]), "true_err": float(err[j]),
            "distance": abs(best - int(t_true)), "near": abs(best - int(t_true)) <= near}


def saturation(x, limit: float = 1.0) -> float:
    """The share of values beyond ±limit (a harsh, saturated image has many)."""
    x = np.asarray(x, np.float64)
    return float((np.abs(x) > limit).mean())


def pooled(image, side: int) -> np.ndarray:
    """An image (C, H, W) averaged over channels and pooled down to (side, side) (H a multiple of side)."""
    x = np.asarray(image, np.float64)
    x = x.mean(axis=0) if x.ndim == 3 else x
    f = x.shape[0] // side
    return x[: side * f, : side * f].reshape(side, f, side, f).mean(axis=(1, 3))


def follows_image(maps, final, level: float = 0.5) -> dict:
    """When a level's feature maps (S, C, h, w) start to follow the final image's layout: per step, the
    largest |r| of any channel with the image pooled to (h, w), and the first step from which it stays
    ≥ ``level`` (None: never)."""
    m = np.asarray(maps, np.float64)
    S, C = m.shape[:2]
    ref = pooled(final, m.shape[-1])
    r = np.abs(correlations(m.reshape(S * C, -1), ref)).reshape(S, C).max(axis=1)
    below = np.flatnonzero(r < level)
    k = 0 if not len(below) else int(below[-1]) + 1
    return {"r": r, "from_step": k if k < len(r) else None, "first_r": float(r[0]), "final_r": float(r[-1])}


def head_habits(entropy, step: int) -> dict:
    """From the entropies (S, heads) of one query's attention: the most focused and the most spread head
    at ``step``, and the head whose entropy changes most over the run (with its range)."""
    e = np.asarray(entropy, np.float64)
    now = e[step]
    span = e.max(axis=0) - e.min(axis=0)
    k = int(np.argmax(span))
    return {"focused": int(np.argmin(now)), "focused_bits": float(now.min()),
            "spread": int(np.argmax(now)), "spread_bits": float(now.max()),
            "changing": k, "changing_lo": float(e[:, k].min()), "changing_hi": float(e[:, k].max())}


def token_focus(maps, mask) -> dict:
    """Per token, from its attention maps (T, h, w) and a boolean shape mask (h, w): the share of its
    attention that lies on the shape, and the mean weight a shape pixel gives it."""
    m = np.asarray(maps, np.float64)
    mask = np.asarray(mask, bool)
    total = m.sum(axis=(1, 2))
    inside = m[:, mask].sum(axis=1)
    share = np.where(total > 0, inside / np.where(total > 0, total, 1), 0.0)
    weight = m[:, mask].mean(axis=1) if mask.any() else np.zeros(len(m))
    return {"share": share, "weight": weight, "uniform": float(mask.mean())}


def deep_share(counts: dict, deep: list[str]) -> float:
    """The share of the parameters in the parts named ``deep``."""
    total = sum(counts.values())
    return sum(counts[k] for k in deep if k in counts) / total if total else 0.0
