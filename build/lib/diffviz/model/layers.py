"""The U-Net's building blocks: timestep embedding, residual block with FiLM, attention.

Attention is written out as softmax(Q Kᵀ / √d) V on purpose: a fused kernel never forms the
probabilities, and the app shows them. Every place the app looks at is a named module, so its
path (e.g. ``encoder.2.attn.0.self_attn.probs``) is also its capture key.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from diffviz.model import interventions


def groups_for(channels: int) -> int:
    """GroupNorm groups: 8 where the channels allow it."""
    return 8 if channels % 8 == 0 else 1


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Map timesteps (B,) to (B, dim): [cos(t·ω_i), sin(t·ω_i)] with ω_i = max_period^(-i/(dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]                      # (B, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)    # (B, dim)


class Probe(nn.Identity):
    """A named point in the network that returns its input: a place to capture a tensor."""


class TimeEmbedding(nn.Module):
    """t -> sinusoid (B, d) -> MLP -> (B, time_dim): how the U-Net is told the noise level."""

    def __init__(self, sin_dim: int, time_dim: int):
        super().__init__()
        self.sin_dim = sin_dim
        self.sinusoid = Probe()
        self.mlp = nn.Sequential(nn.Linear(sin_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.sinusoid(sinusoidal_embedding(t, self.sin_dim)))


class ResBlock(nn.Module):
    """norm -> SiLU -> conv -> norm -> FiLM(t) -> SiLU -> conv, plus the input (the residual path).

    FiLM: the time embedding is projected to a per-channel (scale, shift) and applied after the
    second normalisation, h = norm(h) · (1 + scale) + shift. ``film`` outputs (B, 2·C): scale, shift.
    """

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups_for(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.film = nn.Linear(time_dim, 2 * out_ch)
        self.norm2 = nn.GroupNorm(groups_for(out_ch), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))                              # (B, out, H, W)
        scale, shift = self.film(F.silu(emb)).chunk(2, dim=1)              # (B, out) each
        h = self.norm2(h) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(h)))
        return self.shortcut(x) + h


class Attention(nn.Module):
    """Multi-head attention with explicit probabilities: softmax(Q Kᵀ / √d) V.

    Self-attention when ``context`` is None (queries and keys are the pixels), cross-attention when
    it is the caption's token features (queries are pixels, keys are words).
    """

    def __init__(self, channels: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(context_dim or channels, channels)
        self.to_v = nn.Linear(context_dim or channels, channels)
        self.probs = Probe()                       # (B, heads, N_queries, N_keys)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        ctx = x if context is None else context                           # (B, M, Cc)
        h, d = self.heads, C // self.heads
        q = self.to_q(x).view(B, N, h, d).transpose(1, 2)                  # (B, h, N, d)
        k = self.to_k(ctx).view(B, -1, h, d).transpose(1, 2)               # (B, h, M, d)
        v = self.to_v(ctx).view(B, -1, h, d).transpose(1, 2)               # (B, h, M, d)
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(d)                  # (B, h, N, M)
        if key_mask is not None:          # (B, M) padding gets no weight, or (B, N, M) per query
            allowed = key_mask[:, None, None, :] if key_mask.dim() == 2 else key_mask[:, None]
            logits = logits.masked_fill(~allowed, float("-inf"))
        p = self.probs(logits.softmax(dim=-1))
        out = (p @ v).transpose(1, 2).reshape(B, N, C)                     # (B, N, C)
        return self.to_out(out)


class AttentionBlock(nn.Module):
    """Self-attention over the pixels of a feature map, then (text models) cross-attention to words.

    Both are residual: x + attn(norm(x)). An intervention can switch the block off (identity).
    With ``pixels`` = H·W > 0, a learned vector per pixel (``position``, zero at the start) is added
    to the normalised pixel tokens attention reads (the queries; in self-attention keys and values
    too): convolutions barely know *where* a pixel is, and "red ... at the top left" can only be
    obeyed by a pixel that does.
    """

    def __init__(self, channels: int, heads: int, level: int, context_dim: int | None = None,
                 self_attention: bool = True, pixels: int = 0):
        super().__init__()
        self.level = level
        self.position = nn.Parameter(torch.zeros(pixels, channels)) if pixels else None   # (H·W, C)
        self.norm = nn.GroupNorm(groups_for(channels), channels) if self_attention else None
        self.self_attn = Attention(channels, heads) if self_attention else None
        self.cross_norm = nn.LayerNorm(channels) if context_dim else None
        self.cross_attn = Attention(channels, heads, context_dim) if context_dim else None

    def forward(self, x: torch.Tensor, context=None, key_mask=None) -> torch.Tensor:
        if interventions.attention_is_off(self.level):
            return x
        B, C, H, W = x.shape
        h = x.flatten(2).transpose(1, 2)                                   # (B, H·W, C) one token per pixel
        pos = 0 if self.position is None else self.position                # (H·W, C) or nothing
        if self.self_attn is not None:
            h = h + self.self_attn(self.norm(x).flatten(2).transpose(1, 2) + pos)
        if self.cross_attn is not None and context is not None:
            h = h + self.cross_attn(self.cross_norm(h) + pos, context, key_mask)   # queries: what + where
        return h.transpose(1, 2).reshape(B, C, H, W)


class TextEncoder(nn.Module):
    """Caption tokens (B, M) -> token features (B, M, dim): embeddings + a tiny transformer.

    With a ``separator`` token id (the word "and"), each word attends only to the words of its own
    phrase, so after the layers "red" knows it belongs to "... at the top left" and not to the other
    shape's place: the binding of colour, shape, size and place is done before the U-Net reads it.
    """

    def __init__(self, vocab_size: int, max_tokens: int, dim: int, layers: int, heads: int = 4,
                 separator: int | None = None):
        super().__init__()
        self.separator = separator
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Parameter(torch.randn(max_tokens, dim) * 0.02)
        self.layers = nn.ModuleList(TextLayer(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = tokens != 0                                                 # (B, M) True = a real token
        h = self.token_embedding(tokens) + self.position_embedding[None, : tokens.shape[1]]
        inner = mask
        if self.separator is not None:
            phrase = self.phrases(tokens)                                  # (B, M) 0, 0, ..., 1, 1 from "and" on
            inner = (phrase[:, :, None] == phrase[:, None, :]) & mask[:, None, :]   # (B, M, M)
        for layer in self.layers:
            h = layer(h, inner)
        return self.norm(h), mask

    def phrases(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, M) phrase index of every token: 0 up to the first "and", then 1, ..."""
        return torch.cumsum(tokens == self.separator, dim=1) if self.separator is not None else torch.zeros_like(tokens)


class TextLayer(nn.Module):
    """One pre-norm transformer layer (explicit attention, no fused kernels)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(h)
        h = h + self.attn(x, x, mask)
        return h + self.mlp(self.norm2(h))
