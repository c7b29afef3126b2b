"""The U-Net that predicts the noise ε in x_t.

    x_t ─ stem ─ encoder.0 ─┬─ down ─ encoder.1 ─┬─ down ─ encoder.2 ─┬─ bottleneck ─┐
                            │ skip 0             │ skip 1             │ skip 2       │
    ε̂ ─ out ─── decoder.0 ◄─┴── up ─ decoder.1 ◄─┴── up ─ decoder.2 ◄─┴──────────────┘

Levels are numbered by resolution (0 = full size). The encoder (contracting path) halves the
pixels and grows the channels ("what"); the decoder (expansive path) upsamples back ("where"),
and decoder level k concatenates the skip from encoder level k (fine detail). The timestep t
(and the class label) becomes one embedding vector that every residual block reads through
FiLM. Output shape == input shape: the network predicts one noise value per input value.
"""

from __future__ import annotations

import torch
from torch import nn

from diffviz.model import interventions
from diffviz.model.config import UNetConfig
from diffviz.model.layers import (
    AttentionBlock,
    Probe,
    ResBlock,
    TextEncoder,
    TimeEmbedding,
)


class EncoderLevel(nn.Module):
    """encoder.k: residual blocks (and attention) at resolution k, then a stride-2 conv down."""

    def __init__(self, cfg: UNetConfig, k: int, in_ch: int, ctx_dim):
        super().__init__()
        ch, n = cfg.channels[k], cfg.blocks_per_level
        self.res = nn.ModuleList(ResBlock(in_ch if i == 0 else ch, ch, cfg.time_dim, cfg.dropout) for i in range(n))
        self.attn = attention_blocks(cfg, k, ch, ctx_dim)
        last = k == cfg.levels - 1
        self.downsample = None if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, h, emb, ctx=None, mask=None):
        for i, res in enumerate(self.res):
            h = res(h, emb)
            if self.attn:
                h = self.attn[i](h, ctx, mask)
        return h                                                   # (B, ch_k, H_k, W_k): skip k


def attention_blocks(cfg: UNetConfig, k: int, ch: int, ctx_dim) -> nn.ModuleList:
    """One attention block per residual block at attention levels (cross-only at cross_levels)."""
    full = k in cfg.attention_levels
    cross_only = ctx_dim is not None and k in cfg.cross_levels and not full
    if not cfg.use_attention or not (full or cross_only):
        return nn.ModuleList()
    return nn.ModuleList(AttentionBlock(ch, cfg.heads, k, ctx_dim, self_attention=full, pixels=position_pixels(cfg, k))
                         for _ in range(cfg.blocks_per_level))


def position_pixels(cfg: UNetConfig, k: int) -> int:
    """Pixels that get a learned position vector in level k's attention blocks (0: none)."""
    return cfg.resolution(k) ** 2 if cfg.pixel_positions else 0


class Bottleneck(nn.Module):
    """The deepest point: residual block, self-attention (long-range relations), residual block."""

    def __init__(self, cfg: UNetConfig, ctx_dim):
        super().__init__()
        ch = cfg.channels[-1]
        self.res1 = ResBlock(ch, ch, cfg.time_dim, cfg.dropout)
        deepest = cfg.levels - 1
        self.attn = (AttentionBlock(ch, cfg.heads, deepest, ctx_dim, pixels=position_pixels(cfg, deepest))
                     if cfg.use_attention else None)
        self.res2 = ResBlock(ch, ch, cfg.time_dim, cfg.dropout)

    def forward(self, h, emb, ctx=None, mask=None):
        h = self.res1(h, emb)
        if self.attn is not None:
            h = self.attn(h, ctx, mask)
        return self.res2(h, emb)


class Upsample(nn.Module):
    """decoder.k.upsample: the backbone from level k+1 brought up to resolution k (identity at the deepest).

    Its output is the "backbone tensor" that meets the skip; an intervention may scale it (FreeU).
    """

    def __init__(self, cfg: UNetConfig, k: int):
        super().__init__()
        self.level = k
        if k == cfg.levels - 1:
            self.op = nn.Identity()
        elif cfg.upsample == "transposed":
            self.op = nn.ConvTranspose2d(cfg.channels[k + 1], cfg.channels[k], 4, stride=2, padding=1)
        else:
            self.op = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                    nn.Conv2d(cfg.channels[k + 1], cfg.channels[k], 3, padding=1))

    def forward(self, h):
        scale = interventions.backbone_scale(self.level)
        return self.op(h) if scale == 1 else self.op(h) * scale


class Skip(Probe):
    """decoder.k.skip: the encoder's level-k features as the decoder receives them (scalable, cuttable)."""

    def __init__(self, k: int):
        super().__init__()
        self.level = k

    def forward(self, s):
        scale = interventions.skip_scale(self.level)
        return s if scale == 1 else s * scale


class DecoderLevel(nn.Module):
    """decoder.k: upsample the backbone, concatenate skip k, residual blocks (and attention)."""

    def __init__(self, cfg: UNetConfig, k: int, ctx_dim):
        super().__init__()
        ch, n = cfg.channels[k], cfg.blocks_per_level
        up_ch = cfg.channels[-1] if k == cfg.levels - 1 else ch
        self.upsample = Upsample(cfg, k)
        self.skip = Skip(k) if cfg.use_skips else None
        in_ch = up_ch + (ch if cfg.use_skips else 0)
        self.res = nn.ModuleList(ResBlock(in_ch if i == 0 else ch, ch, cfg.time_dim, cfg.dropout) for i in range(n))
        self.attn = attention_blocks(cfg, k, ch, ctx_dim)

    def forward(self, h, skip, emb, ctx=None, mask=None):
        h = self.upsample(h)                                       # (B, ch, H_k, W_k)
        if self.skip is not None:
            h = torch.cat([h, self.skip(skip)], dim=1)             # (B, ch + ch_k, H_k, W_k)
        for i, res in enumerate(self.res):
            h = res(h, emb)
            if self.attn:
                h = self.attn[i](h, ctx, mask)
        return h


class UNet(nn.Module):
    """ε_θ(x_t, t, condition): predicts the noise in x_t. See the module docstring for the picture."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.config = cfg
        ch = cfg.channels
        ctx_dim = cfg.text_dim if cfg.conditioning == "text" else None
        self.time_embedding = TimeEmbedding(cfg.base_channels, cfg.time_dim)
        if cfg.conditioning == "class":   # label num_classes = "no label" (classifier-free guidance)
            self.label_embedding = nn.Embedding(cfg.num_classes + 1, cfg.time_dim)
        if cfg.conditioning == "text":
            from diffviz.data.text import WORD_TO_ID
            self.text_encoder = TextEncoder(cfg.vocab_size, cfg.max_tokens, cfg.text_dim, cfg.text_layers, cfg.heads,
                                            separator=WORD_TO_ID["and"] if cfg.text_phrases else None)
        self.embedding = Probe()          # (B, time_dim): what every FiLM layer reads
        self.stem = nn.Conv2d(cfg.in_channels, ch[0], 3, padding=1)
        self.encoder = nn.ModuleList(EncoderLevel(cfg, k, ch[max(k - 1, 0)], ctx_dim) for k in range(cfg.levels))
        self.bottleneck = Bottleneck(cfg, ctx_dim)
        self.decoder = nn.ModuleList(DecoderLevel(cfg, k, ctx_dim) for k in range(cfg.levels))
        self.out = nn.Sequential(nn.GroupNorm(8 if ch[0] % 8 == 0 else 1, ch[0]), nn.SiLU(),
                                 nn.Conv2d(ch[0], cfg.in_channels, 3, padding=1))

    def null_condition(self, batch: int) -> torch.Tensor | None:
        """The "no condition" input used by classifier-free guidance (null label or empty caption)."""
        dev = self.stem.weight.device
        if self.config.conditioning == "class":
            return torch.full((batch,), self.config.num_classes, dtype=torch.long, device=dev)
        if self.config.conditioning == "text":
            from diffviz.data import text
            return text.tokenize_batch([""] * batch).to(dev)
        return None

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        B = x.shape[0]
        t = t.expand(B) if t.dim() == 1 and t.numel() == 1 else t.reshape(B)
        # 1. Timestep (and label) -> one conditioning vector (B, time_dim).
        emb = self.time_embedding(t) if cfg.use_time else torch.zeros(B, cfg.time_dim, device=x.device)
        ctx = mask = None
        if cfg.conditioning == "class":
            emb = emb + self.label_embedding(cond if cond is not None else self.null_condition(B))
        elif cfg.conditioning == "text":
            ctx, mask = self.text_encoder(cond if cond is not None else self.null_condition(B))
        emb = self.embedding(emb)
        # 2. Encoder: keep each level's output as its skip, then halve the resolution.
        h = self.stem(x)                                           # (B, ch_0, H, W)
        skips = []
        for level in self.encoder:
            h = level(h, emb, ctx, mask)
            skips.append(h)
            if level.downsample is not None:
                h = level.downsample(h)                            # (B, ch_k, H_k / 2, W_k / 2)
        # 3. Bottleneck at the lowest resolution.
        h = self.bottleneck(h, emb, ctx, mask)
        # 4. Decoder, deepest level first: upsample, concatenate skip k, residual blocks.
        for k in reversed(range(cfg.levels)):
            h = self.decoder[k](h, skips[k], emb, ctx, mask)
        # 5. Back to the input's channels: ε̂ has exactly the shape of x_t.
        return self.out(h)

    def capture_keys(self) -> list[str]:
        """Every module path that `capture` can record, in the order data flows."""
        return [name for name, m in self.named_modules() if name and is_capture_point(name, m)]


def is_capture_point(name: str, module: nn.Module) -> bool:
    """The lesson's points of interest: levels, skips, backbone, attention maps, embeddings, FiLM."""
    parts = name.split(".")
    if name in ("bottleneck", "embedding", "time_embedding", "time_embedding.sinusoid", "text_encoder"):
        return True
    if parts[0] in ("encoder", "decoder") and len(parts) == 2:
        return True
    if parts[-1] in ("skip", "upsample", "film") or parts[-1] == "probs" and "text_encoder" not in parts:
        return True
    return False


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
