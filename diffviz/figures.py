"""Figure builders (plotly / PIL), no Streamlit: the app's pages and the CLIs draw with these."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from diffviz.data import to_uint8


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
