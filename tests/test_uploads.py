"""Uploads: every kind of bad file is refused with a clear message; every usable one becomes (C, S, S) in [-1, 1]."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from diffviz.data import uploads
from diffviz.data.uploads import UploadError, load_upload

torch.set_num_threads(1)


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def dark_digit_on_paper(h=60, w=40) -> np.ndarray:
    """A light page with a dark vertical stroke (a "1"), uint8 (H, W)."""
    a = np.full((h, w), 230, np.uint8)
    a[10:50, 16:24] = 20
    return a


def png_with_size(w: int, h: int) -> bytes:
    """A valid 8×8 PNG whose header claims w×h pixels (what a pixel bomb looks like before decoding)."""
    d = bytearray(encode(Image.new("L", (8, 8))))
    d[16:24] = struct.pack(">II", w, h)                       # IHDR width, height
    d[29:33] = struct.pack(">I", zlib.crc32(bytes(d[12:29])))  # IHDR's CRC
    return bytes(d)


def check_output(x, channels, size):
    assert x.shape == (channels, size, size) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= -1 and x.max() <= 1


# ---------------------------------------------------------------- refused, with the reason

@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"this is a text file, not a picture\n" * 3, "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
    (b"\0" * (uploads.MAX_BYTES + 1), "limit is 5 MB"),
], ids=["empty", "text", "broken-header", "too-many-bytes"])
def test_refused_files_say_why(data, words):
    with pytest.raises(UploadError, match=words):
        load_upload(data, 1, 28)


def test_truncated_image_is_refused():
    data = encode(Image.fromarray(dark_digit_on_paper()))
    with pytest.raises(UploadError, match="damaged or truncated"):
        load_upload(data[: len(data) // 2], 1, 28)


@pytest.mark.parametrize("w, h", [(20000, 20000), (100000, 100000)])
def test_pixel_bomb_refused_before_decoding(w, h, monkeypatch):
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1))   # the decoder
    with pytest.raises(UploadError, match="too many pixels"):
        load_upload(png_with_size(w, h), 1, 28)
    assert not decoded                                         # refused from the header alone


def test_oversized_side_is_refused_with_its_size():
    with pytest.raises(UploadError, match="5000×100 pixels"):
        load_upload(png_with_size(5000, 100), 3, 32)


def test_upload_error_is_a_value_error_and_bad_channels_rejected():
    assert issubclass(UploadError, ValueError)
    with pytest.raises(ValueError):
        load_upload(encode(Image.new("L", (8, 8))), 2, 28)
    with pytest.raises(UploadError):
        load_upload("not bytes", 1, 28)


# ---------------------------------------------------------------- usable, in every mode

def modes() -> dict:
    g = dark_digit_on_paper()
    rgba = np.dstack([g, g, g, np.full_like(g, 255)])
    return {
        "L": encode(Image.fromarray(g)),
        "I;16": encode(Image.fromarray(g.astype(np.uint16) * 257)),
        "RGB": encode(Image.fromarray(np.dstack([g, g, g]))),
        "RGBA": encode(Image.fromarray(rgba, "RGBA")),
        "P": encode(Image.fromarray(g).convert("P")),
        "CMYK": encode(Image.fromarray(g).convert("CMYK"), "JPEG", quality=95),
        "1": encode(Image.fromarray(g).convert("1")),
        "F": encode(Image.fromarray(g.astype(np.float32) / 255), "TIFF"),
        "GIF": encode(Image.fromarray(g).convert("P"), "GIF", save_all=True,
                      append_images=[Image.fromarray(255 - g).convert("P")], duration=100),
        "BMP": encode(Image.fromarray(g), "BMP"),
        "WEBP": encode(Image.fromarray(np.dstack([g, g, g])), "WEBP", lossless=True),
    }


@pytest.mark.parametrize("mode", list(modes()))
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_every_mode_becomes_a_model_input(mode, channels, size):
    x = load_upload(modes()[mode], channels, size)
    check_output(x, channels, size)


@pytest.mark.parametrize("mode", ["L", "I;16", "P", "CMYK", "GIF", "F"])
def test_mnist_input_is_white_digit_on_black(mode):
    """Dark ink on light paper is inverted; the stroke is bright, the corners are black, centred."""
    x = load_upload(modes()[mode], 1, 28)[0]
    assert np.all(x[:3, :3] == -1) and np.all(x[-3:, -3:] == -1)
    assert x[14, 14] > 0.5                                      # the stroke, in the middle
    ys, xs = np.nonzero(x > 0)
    assert 11 <= ys.mean() <= 16 and 11 <= xs.mean() <= 16      # centred
    assert ys.max() - ys.min() <= 21                            # fitted into MNIST's 20×20 box


def test_white_on_black_is_not_inverted():
    g = 255 - dark_digit_on_paper()
    x = load_upload(encode(Image.fromarray(g)), 1, 28)[0]
    assert x[14, 14] > 0.5 and x[0, 0] == -1


def test_rgba_is_composited_on_black():
    a = np.zeros((32, 32, 4), np.uint8)
    a[..., 0] = 255                                             # red everywhere …
    a[8:24, 8:24, 3] = 255                                      # … but opaque only in the middle
    x = load_upload(encode(Image.fromarray(a, "RGBA")), 3, 32)
    assert np.allclose(x[:, 0, 0], -1)                          # transparent -> black
    assert x[0, 16, 16] > 0.9 and x[1, 16, 16] < -0.9           # opaque red stays red


def test_sixteen_bit_uses_its_full_range():
    a = np.zeros((32, 32), np.uint16)
    a[8:24, 8:24] = 65535
    x = load_upload(encode(Image.fromarray(a)), 3, 32)
    assert x.max() > 0.99 and x.min() == -1                     # not 65535/255 clipped, not 1/257 dark


def test_animation_uses_its_first_frame():
    first = np.zeros((32, 32), np.uint8)
    second = np.full((32, 32), 255, np.uint8)
    data = encode(Image.fromarray(first).convert("P"), "GIF", save_all=True,
                  append_images=[Image.fromarray(second).convert("P")], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert load_upload(data, 3, 32).max() < -0.9                # the black first frame


def test_grey_to_rgb_and_rgb_to_grey():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 1] = 255                                            # pure green
    grey = load_upload(encode(Image.fromarray(rgb)), 1, 28)
    check_output(grey, 1, 28)
    g = np.full((32, 32), 200, np.uint8)
    x = load_upload(encode(Image.fromarray(g)), 3, 32)
    assert np.allclose(x[0], x[1]) and np.allclose(x[1], x[2])  # grey -> equal channels


def test_wide_image_is_fitted_and_centred():
    a = np.full((10, 40, 3), 255, np.uint8)
    x = load_upload(encode(Image.fromarray(a)), 3, 32)
    rows = np.nonzero(x[0].max(axis=1) > 0)[0]
    assert x[0, 16, 0] > 0.9 and x[0, 16, 31] > 0.9             # full width …
    assert rows.min() >= 10 and rows.max() <= 21                # … and centred vertically (8 of 32 rows)


def test_nothing_is_written_to_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load_upload(modes()["RGBA"], 1, 28)
    assert list(tmp_path.iterdir()) == []
