"""Pictures with PIL only: grids, labelled panels, upscaling without blur, and the trajectory GIF.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from diffviz.data.pixels import to_uint8

# ---------------------------------------------------------------- PIL images

def grid_image(x, ncol: int = 8, pad: int = 2, scale: int = 1) -> Image.Image:
    """Images (N, C, H, W) in [-1, 1] -> one PIL grid, nearest-neighbour scaled by ``scale``."""
    imgs = to_uint8(x)                                          # (N, H, W, C)
    n, h, w, c = imgs.shape
    nrow = -(-n // ncol)
    canvas = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 40, np.uint8)
    for i, im in enumerate(imgs):
        r, q = divmod(i, ncol)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = im
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def save_grid(x, path, ncol: int = 8, scale: int = 3) -> Path:
    """Write a sample grid as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(x, ncol, scale=scale).save(path)
    return path


def upscale(x, width: int = 224) -> Image.Image:
    """(C, H, W) in [-1, 1] -> a PIL image about ``width`` pixels wide, nearest-neighbour."""
    x = np.asarray(x, dtype=np.float32)
    im = to_uint8(x)
    im = im[..., 0] if im.shape[-1] == 1 else im
    img = Image.fromarray(im)
    s = max(1, width // img.width)
    return img.resize((img.width * s, img.height * s), Image.NEAREST)


def signed_limit(*arrays) -> float:
    """One symmetric colour limit for signed tensors: max |value| over everything given (≥ 1e-6).

    Pass a whole trajectory (all steps), not one frame, so the colours mean the same at every step.
    """
    m = max(float(np.max(np.abs(np.asarray(a, dtype=np.float32)))) for a in arrays)
    return max(m, 1e-6)


def _rgb_uint8(x, signed: bool, limit: float) -> np.ndarray:
    """(C, H, W) -> uint8 (H, W, 3): grey / RGB in [-1, 1], or the diverging map for signed 1-channel."""
    x = np.asarray(x, dtype=np.float32)
    if signed:
        from matplotlib import colormaps
        if x.shape[0] == 1:
            v = np.clip(x[0] / (2 * limit) + 0.5, 0, 1)
            return (colormaps["RdBu_r"](v)[..., :3] * 255 + 0.5).astype(np.uint8)
        return to_uint8(np.clip(x / limit, -1, 1))              # RGB noise: each channel ±limit
    im = to_uint8(np.clip(x, -1, 1))
    return np.repeat(im, 3, axis=-1) if im.shape[-1] == 1 else im


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                           # Pillow < 10.1
        return ImageFont.load_default()


def panel_image(images, labels, signed=None, limits=None, scale: int = 8, title: str | None = None) -> Image.Image:
    """A labelled row of (C, H, W) tensors as one PIL image (nearest-neighbour), e.g. the current view.

    signed[i]: use the diverging map with ±limits[i] (else grey -1..1).
    """
    n = len(images)
    signed = signed or [False] * n
    limits = limits or [1.0] * n
    tiles = [Image.fromarray(_rgb_uint8(x, s, lim)) for x, s, lim in zip(images, signed, limits)]
    tiles = [t.resize((t.width * scale, t.height * scale), Image.NEAREST) for t in tiles]
    w, h = tiles[0].size
    pad, label_h = 12, 34
    top = label_h + (label_h if title else 0)
    # a dark frame with light text: reads the same on a light or a dark page, and in a slide deck
    canvas = Image.new("RGB", (n * w + (n + 1) * pad, h + top + pad), (38, 39, 48))
    draw = ImageDraw.Draw(canvas)
    font = _font(22)
    if title:
        draw.text((pad, 6), title, fill=(250, 250, 250), font=font)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        x0 = pad + i * (w + pad)
        draw.text((x0, top - label_h + 4), label, fill=(250, 250, 250), font=font)
        canvas.paste(tile, (x0, top))
    return canvas


def png_bytes(img: Image.Image) -> bytes:
    """A PIL image as PNG bytes (for downloads)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def trajectory_gif(x_t, pred_x0, timesteps, final=None, scale: int = 6, ms: int = 90,
                   max_frames: int = 100) -> bytes:
    """An animated GIF of a sampling run: x_t (left) and x̂0 (right) at every step, then x0.

    x_t, pred_x0: (S, C, H, W) in about [-1, 1] (one sample). Each frame is captioned with its
    step and t. Runs longer than ``max_frames`` steps show evenly spaced steps (first and last
    included). The last frame (the finished image) is held for a second.
    """
    x_t, pred_x0 = np.asarray(x_t, np.float32), np.asarray(pred_x0, np.float32)
    S = len(timesteps)
    shown = np.unique(np.linspace(0, S - 1, min(S, max_frames)).round().astype(int))
    frames = []
    for i in shown:
        frames.append(panel_image([x_t[i], pred_x0[i]], ["x_t", "x0 guess"], scale=scale,
                                  title=f"step {i}/{S - 1}   t = {int(timesteps[i])}"))
    durations = [ms] * len(frames)
    if final is not None:
        f = np.asarray(final, np.float32)
        frames.append(panel_image([f, f], ["x0 (final)", "x0 (final)"], scale=scale, title=f"done: x0 after {S} steps"))
        durations.append(1200)
    frames = [f.convert("P", palette=Image.ADAPTIVE, colors=255) for f in frames]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   disposal=1, optimize=False)
    return buf.getvalue()
