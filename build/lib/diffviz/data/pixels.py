"""Model values to display pixels: [-1, 1] floats (..., C, H, W) to uint8 (..., H, W, C).

One conversion for the digits, the shapes, their checker and every picture. May import nothing of diffviz.
"""

from __future__ import annotations

import numpy as np


def to_uint8(x) -> np.ndarray:
    """[-1, 1] float (..., C, H, W) (numpy or torch) -> uint8 (..., H, W, C); uint8 (H, W, C) passes through."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x                                                  # already display pixels (H, W, C)
    x = np.clip((x.astype(np.float32) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return np.moveaxis(x, -3, -1)
