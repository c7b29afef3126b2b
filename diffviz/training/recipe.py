"""The training recipe: the diffusion loss (ε regression weighted by min-SNR, optional grounding term),
the learning-rate schedule and the condition dropped for classifier-free guidance.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.model.config import UNetConfig, preset
from diffviz.training import grounding


def config_from(args) -> UNetConfig:
    """The preset plus any --set overrides (values parsed as JSON, true/false accepted)."""
    over = {}
    for item in args.set:
        k, _, v = item.partition("=")
        over[k] = json.loads(v.lower() if v.lower() in ("true", "false") else v)
    return preset(args.preset, **over)


def lr_at(step: int, args) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak at the last step."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    frac = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def loss_weight(snr: torch.Tensor, min_snr: float, snr_floor: float = 0.0, cap: float = 0.0) -> torch.Tensor:
    """Per-step weight of the ε-MSE: clamp(SNR, snr_floor, min_snr) / SNR, at most ``cap``.

    ε-MSE equals SNR × (x0 error)², so a weight w gives the step an x0-weight of w · SNR. Min-SNR
    caps that at ``min_snr`` for the easy, low-noise steps. At high noise the x0-weight is SNR
    itself, almost nothing, yet those are the steps where the layout is decided (which colour goes
    to the top left); ``snr_floor`` lifts their x0-weight to at least the floor (``cap`` keeps the
    nearly pure-noise steps from taking over).
    """
    w = snr.clamp(min=snr_floor, max=min_snr) / snr
    return w.clamp(max=cap) if cap > 0 else w


def diffusion_loss(model, sched: NoiseSchedule, x0, cond, gen, cfg_drop: float, min_snr: float,
                   snr_floor: float = 0.0, weight_cap: float = 0.0, ground: float = 0.0, token_masks=None,
                   ground_pixel: float = 0.0):
    """Noise x0 at random t and score the predicted noise (min-SNR weighted MSE, see `loss_weight`).

    With ``ground`` > 0 and ``token_masks`` = (masks (B, M, 32, 32), supervised (B, M)) from
    `grounding.token_masks`, adds ``ground`` × the grounding term (its per-pixel part weighted
    ``ground_pixel``) over the captions not dropped. Returns (loss, grounding figures or None).
    """
    B = x0.shape[0]
    drop = torch.zeros(B, dtype=torch.bool)
    t = torch.randint(0, sched.T, (B,), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    if cond is not None and cfg_drop > 0:
        drop = torch.rand(B, generator=gen) < cfg_drop
        null = model_null(model, B)
        cond = torch.where(drop.view(-1, *[1] * (cond.dim() - 1)), null, cond)
    dev = next(model.parameters()).device
    x_t = sched.add_noise(x0, noise, t).to(dev)
    grounded = ground > 0 and token_masks is not None
    with grounding.record_cross_attention(model) if grounded else nullcontext() as found:
        eps = model(x_t, t.to(dev), cond.to(dev) if cond is not None else None)
    per = F.mse_loss(eps.float(), noise.to(dev), reduction="none").mean(dim=(1, 2, 3))
    if min_snr > 0:
        snr = sched.snr()[t].to(dev)
        per = per * loss_weight(snr, min_snr, snr_floor, weight_cap)
    if not grounded:
        return per.mean(), None
    masks, supervised = token_masks
    g, figures = grounding.grounding_loss(found, masks, supervised & ~drop[:, None], ground_pixel)
    return per.mean() + ground * g, figures


def model_null(model, B):
    """The model's null condition for a batch of B (DDP-wrapped or not), on the CPU."""
    m = model.module if hasattr(model, "module") else model
    return m.null_condition(B).cpu()
