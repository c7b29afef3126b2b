"""DDIM inversion: run the deterministic sampler backwards, from an image x0 up to the noise x_T.

DDIM (eta = 0) is a deterministic map x_T -> x0. Inversion looks for the x_T that this map sends
to a given image, one step at a time, from the clean end upwards (Song et al. 2021, sec. 4.3):

    sampling step   x_prev = √ᾱ_prev x̂0(x_t) + √(1-ᾱ_prev) ε̂(x_t),   x̂0(x_t) = (x_t - √(1-ᾱ_t) ε̂(x_t)) / √ᾱ_t
    inverse step    x_t    = √ᾱ_t   x̂0     + √(1-ᾱ_t)   ε̂,          x̂0 = (x_prev - √(1-ᾱ_prev) ε̂) / √ᾱ_prev

The inverse step needs ε̂ = ε_θ(x_t, t) at the x_t it is looking for. *Plain* inversion uses
ε_θ(x_prev, t) instead (one model call per step): the error of that guess is what spoils the
reconstruction. *Fixed-point* inversion repeats the inverse step with ε_θ of its own last answer
(cf. ReNoise, Garibi et al. 2024; accelerated iterative inversion, Pan et al. 2023), so each x_t is
(nearly) the point whose DDIM step returns x_prev.

The first inverse step starts at the clean image (ᾱ_prev = 1): there the DDIM step keeps only x̂0,
so *any* x_1 whose x̂0 is the digit is an exact answer, whatever noise it holds. Plain inversion
fills it with ε_θ(x0, t), the model's guess of the noise in an image that has none: small and
smooth, and every later step carries it up to x_T (std ≈ 0.74 on the mnist model). ``noise_seed``
starts that first step from seeded white noise instead (the noise of the forward process), which
the fixed-point iterations then make exact: x_T holds Gaussian-sized noise and still decodes to x0.
All noise is per-digit (seed + index), so a batch gives the same x_T as each digit alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from diffviz.diffusion.sampling import Trajectory, collect, denoise_from, encode_conditions, guided_eps
from diffviz.diffusion.schedulers import make_sampler
from diffviz.model.unet import UNet


@dataclass
class Inversion:
    """An inversion of B images. Arrays are float32 numpy."""

    timesteps: np.ndarray          # (S,) ascending: the t of x_t after each inverse step
    latents: np.ndarray            # (S + 1, B, C, H, W): x0, x_{t_1}, ..., x_T
    model_calls: int               # U-Net calls per image (all steps, all iterations)
    residual: np.ndarray           # (S, B) RMS of DDIM(x_t) - x_prev per step: 0 = exact (NaN: not checked)

    @property
    def x_T(self) -> np.ndarray:
        """The inverted noise (B, C, H, W)."""
        return self.latents[-1]


def _to_batch(x0) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x0, dtype=np.float32))
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W) or (C, H, W), not {tuple(x.shape)}")
    return x


def _alpha_bars(sched, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ᾱ_t, ᾱ_prev) of the DDIM step from t (ᾱ = 1 below t = 0: the clean image)."""
    prev_t = t - sched.T // sched.num_inference_steps
    ab_prev = sched.alphas_cumprod[prev_t] if prev_t >= 0 else torch.tensor(1.0)
    return sched.alphas_cumprod[t], ab_prev


def _eps(model, x, t, cond) -> torch.Tensor:
    """ε_θ(x, t, cond) with no guidance (w = 1): the conditional prediction alone."""
    dev = model.stem.weight.device
    return guided_eps(model, x.to(dev), t, cond, 1.0)[0].float().cpu()


def white_noise(shape, seed: int, count: int) -> torch.Tensor:
    """(count, *shape) N(0, 1) noise, image i from its own generator seeded ``seed + i``."""
    return torch.stack([torch.randn(tuple(shape), generator=torch.Generator().manual_seed(int(seed) + i))
                        for i in range(count)])


@torch.inference_mode()
def invert(model: UNet, x0, conds=None, steps: int = 50, iterations: int = 0, noise_seed: int | None = None,
           schedule: str = "linear", check: bool = True) -> Inversion:
    """Invert images x0 (B, C, H, W) in [-1, 1] to x_T with ``steps`` DDIM steps.

    conds: one label / caption / None per image (None for all = unconditional). iterations:
    fixed-point iterations per step (0 = plain inversion). noise_seed: start the first step from
    seeded white noise (image i uses noise_seed + i) instead of ε_θ(x0, t). check: measure each
    step's residual (one more U-Net call per step, not counted in ``model_calls``; NaN when off).
    """
    x = _to_batch(x0)
    B = x.shape[0]
    sched = make_sampler("ddim", schedule, steps)
    cond = encode_conditions(model, list(conds) if conds is not None else [None] * B)
    latents, residual, calls = [x.clone()], [], 0
    for i, t in enumerate(sched.timesteps.flip(0).tolist()):      # ascending: 19, 39, ... for 50 steps
        ab_t, ab_prev = _alpha_bars(sched, t)
        x_prev = x
        if i == 0 and noise_seed is not None:
            eps = white_noise(x.shape[1:], noise_seed, B)             # (B, C, H, W) the forward process's ε
        else:
            eps = _eps(model, x_prev, t, cond)                         # plain guess: ε_θ(x_prev, t)
            calls += 1
        # 1. The inverse step with the current ε̂, 2. then again with ε̂ at its own answer.
        for k in range(iterations + 1):
            pred_x0 = (x_prev - (1 - ab_prev).sqrt() * eps) / ab_prev.sqrt()
            x = ab_t.sqrt() * pred_x0 + (1 - ab_t).sqrt() * eps       # (B, C, H, W) x_t
            if k < iterations:
                eps = _eps(model, x, t, cond)
                calls += 1
        latents.append(x.clone())
        residual.append(_step_residual(sched, model, x, x_prev, t, cond) if check else np.full(B, np.nan, np.float32))
    return Inversion(sched.timesteps.flip(0).numpy(), torch.stack(latents).numpy(), calls,
                     np.stack(residual))


def _step_residual(sched, model, x_t, x_prev, t, cond) -> np.ndarray:
    """RMS per image of DDIM_step(x_t) - x_prev (an extra call, for the report; not counted)."""
    out = sched.step(_eps(model, x_t, t, cond), t, x_t).prev_sample
    return (out - x_prev).flatten(1).pow(2).mean(1).sqrt().numpy()


@torch.inference_mode()
def decode(model: UNet, x_T, conds=None, steps: int = 50, schedule: str = "linear", interventions=None,
           capture_select=None, capture_steps=None):
    """Yield a `sampling.Step` for every deterministic DDIM step (eta = 0, no guidance) from x_T (B, C, H, W)
    down to x0: the way back of an inversion, through the same U-Net calls and capture as sampling."""
    x = _to_batch(x_T)
    sched = make_sampler("ddim", schedule, steps)
    cond = encode_conditions(model, list(conds) if conds is not None else [None] * x.shape[0])
    yield from denoise_from(model, x, [], sched, cond, 1.0, interventions, capture_select, capture_steps)


def trajectory(model: UNet, x_T, conds=None, **kw) -> Trajectory:
    """`decode` collected as a `sampling.Trajectory`: step 0's x_t is x_T, ``final`` the reconstruction."""
    return collect(decode(model, x_T, conds, **kw))


def reconstruct(model: UNet, x_T, conds=None, steps: int = 50, schedule: str = "linear") -> np.ndarray:
    """Deterministic DDIM (eta = 0, no guidance) from x_T (B, C, H, W) down to x0: float32, not clipped."""
    x = None
    for st in decode(model, x_T, conds, steps, schedule):
        x = st.x_prev
    return x.numpy()


def psnr(a, b, peak_to_peak: float = 2.0) -> np.ndarray:
    """PSNR in dB per image between two (B, C, H, W) batches in [-1, 1] (the range is 2)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(1)
    return 10 * np.log10(peak_to_peak ** 2 / np.maximum(mse, 1e-20))


def gaussian_stats(x_T) -> dict:
    """How Gaussian the inverted noise is, per image: mean, std, and lag-1 pixel correlation (white = 0)."""
    x = np.asarray(x_T, np.float64)
    flat = x.reshape(len(x), -1)
    c = x - flat.mean(1).reshape(-1, *([1] * (x.ndim - 1)))
    corr = (c[..., :, 1:] * c[..., :, :-1]).reshape(len(x), -1).mean(1) / np.maximum(flat.var(1), 1e-12)
    return {"mean": flat.mean(1), "std": flat.std(1), "lag1_correlation": corr}
