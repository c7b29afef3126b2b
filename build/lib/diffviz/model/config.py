"""The configuration dataclasses, saved as JSON next to every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass
class UNetConfig:
    """Everything that fixes the shape of a U-Net. Levels are numbered by resolution: 0 = full size."""

    image_size: int = 28              # input height = width
    in_channels: int = 1              # 1 for MNIST, 3 for RGB
    base_channels: int = 32           # channels at level 0
    channel_mults: tuple = (1, 2, 2)  # level k has base_channels * channel_mults[k] channels
    blocks_per_level: int = 1         # residual blocks per encoder level (decoder uses the same)
    attention_levels: tuple = (2,)    # levels with self-attention (the bottleneck always has it)
    cross_levels: tuple = ()          # text models: extra levels with cross-attention only (cheap)
    heads: int = 4                    # attention heads
    dropout: float = 0.0
    upsample: str = "transposed"      # "transposed" (the lesson's) or "nearest" (nearest + conv)
    use_skips: bool = True            # False: the decoder never sees encoder features
    use_attention: bool = True        # False: no attention blocks at all (class label still conditions)
    use_time: bool = True             # False: the network is never told t
    conditioning: str = "class"       # "none" | "class" | "text"
    num_classes: int = 10             # for "class"; label num_classes is the null label for CFG
    vocab_size: int = 0               # for "text": tokenizer vocabulary size (token 0 = padding)
    max_tokens: int = 0               # for "text": caption length in tokens
    text_dim: int = 64                # for "text": width of the text encoder's token features
    text_layers: int = 1              # for "text": transformer layers in the text encoder
    pixel_positions: bool = False     # attention blocks add a learned "where am I" vector per pixel
    text_phrases: bool = False        # for "text": each word attends only to its own phrase (split at "and")

    def __post_init__(self):
        self.channel_mults = tuple(self.channel_mults)
        self.attention_levels = tuple(self.attention_levels)
        self.cross_levels = tuple(self.cross_levels)
        if self.conditioning not in ("none", "class", "text"):
            raise ValueError(f"conditioning must be none, class or text, not {self.conditioning!r}")
        if self.upsample not in ("transposed", "nearest"):
            raise ValueError(f"upsample must be transposed or nearest, not {self.upsample!r}")
        n = len(self.channel_mults)
        if self.image_size % 2 ** (n - 1):
            raise ValueError(f"image_size {self.image_size} does not halve cleanly {n - 1} times")
        bad = [k for k in self.attention_levels + self.cross_levels if not 0 <= k < n]
        if bad:
            raise ValueError(f"attention_levels {bad} outside levels 0..{n - 1}")
        if self.conditioning == "text" and (self.vocab_size < 4 or self.max_tokens < 2):
            raise ValueError("text conditioning needs vocab_size and max_tokens")

    @property
    def levels(self) -> int:
        return len(self.channel_mults)

    @property
    def channels(self) -> list[int]:
        """Channels at each level, e.g. [32, 64, 64]."""
        return [self.base_channels * m for m in self.channel_mults]

    @property
    def time_dim(self) -> int:
        return 4 * self.base_channels

    def resolution(self, level: int) -> int:
        return self.image_size // 2 ** level

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown UNetConfig fields: {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def preset(name: str, **overrides) -> UNetConfig:
    """The named configurations the zoo is trained from."""
    presets = {
        # MNIST digits 28 -> 14 -> 7 (32/64/128 channels, 2.1M parameters); self-attention at 7x7 and in the bottleneck; class labels.
        "mnist": dict(image_size=28, in_channels=1, base_channels=32, channel_mults=(1, 2, 4),
                      blocks_per_level=1, attention_levels=(2,), heads=4, conditioning="class"),
        # Captioned shapes 32 -> 16 -> 8, RGB; self- and cross-attention at 8x8, cross only at 16x16;
        # a 3-layer text encoder whose words read only their own phrase (so "red" carries its
        # phrase's "top left") and pixel positions (a pixel's query knows where it is, so it can
        # pick the phrase that names its place).
        "shapes": dict(image_size=32, in_channels=3, base_channels=32, channel_mults=(1, 2, 4),
                       blocks_per_level=1, attention_levels=(2,), cross_levels=(1,), heads=4,
                       conditioning="text", text_layers=3, pixel_positions=True, text_phrases=True),
        # A tiny network for tests.
        "tiny": dict(image_size=8, in_channels=1, base_channels=8, channel_mults=(1, 2),
                     blocks_per_level=1, attention_levels=(1,), heads=2, conditioning="class"),
    }
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(presets)}")
    cfg = dict(presets[name])
    if name == "shapes" and "vocab_size" not in overrides:
        from diffviz.data import text
        cfg.update(vocab_size=len(text.VOCAB), max_tokens=text.MAX_TOKENS)
    cfg.update(overrides)
    return UNetConfig.from_dict(cfg)   # a mistyped override is a ValueError naming the field
