"""Noise schedules, the forward process, and the DDPM / DDIM samplers (diffusers-compatible).

Notation (code name -> paper symbol, Ho et al. 2020 "DDPM", Song et al. 2021 "DDIM"):
    betas[t]           β_t      variance of the noise added at step t
    alphas[t]          α_t      1 - β_t
    alphas_cumprod[t]  ᾱ_t      ∏_{s<=t} α_s: how much of x0 survives in x_t
    eps                ε_θ      the U-Net's predicted noise
    pred_x0            x̂0      (x_t - √(1-ᾱ_t) ε_θ) / √ᾱ_t, the clean image implied by ε_θ
    x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε                                      (forward process, eq. 4)

The schedule math runs in float64 and is cast to float32 at the end. Timesteps are "trailing":
the first sampling step is t = T-1 (pure noise) for any number of steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SCHEDULES = ("linear", "cosine")


def make_betas(schedule: str, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """β_1..β_T (float32): "linear" (DDPM) or "cosine" (Nichol & Dhariwal, capped at 0.999)."""
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    if schedule == "cosine":
        def alpha_bar(s):
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = [min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)]
        return torch.tensor(betas, dtype=torch.float32)
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")


@dataclass
class StepOutput:
    """What one sampler step returns: x_{t-1} and the guess x̂0."""

    prev_sample: torch.Tensor        # x_{t-1} (the next, slightly cleaner image)
    pred_original_sample: torch.Tensor  # x̂0


class NoiseSchedule:
    """β, α, ᾱ for T training steps, plus forward noising. Plain object, not a module."""

    def __init__(self, schedule: str = "linear", T: int = 1000):
        self.schedule, self.T = schedule, T
        self.betas = make_betas(schedule, T)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas.double(), dim=0).float()
        self.timesteps = torch.arange(T - 1, -1, -1)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε, for a batch of timesteps t (B,) or one t."""
        ab = self.alphas_cumprod.to(x0.device)[torch.as_tensor(t, device=x0.device).long()]
        ab = ab.reshape(-1, *([1] * (x0.dim() - 1)))
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 - ᾱ_t) for every t."""
        return self.alphas_cumprod / (1 - self.alphas_cumprod)

    def pred_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
        """x̂0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t."""
        ab = self.alphas_cumprod[int(t)]
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


class _Sampler(NoiseSchedule):
    def set_timesteps(self, n: int) -> None:
        """Choose n sampling timesteps, "trailing": T-1 first, then evenly spaced towards 0."""
        if not 1 <= n <= self.T:
            raise ValueError(f"number of steps must be in 1..{self.T}, not {n}")
        self.num_inference_steps = n
        ts = np.round(np.arange(self.T, 0, -self.T / n)).astype(np.int64) - 1
        self.timesteps = torch.from_numpy(ts)


class DDPMScheduler(_Sampler):
    """Ancestral sampling (Ho et al. 2020) with the "fixed small" posterior variance."""

    def previous_timestep(self, t: int) -> int:
        ts = self.timesteps.tolist()
        i = ts.index(int(t))
        return ts[i + 1] if i + 1 < len(ts) else -1

    def step(self, eps, t, x_t, generator=None, noise=None) -> StepOutput:
        """One reverse step x_t -> x_{t-1}. The added noise comes from ``noise`` or ``generator``."""
        t = int(t)
        prev_t = self.previous_timestep(t)
        # 1. ᾱ_t, ᾱ_{t-1} and the effective β_t of this (possibly strided) step.
        ab_t = self.alphas_cumprod[t]
        ab_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else torch.tensor(1.0)
        beta_t = 1 - ab_t / ab_prev
        # 2. x̂0 from the predicted noise (eq. 15).
        pred_x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
        # 3. Mean of q(x_{t-1} | x_t, x̂0) (eq. 7).
        c0 = ab_prev.sqrt() * beta_t / (1 - ab_t)
        ct = (1 - beta_t).sqrt() * (1 - ab_prev) / (1 - ab_t)
        prev = c0 * pred_x0 + ct * x_t
        # 4. Add noise with variance β̃_t = (1-ᾱ_{t-1}) / (1-ᾱ_t) · β_t, except at the last step.
        if t > 0:
            var = torch.clamp((1 - ab_prev) / (1 - ab_t) * beta_t, min=1e-20)
            if noise is None:
                noise = torch.randn(eps.shape, generator=generator, dtype=eps.dtype).to(eps.device)
            prev = prev + var.sqrt() * noise
        return StepOutput(prev, pred_x0)


class DDIMScheduler(_Sampler):
    """Deterministic (eta = 0) or partly stochastic implicit sampling (Song et al. 2021)."""

    def __init__(self, schedule: str = "linear", T: int = 1000, eta: float = 0.0):
        super().__init__(schedule, T)
        self.eta = eta

    def step(self, eps, t, x_t, generator=None, noise=None) -> StepOutput:
        """One reverse step x_t -> x_{t-Δ} (eq. 12)."""
        t = int(t)
        prev_t = t - self.T // self.num_inference_steps
        # 1. ᾱ_t and ᾱ_{t-Δ} (ᾱ = 1 past the end: the final image is clean).
        ab_t = self.alphas_cumprod[t]
        ab_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else torch.tensor(1.0)
        # 2. x̂0 from the predicted noise.
        pred_x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
        # 3. σ_t (eta = 0: deterministic), then "direction pointing to x_t" and the update.
        var = (1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)
        std = self.eta * var.sqrt()
        prev = ab_prev.sqrt() * pred_x0 + (1 - ab_prev - std ** 2).sqrt() * eps
        if self.eta > 0:
            if noise is None:
                noise = torch.randn(eps.shape, generator=generator, dtype=eps.dtype).to(eps.device)
            prev = prev + std * noise
        return StepOutput(prev, pred_x0)


def make_sampler(name: str, schedule: str = "linear", steps: int = 50, T: int = 1000):
    """A DDPM or DDIM sampler with its timesteps set."""
    cls = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}.get(name.lower())
    if cls is None:
        raise ValueError(f"unknown sampler {name!r}; choose ddpm or ddim")
    s = cls(schedule, T)
    s.set_timesteps(steps)
    return s
