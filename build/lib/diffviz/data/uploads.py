"""Turn an uploaded file into a model input, safely: (C, size, size) float32 in [-1, 1].

The bytes stay in memory (never written to disk, never unpickled: only Pillow's image decoders
read them). Checked before decoding: the byte count, that Pillow recognises the format, and the
pixel count from the header (a 20000×20000 "pixel bomb" is refused before it is decompressed).
Then every mode Pillow opens is brought to grey or RGB: 16-bit and 32-bit grey are rescaled,
alpha is composited on black, palette / CMYK / YCbCr / LAB are converted, and an animation keeps
its first frame. The image is fitted into the square and centred; for a one-channel (MNIST)
model a light background is inverted (digits are white on black) and the digit is fitted into
the central 20×20 of 28×28, as in MNIST itself.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 5 * 2**20                 # also .streamlit/config.toml server.maxUploadSize = 5 (MB)
MAX_SIDE = 4096                       # pixels per side, checked from the header before decoding
MAX_PIXELS = MAX_SIDE * MAX_SIDE
FORMATS = ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)   # ITU-R 601 grey from RGB


class UploadError(ValueError):
    """An upload that cannot be used; the message says why, in words a student understands."""


def _open(data: bytes) -> Image.Image:
    """Open (header only) with decompression-bomb checks turned into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadError(f"The image has too many pixels (more than {MAX_SIDE}×{MAX_SIDE}); "
                              "it looks like a decompression bomb. Upload a smaller image.") from None
        except UnidentifiedImageError:
            raise UploadError("This file is not an image Pillow can read. Upload a PNG, JPEG, GIF, BMP, "
                              "WebP or TIFF picture.") from None
        except Exception as e:                              # broken headers raise all sorts of things
            raise UploadError(f"This file could not be read as an image ({type(e).__name__}).") from None
    return im


def _decode(im: Image.Image) -> Image.Image:
    """Size check, first frame, decode (with bomb warnings as errors)."""
    w, h = im.size
    if w < 1 or h < 1:
        raise UploadError("The image has no pixels.")
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise UploadError(f"The image is {w}×{h} pixels; the limit is {MAX_SIDE}×{MAX_SIDE}. "
                          "Upload a smaller image.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)                                  # an animation: its first frame
            im.load()
            try:
                im = ImageOps.exif_transpose(im)            # phone photos: upright as taken
            except Exception:
                pass
        except UploadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadError(f"The image has too many pixels (more than {MAX_SIDE}×{MAX_SIDE}).") from None
        except Exception as e:
            raise UploadError(f"The image data is damaged or truncated ({type(e).__name__}).") from None
    return im


def to_float(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> float32 (H, W) grey or (H, W, 3) RGB in [0, 1]; alpha composited on black."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float32)
        if mode.startswith("I;16"):
            return np.clip(a / 65535.0, 0, 1)
        top = float(a.max()) if a.size else 0.0
        for hi in (1.0, 255.0, 65535.0):                    # the smallest usual range that holds the data
            if top <= hi and (hi > 1.0 or mode == "F"):
                break
        else:
            hi = top
        return np.clip(a / hi, 0, 1)
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    if mode in ("P", "PA"):
        im = im.convert("RGBA")                             # the palette may carry transparency
    elif mode == "LA":
        a = np.asarray(im, dtype=np.float32) / 255.0
        return a[..., 0] * a[..., 1]
    if im.mode in ("RGBA", "RGBa"):
        a = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return a[..., :3] * a[..., 3:4]                     # composite on black
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0   # RGB, CMYK, YCbCr, LAB, HSV


def _fit(a: np.ndarray, box: int, size: int) -> np.ndarray:
    """Resize (keeping the aspect ratio) to fit ``box``×``box`` and centre on a black size×size square."""
    h, w = a.shape[:2]
    s = box / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    chans = [a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[2])]
    out = []
    for ch in chans:
        small = np.asarray(Image.fromarray(ch.astype(np.float32), mode="F").resize((nw, nh), Image.BOX
                                                                                   if s < 1 else Image.BILINEAR))
        canvas = np.zeros((size, size), np.float32)
        y0, x0 = (size - nh) // 2, (size - nw) // 2
        canvas[y0:y0 + nh, x0:x0 + nw] = small
        out.append(canvas)
    return np.stack(out)                                    # (C, size, size)


def _digit_like(g: np.ndarray, size: int) -> np.ndarray:
    """A grey image -> an MNIST-like (1, size, size): white on black, cropped, fitted into 20/28."""
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:                             # light background: dark ink on paper
        g = 1.0 - g
    lo, hi = float(np.percentile(g, 1)), float(g.max())
    if hi - lo > 1e-3:                                      # stretch faint ink to the full range
        g = np.clip((g - lo) / (hi - lo), 0, 1)
    ys, xs = np.nonzero(g > 0.2)
    if len(ys):
        g = g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return _fit(g, max(1, round(size * 20 / 28)), size)


def load_upload(data: bytes, channels: int, size: int) -> np.ndarray:
    """Uploaded bytes -> (channels, size, size) float32 in [-1, 1]; raises `UploadError` with the reason."""
    if channels not in (1, 3):
        raise ValueError("channels must be 1 or 3")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UploadError("The upload is not a file's bytes.")
    if len(data) == 0:
        raise UploadError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise UploadError(f"The file is {len(data) / 2**20:.2f} MB; the limit is {MAX_BYTES // 2**20} MB.")
    im = _decode(_open(bytes(data)))
    a = to_float(im)
    if channels == 1:
        g = a if a.ndim == 2 else a @ _LUMA
        out = _digit_like(g, size)
    else:
        rgb = a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2)
        out = _fit(rgb, size, size)
    if not np.isfinite(out).all():
        raise UploadError("The image holds values that are not numbers.")
    return (np.clip(out, 0, 1) * 2 - 1).astype(np.float32)
