"""Computations behind the "Open the U-Net" pages: plain numpy/torch, no Streamlit, no plotting.

    channel_energy / rank_channels     which feature-map channels carry the most signal
    spectral_split / high_share(s)     2-D FFT energy below / above a radial frequency cut
    level_stats                        mean |activation| and RMS of one capture key at every step
    attention_map / concentration      where one query pixel looks, and how peaked that is
    token_maps                         cross-attention: one map per caption token
    conditioning_vectors / film_sweep  the FiLM scale and shift of every residual block as t varies
    told_t_sweep                       ε̂ and x̂0 for one x_t when the model is told other timesteps
    difference                         signed difference maps with one symmetric colour limit

Arrays in, arrays out (float32 or float64 numpy). Frequencies are in units of the Nyquist
frequency of the map they come from: 1.0 = the finest pattern along one axis (period 2 pixels).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from diffviz.diffusion.schedulers import NoiseSchedule


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------- feature maps

def channel_energy(x) -> np.ndarray:
    """Mean square of each channel of ``x`` (..., C, H, W), over everything but the channel axis: (C,)."""
    a = _np(x).astype(np.float64)
    a = np.moveaxis(a, -3, 0).reshape(a.shape[-3], -1)
    return (a ** 2).mean(axis=1)


def rank_channels(x, top: int | None = None) -> np.ndarray:
    """Channel indices of ``x`` (..., C, H, W), most energetic first (ties keep channel order)."""
    order = np.argsort(-channel_energy(x), kind="stable")
    return order if top is None else order[:top]


def symmetric_limit(*arrays, q: float = 99.5) -> float:
    """One colour limit L for a diverging scale [-L, L] shared by all ``arrays``.

    The q-th percentile of |values| (not the maximum), so one outlier pixel does not wash out
    every other map; never 0.
    """
    vals = np.concatenate([np.abs(_np(a)).ravel() for a in arrays if np.size(a)])
    if vals.size == 0:
        return 1.0
    lim = float(np.percentile(vals, q))
    if not np.isfinite(lim) or lim <= 0:
        lim = float(vals.max()) if vals.size and np.isfinite(vals.max()) and vals.max() > 0 else 1.0
    return lim


def stack_steps(traces: dict, key: str, sample: int = 0) -> np.ndarray:
    """One capture key at every captured step: (S, ...) float32, steps in sampling order."""
    return torch.stack([traces[i][key][sample] for i in sorted(traces)]).float().numpy()


def level_stats(traces: dict, key: str, sample: int = 0) -> dict[str, np.ndarray]:
    """Mean |activation| and RMS of ``key`` at every captured step: {"mean_abs": (S,), "rms": (S,)}."""
    x = stack_steps(traces, key, sample).astype(np.float64)
    flat = x.reshape(x.shape[0], -1)
    return {"mean_abs": np.abs(flat).mean(axis=1), "rms": np.sqrt((flat ** 2).mean(axis=1))}


# ---------------------------------------------------------------- frequencies

def radial_frequency(h: int, w: int) -> np.ndarray:
    """(H, W) radial frequency of every 2-D FFT coefficient, in units of the Nyquist frequency.

    0 = the mean (DC); 1 = a stripe pattern of period 2 pixels; a checkerboard sits at √2.
    """
    fy = np.fft.fftfreq(h)[:, None] / 0.5
    fx = np.fft.fftfreq(w)[None, :] / 0.5
    return np.sqrt(fx ** 2 + fy ** 2)


def spectral_split(x, cut: float = 0.5) -> tuple[float, float]:
    """Energy of ``x`` (..., H, W) at radial frequency <= cut and > cut (Parseval: they sum to Σ x²).

    Summed over every leading axis (channels, samples). ``cut`` is a fraction of Nyquist.
    """
    a = _np(x).astype(np.float64)
    h, w = a.shape[-2:]
    power = np.abs(np.fft.fft2(a)) ** 2 / (h * w)                 # (..., H, W), sums to Σ x²
    power = power.reshape(-1, h, w).sum(axis=0)
    high = radial_frequency(h, w) > cut
    return float(power[~high].sum()), float(power[high].sum())


def high_share(x, cut: float = 0.5) -> float:
    """Share (0..1) of the energy of ``x`` (..., H, W) above the radial cut; 0 for an all-zero input."""
    low, high = spectral_split(x, cut)
    total = low + high
    return high / total if total > 0 else 0.0


def high_shares(x, cut: float = 0.5) -> np.ndarray:
    """`high_share` of each x[i] of a stack ``x`` (S, ..., H, W) at once: (S,). One batched FFT."""
    a = torch.as_tensor(_np(x))
    h, w = a.shape[-2:]
    power = torch.fft.fft2(a).abs().square().reshape(a.shape[0], -1, h, w).sum(dim=1).double()  # (S, H, W)
    high = torch.from_numpy(radial_frequency(h, w) > cut)
    total = power.sum(dim=(1, 2))
    up = power[:, high].sum(dim=1)
    return torch.where(total > 0, up / total.clamp_min(1e-300), torch.zeros_like(total)).numpy()


# ---------------------------------------------------------------- attention

def attention_map(probs, qy: int, qx: int, head: int | None = None) -> np.ndarray:
    """Self-attention of query pixel (qy, qx): (H, W) weights over the key pixels (they sum to 1).

    ``probs`` (heads, N, N) with N = H·W pixels in row-major order; head None = mean of heads.
    """
    p = _np(probs)
    n = p.shape[-1]
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"self-attention over {n} positions is not a square map")
    if not (0 <= qy < side and 0 <= qx < side):
        raise ValueError(f"query pixel ({qy}, {qx}) outside the {side}×{side} map")
    rows = p[:, qy * side + qx, :]                                  # (heads, N)
    row = rows.mean(axis=0) if head is None else rows[head]
    return row.reshape(side, side)


def concentration(p, mass: float = 0.9) -> dict:
    """How peaked a distribution p (any shape, sums to 1) is, next to the uniform one.

    entropy_bits: Shannon entropy; uniform_bits = log2(N). n_mass: the fewest positions that hold
    ``mass`` of the weight; uniform_n_mass = ceil(mass · N). A one-hot p gives 0 bits and 1 position.
    """
    v = np.clip(_np(p).astype(np.float64).ravel(), 0, None)
    n = v.size
    total = v.sum()
    v = v / total if total > 0 else np.full(n, 1.0 / n)
    nz = v[v > 0]
    entropy = float(-(nz * np.log2(nz)).sum())
    cum = np.cumsum(np.sort(v)[::-1])
    n_mass = int(np.searchsorted(cum, mass - 1e-9) + 1)
    return {"entropy_bits": max(entropy, 0.0), "uniform_bits": math.log2(n), "n_mass": min(n_mass, n),
            "uniform_n_mass": int(math.ceil(mass * n - 1e-9)), "n": n, "mass": mass}


def token_maps(probs, n_tokens: int, side: int | None = None) -> np.ndarray:
    """Cross-attention (heads, N, M) -> (n_tokens, H, W): each token's weight at every pixel, mean of heads."""
    p = _np(probs).mean(axis=0)                                     # (N, M)
    n = p.shape[0]
    side = side or math.isqrt(n)
    return np.moveaxis(p[:, :n_tokens], 1, 0).reshape(n_tokens, side, n // side)


def grey(x) -> np.ndarray:
    """An image (C, H, W) in [-1, 1] -> (H, W) luminance in [-1, 1] (for overlays)."""
    a = _np(x)
    if a.shape[0] == 3:
        return np.clip(0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2], -1, 1)
    return np.clip(a[0], -1, 1)


# ---------------------------------------------------------------- timestep conditioning

def film_blocks(model) -> list[str]:
    """Paths of the residual blocks (each has a FiLM layer), in the order data flows."""
    return [name[: -len(".film")] for name, _ in model.named_modules() if name.endswith(".film")]


@torch.inference_mode()
def conditioning_vectors(model, ts, cond=None) -> torch.Tensor:
    """The vector every FiLM layer reads, for each t in ``ts``: (T, time_dim).

    Built from the model's own modules exactly as `UNet.forward` step 1 builds it (a test checks
    it against the captured ``embedding``): time embedding, plus the label embedding for a class
    model (``cond`` a label; None = the null label). The caption of a text model never enters it.
    """
    cfg = model.config
    dev = model.stem.weight.device
    t = torch.as_tensor(np.asarray(ts), dtype=torch.long, device=dev)
    emb = model.time_embedding(t) if cfg.use_time else torch.zeros(len(t), cfg.time_dim, device=dev)
    if cfg.conditioning == "class":
        label = cfg.num_classes if cond is None else int(cond)
        emb = emb + model.label_embedding(torch.full_like(t, label))
    return emb


@torch.inference_mode()
def film_sweep(model, ts, cond=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every residual block's FiLM (scale, shift) for each t: {block path: ((T, C), (T, C))}.

    FiLM depends only on the conditioning vector, never on the image, so one batched pass through
    the small linear layers replaces a thousand U-Net calls. h = norm(h) · (1 + scale) + shift.
    """
    emb = F.silu(conditioning_vectors(model, ts, cond))
    modules = dict(model.named_modules())
    out = {}
    for block in film_blocks(model):
        scale, shift = modules[block + ".film"](emb).chunk(2, dim=1)   # (T, C) each
        out[block] = (_np(scale), _np(shift))
    return out


def most_varying(values, k: int = 4) -> np.ndarray:
    """Indices of the k channels of ``values`` (T, C) whose value changes most over t (std)."""
    return np.argsort(-_np(values).std(axis=0), kind="stable")[:k]


@torch.inference_mode()
def told_t_sweep(model, x_t, t_true: int, cond, guidance: float, told_ts, schedule: str = "linear"):
    """Tell the model each t in ``told_ts`` for the same x_t (C, H, W); one batched forward pass.

    Returns (ε̂ (K, C, H, W), x̂0 (K, C, H, W)). x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t uses the TRUE t: the
    sampler knows how noisy x_t really is; only the network is misinformed. ``cond`` is the
    model's condition tensor for one sample (or None); guidance as in `sampling.guided_eps`.
    """
    dev = model.stem.weight.device
    told = torch.as_tensor(np.asarray(told_ts), dtype=torch.long, device=dev)
    k = len(told)
    x = torch.as_tensor(_np(x_t), device=dev)[None].expand(k, *np.shape(x_t))
    use_cfg = cond is not None and guidance != 1.0
    if cond is not None:
        c = cond.to(dev).reshape(1, *cond.shape[1:]).expand(k, *cond.shape[1:])
    if use_cfg:
        out = model(torch.cat([x, x]), torch.cat([told, told]), torch.cat([c, model.null_condition(k)]))
        e_c, e_u = out[:k], out[k:]
        eps = e_u + guidance * (e_c - e_u)
    else:
        eps = model(x, told, c if cond is not None else None)
    ab = NoiseSchedule(schedule).alphas_cumprod[int(t_true)].to(dev)
    x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
    return _np(eps), _np(x0)


def rmse(a, b, axes=None) -> np.ndarray | float:
    """Root-mean-square difference; ``axes`` None = over everything (a float)."""
    d = _np(a).astype(np.float64) - _np(b).astype(np.float64)
    if axes is None:
        return float(np.sqrt((d ** 2).mean()))
    return np.sqrt((d ** 2).mean(axis=axes))


def difference(a, b) -> tuple[np.ndarray, float]:
    """(a − b, L): the signed difference and a symmetric colour limit for it (the largest |a − b|)."""
    d = _np(a) - _np(b)
    lim = float(np.abs(d).max()) if d.size else 0.0
    return d, (lim if lim > 0 else 1.0)


def mask_cover(masks, r: int) -> torch.Tensor:
    """Masks (B, M, H, W) -> how much of each cell of an r×r map grid they cover, (B, M, r·r) in [0, 1]."""
    masks = torch.as_tensor(masks).float()
    return F.adaptive_avg_pool2d(masks, r).flatten(2)       # a cell half covered counts half


def inside_share(maps: torch.Tensor, masks) -> torch.Tensor:
    """Share of each map's mass inside its mask: maps (B, M, N) non-negative on an r×r grid, masks (B, M, H, W) -> (B, M).

    A uniform map gives the mask's area share; differentiable (grounding trains on it).
    """
    r = int(round(maps.shape[-1] ** 0.5))
    if r * r != maps.shape[-1]:
        raise ValueError(f"a map of {maps.shape[-1]} pixels is not square")
    cover = mask_cover(masks, r).to(maps.device, maps.dtype)
    return (maps * cover).sum(-1) / maps.sum(-1).clamp_min(1e-12)


def inside_weight(maps: torch.Tensor, masks) -> torch.Tensor:
    """Mean value of each map over its mask's pixels: maps (B, M, N) per-pixel weights, masks (B, M, H, W) -> (B, M).

    For attention: how strongly the shape's own pixels read the word, the brightness the app's
    per-pixel maps show there (not normalised, unlike `inside_share`).
    """
    r = int(round(maps.shape[-1] ** 0.5))
    cover = mask_cover(masks, r).to(maps.device, maps.dtype)
    return (maps * cover).sum(-1) / cover.sum(-1).clamp_min(1e-12)
