"""A learner's drawing: from the canvas's grid to the model's input, and to a short permalink value.

The canvas sends its picture reduced to the model's size at 4 bits per value (0..15): a
(C, S, S) grid, C = 1 for the digit models (white ink on black, 28×28) and C = 3 for the shapes
model (colours on black, 32×32). That grid *is* the drawing: the link stores it and the page
rebuilds the model's input from it, so a fresh browser opening the link sees the same pictures.

The digit models get their input the way MNIST's digits were made (LeCun et al.): the ink's
bounding box is scaled to fit 20×20 keeping its aspect ratio, then placed in 28×28 so that its
centre of mass sits at the centre. The shapes model gets the drawing as it is (where a shape sits
is part of its caption). Inputs are float32 in [-1, 1] (black −1, full ink +1).

Link codec: a 2-byte header (version·channels, size), the 4-bit values packed two per byte,
zlib, base64url without padding: a few hundred characters for a typical digit. Decoding is
strict: wrong characters, a cut or tampered value, an oversized one or a wrong length raise
`DrawingError` with a sentence a student can read.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

LEVELS = 16                    # 4 bits per value
MAX_CODE_CHARS = 4000          # a 32×32 RGB scribble compresses far below this
VERSION = 1
SIZES = (28, 32)               # the digit models' and the shapes model's image sizes
CHANNELS = (1, 3)
INK = 2 / 15                   # a value above this (on 0..1) counts as ink for the bounding box
DOT_SIDE = 4                   # a drawing whose ink fits in 4×4 of 28×28 is "a dot": not blown up


class DrawingError(ValueError):
    """A drawing or link value that cannot be used; the message says why, in plain words."""


@dataclass
class Prepared:
    """The model's input made from a drawing, and what a student should know about it."""

    x: np.ndarray                                  # (C, S, S) float32 in [-1, 1]
    notes: list[str] = field(default_factory=list)  # plain sentences (an odd drawing, a fix made)


# ---------------------------------------------------------------- the permalink codec

def encode(grid: np.ndarray) -> str:
    """A (C, S, S) grid of integers 0..15 -> the link's value (base64url, no padding)."""
    grid = check_grid(grid)
    c, s = grid.shape[0], grid.shape[1]
    flat = grid.astype(np.uint8).ravel()
    if flat.size % 2:
        flat = np.append(flat, 0)
    packed = (flat[0::2] << 4) | flat[1::2]                     # two values per byte
    raw = bytes([VERSION << 4 | c, s]) + packed.tobytes()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode("ascii").rstrip("=")


def decode(code: str) -> np.ndarray:
    """The link's value -> the (C, S, S) uint8 grid (0..15); `DrawingError` says what is wrong."""
    if not isinstance(code, str) or not code.strip():
        raise DrawingError("the drawing's value is empty")
    code = code.strip()
    if len(code) > MAX_CODE_CHARS:
        raise DrawingError(f"the drawing's value is too long ({len(code)} characters; at most {MAX_CODE_CHARS})")
    if not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in code):
        raise DrawingError("the drawing's value holds characters a drawing never has (only A–Z, a–z, 0–9, - and _)")
    try:
        blob = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    except (binascii.Error, ValueError):
        raise DrawingError("the drawing's value was cut or changed (it is not valid base64)") from None
    limit = 2 + max(SIZES) ** 2 * max(CHANNELS) // 2 + 1
    d = zlib.decompressobj()
    try:
        raw = d.decompress(blob, limit + 1)
    except zlib.error:
        raise DrawingError("the drawing's value was cut or changed (it does not decompress)") from None
    if len(raw) > limit or d.unconsumed_tail:
        raise DrawingError("the drawing's value unpacks to more than any drawing holds")
    if not d.eof:
        raise DrawingError("the drawing's value was cut short")
    if d.unused_data:
        raise DrawingError("the drawing's value has extra data after its end")
    if len(raw) < 2:
        raise DrawingError("the drawing's value has no header")
    version, c, s = raw[0] >> 4, raw[0] & 0x0F, raw[1]
    if version != VERSION:
        raise DrawingError(f"the drawing's value has format version {version}; this app reads version {VERSION}")
    if c not in CHANNELS or s not in SIZES:
        raise DrawingError(f"the drawing's value claims {c} channel(s) of {s}×{s}, which no model here uses")
    n = c * s * s
    want = (n + 1) // 2
    if len(raw) - 2 != want:
        raise DrawingError(f"the drawing's value holds {len(raw) - 2} bytes of pixels; a {c}×{s}×{s} drawing has {want}")
    packed = np.frombuffer(raw[2:], dtype=np.uint8)
    flat = np.empty(want * 2, np.uint8)
    flat[0::2], flat[1::2] = packed >> 4, packed & 0x0F
    return flat[:n].reshape(c, s, s)


def check_grid(grid) -> np.ndarray:
    """A grid from the canvas or a caller, checked: (C, S, S) integers 0..15 with C and S a model's."""
    a = np.asarray(grid)
    if a.ndim != 3 or a.shape[0] not in CHANNELS or a.shape[1] != a.shape[2] or a.shape[1] not in SIZES:
        raise DrawingError(f"a drawing is 1 or 3 channels of 28×28 or 32×32 values, not shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
        raise DrawingError("a drawing's values must be numbers")
    if (a < 0).any() or (a > LEVELS - 1).any() or (a != np.round(a)).any():
        raise DrawingError("a drawing's values must be whole numbers 0..15")
    return a.astype(np.uint8)


def from_hex(text: str, channels: int, size: int) -> np.ndarray:
    """The canvas's message (one hex digit per value, channel-major) -> the (C, S, S) grid."""
    n = channels * size * size
    if not isinstance(text, str) or len(text) != n:
        raise DrawingError(f"the canvas sent {len(text) if isinstance(text, str) else 'no'} values; expected {n}")
    try:
        vals = np.frombuffer(bytes.fromhex("".join("0" + ch for ch in text)), dtype=np.uint8)
    except ValueError:
        raise DrawingError("the canvas sent something that is not a drawing") from None
    return vals.reshape(channels, size, size)


def to_hex(grid: np.ndarray) -> str:
    """The (C, S, S) grid as the canvas reads it: one hex digit per value."""
    return "".join("0123456789abcdef"[v] for v in check_grid(grid).ravel())


def quantize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> integers 0..15 (the link's 4 bits)."""
    return np.clip(np.round(np.asarray(values, np.float64) * (LEVELS - 1)), 0, LEVELS - 1).astype(np.uint8)


def blank(channels: int, size: int) -> np.ndarray:
    """An empty canvas's grid."""
    return np.zeros((channels, size, size), np.uint8)


# ---------------------------------------------------------------- drawing -> model input

def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    im = Image.fromarray(a.astype(np.float32), mode="F")
    shrink = h <= a.shape[0] and w <= a.shape[1]
    return np.asarray(im.resize((w, h), Image.LANCZOS if shrink else Image.BILINEAR), dtype=np.float32)


def mnist_style(g: np.ndarray, size: int = 28, box: int = 20) -> Prepared:
    """A grey (S, S) drawing in [0, 1] -> the MNIST-style (1, size, size) input, with notes.

    The ink's bounding box is fitted into box×box (aspect ratio kept), then placed so its centre
    of mass is at the image's centre (shifted no further than keeps all the ink inside).
    """
    g = np.clip(np.asarray(g, np.float32), 0, 1)
    notes = []
    ys, xs = np.nonzero(g > INK)
    if len(ys) == 0:
        raise DrawingError("The canvas is empty: draw a digit (white on black) first.")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    if y0 == 0 or x0 == 0 or y1 == g.shape[0] or x1 == g.shape[1]:
        notes.append("Your drawing touches the edge of the canvas; anything beyond the edge is lost.")
    crop = g[y0:y1, x0:x1]
    h, w = crop.shape
    if (g > INK).mean() > 0.9:
        notes.append("The canvas is almost all ink: the model sees a solid block, not a digit.")
    if max(h, w) <= DOT_SIDE * g.shape[0] / 28:
        notes.append("That is only a dot: it is centred as it is, not blown up to digit size.")
        scaled = crop
    else:
        s = box / max(h, w)
        scaled = np.clip(_resize(crop, max(1, round(h * s)), max(1, round(w * s))), 0, 1)
    sh, sw = scaled.shape
    mass = scaled.sum()
    cy = (scaled.sum(1) @ np.arange(sh)) / mass if mass > 0 else (sh - 1) / 2
    cx = (scaled.sum(0) @ np.arange(sw)) / mass if mass > 0 else (sw - 1) / 2
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - sh))   # centre of mass at the centre,
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - sw))  # never pushing ink off the image
    out = np.zeros((size, size), np.float32)
    out[top:top + sh, left:left + sw] = scaled
    return Prepared((out * 2 - 1)[None], notes)


def model_input(grid: np.ndarray, channels: int, size: int) -> Prepared:
    """A drawing's (C, S, S) grid (0..15) -> the model's input (C, size, size) in [-1, 1], with notes.

    One channel: MNIST-style (`mnist_style`). Three channels: the colours as drawn, on black.
    A drawing of the wrong kind for this model (grey for a colour model or colour for a digit model)
    is converted (grey repeated, or colour averaged) with a note.
    """
    grid = check_grid(grid)
    v = grid.astype(np.float32) / (LEVELS - 1)                     # (C, S, S) in [0, 1]
    notes = []
    if v.shape[0] != channels:
        notes.append("The drawing was made for another model; its colours were converted.")
        v = np.repeat(v, channels, axis=0) if v.shape[0] == 1 else v.max(axis=0, keepdims=True)
    if v.shape[1] != size:
        v = np.stack([np.clip(_resize(ch, size, size), 0, 1) for ch in v])
    if channels == 1:
        p = mnist_style(v[0], size)
        p.notes[:0] = notes
        return p
    if v.max() <= INK:
        raise DrawingError("The canvas is empty: draw a shape first.")
    if (v.max(axis=0) > INK).mean() > 0.9:
        notes.append("The canvas is almost all colour: the model sees a solid block, not a scene.")
    return Prepared((v * 2 - 1).astype(np.float32), notes)
