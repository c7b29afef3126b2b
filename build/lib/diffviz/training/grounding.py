"""Grounding: teach each object word's cross-attention to look at its own shape (training only).

A text U-Net learns to *use* the caption through cross-attention, but nothing in the denoising loss
says which word a pixel should read: a pixel of the red square may read "red" from any token of its
phrase, and the word maps come out blurry. The grounding term (as in TokenCompose, Wang et al.
2024) adds, for the colour, shape and size word of every phrase, the loss (1 - share)², where
share is the part of the word's attention mass (heads averaged, over the pixels) that lies inside
the mask of the shape that phrase describes, at every resolution with cross-attention; and, with
``--ground-pixel``, a per-pixel term (TokenCompose's L_pixel) that makes the shape's pixels actually
read those words, not just keep a faint map of them inside. The shapes generator knows every mask,
so the terms are exact. ``python -m diffviz.cli.train --ground W --ground-pixel P``.
"""

from __future__ import annotations

import fnmatch
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from diffviz.data import text
from diffviz.probe import readings

OBJECT_WORDS = set(text.COLOUR_WORDS) | set(text.SHAPE_WORDS) | set(text.SIZE_WORDS)
CROSS_PROBS = "*.cross_attn.probs"


def token_masks(captions, masks) -> tuple[torch.Tensor, torch.Tensor]:
    """Per token, the mask of the shape it names: (B, M, 32, 32) float and (B, M) bool "supervised".

    ``masks[b]`` lists one boolean (32, 32) mask per phrase of ``captions[b]``, in caption order
    (as `shapes.render(..., return_masks=True)` gives them). Only colour, shape and size words are
    supervised; every other token (and every token of an empty caption) is not.
    """
    M = text.MAX_TOKENS
    size = np.asarray(masks[0][0]).shape if any(len(m) for m in masks) else (32, 32)
    out = np.zeros((len(captions), M, *size), np.float32)
    sup = np.zeros((len(captions), M), bool)
    for b, (cap, ms) in enumerate(zip(captions, masks)):
        phrase = 0
        for i, word in enumerate(text.normalise(cap)):
            if word == "and":
                phrase += 1
            elif word in OBJECT_WORDS:
                out[b, i + 1] = ms[phrase]                     # +1: the <start> token
                sup[b, i + 1] = True
    return torch.from_numpy(out), torch.from_numpy(sup)


@contextmanager
def record_cross_attention(model):
    """Collect the cross-attention probabilities (B, heads, N, M) of one forward pass, gradients kept.

    Yields a list the hooks fill; the hooks are removed on exit, so nothing stays on the model.
    """
    m = model.module if hasattr(model, "module") else model
    found, handles = [], []
    for name, mod in m.named_modules():
        if fnmatch.fnmatchcase(name, CROSS_PROBS):
            handles.append(mod.register_forward_hook(lambda _m, _i, out: found.append(out)))
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


def _maps(probs: torch.Tensor) -> torch.Tensor:
    """Heads-averaged cross-attention maps, one per token: (B, h, N, M) -> (B, M, N)."""
    return probs.float().mean(dim=1).transpose(1, 2)


def _cover(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Each token's mask on the maps' r×r grid by area, (B, M, N), on the maps' device."""
    return readings.mask_cover(masks, int(round(maps.shape[-1] ** 0.5))).to(maps.device, maps.dtype)


def _bce(maps, cover, supervised):
    bce = F.binary_cross_entropy(maps.clamp(1e-6, 1 - 1e-6), cover, reduction="none").mean(dim=2)
    return (bce * supervised).sum() / supervised.sum().clamp_min(1.0)


def inside_share(probs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each token's attention mass inside its mask: probs (B, h, N, M), masks (B, M, H, W) -> (B, M).

    Heads are averaged; the reading is `readings.inside_share`, the same the evaluation reports.
    """
    return readings.inside_share(_maps(probs), masks)


def inside_weight(probs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean attention weight each token gets from the pixels inside its mask: (B, h, N, M), (B, M, H, W) -> (B, M).

    Where `inside_share` asks "is this word's map on its shape?" (a faint map can be all inside),
    this asks "does the shape read this word?" (`readings.inside_weight`).
    """
    return readings.inside_weight(_maps(probs), masks)


def pixel_loss(probs: torch.Tensor, masks: torch.Tensor, supervised: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy between each supervised token's per-pixel weight and its mask (TokenCompose's L_pixel)."""
    maps = _maps(probs)
    return _bce(maps, _cover(maps, masks), supervised)


def grounding_loss(found, masks: torch.Tensor, supervised: torch.Tensor,
                   pixel: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Mean over the recorded blocks of: (1 - share)² over the supervised tokens, plus ``pixel`` × `pixel_loss`.

    Also returns the mean share and the mean inside weight (detached), for the training log.
    """
    sup = supervised.to(found[0].device).float()
    n = sup.sum().clamp_min(1.0)
    losses, shares, weights = [], [], []
    for probs in found:
        maps = _maps(probs)                                            # (B, M, N)
        share = readings.inside_share(maps, masks)
        loss = (((1 - share) ** 2) * sup).sum() / n
        if pixel > 0:
            loss = loss + pixel * _bce(maps, _cover(maps, masks), sup)
        losses.append(loss)
        shares.append((share * sup).sum() / n)
        weights.append((readings.inside_weight(maps, masks).detach() * sup).sum() / n)
    return torch.stack(losses).mean(), {"share": torch.stack(shares).mean().detach(),
                                        "weight": torch.stack(weights).mean()}
