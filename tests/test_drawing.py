"""The drawing -> model input (MNIST-style) and the permalink codec, with broken and odd drawings."""

import base64
import zlib

import numpy as np
import pytest

from diffviz.data import drawing
from diffviz.data.drawing import DrawingError


def one(size=28, top=3, bottom=25, col=14, width=3) -> np.ndarray:
    """A vertical stroke: a "1", as a (1, S, S) 0..15 grid."""
    g = np.zeros((1, size, size), np.uint8)
    g[0, top:bottom, col:col + width] = 15
    return g


def zero(size=28) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot((yy - 12) / 9, (xx - 9) / 6)
    return ((np.abs(r - 1) < 0.25) * 15).astype(np.uint8)[None]


@pytest.mark.parametrize("grid", [one(), zero(), np.random.default_rng(0).integers(0, 16, (3, 32, 32))])
def test_codec_round_trip(grid):
    code = drawing.encode(grid)
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    np.testing.assert_array_equal(drawing.decode(code), grid)


def test_a_typical_digit_is_a_few_hundred_characters():
    assert len(drawing.encode(zero())) < 300
    assert len(drawing.encode(one())) < 100


def _raw_code(raw: bytes) -> str:
    return base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")


@pytest.mark.parametrize("code, words", [
    ("", "empty"),
    ("A" * 5000, "too long"),
    ("abc$%", "characters"),
    ("a", "base64"),
    (_raw_code(bytes([0x11, 28]) + bytes(10)), "bytes of pixels"),        # wrong length
    (_raw_code(bytes([0x12, 28]) + bytes(392)), "no model"),              # 2 channels
    (_raw_code(bytes([0x21, 28]) + bytes(392)), "version"),
    (_raw_code(bytes([0x11, 28]) + bytes(200_000)), "more than"),         # a zip bomb
    (base64.urlsafe_b64encode(b"not zlib at all").decode(), "decompress"),
])
def test_bad_codes_are_explained(code, words):
    with pytest.raises(DrawingError, match=words):
        drawing.decode(code)


def test_cut_and_tampered_codes_are_refused():
    code = drawing.encode(zero())
    with pytest.raises(DrawingError):
        drawing.decode(code[: len(code) // 2])
    flipped = code[:20] + ("A" if code[20] != "A" else "B") + code[21:]
    with pytest.raises(DrawingError):
        drawing.decode(flipped)


def test_hex_message_round_trip_and_refusals():
    g = zero()
    assert (drawing.from_hex(drawing.to_hex(g), 1, 28) == g).all()
    with pytest.raises(DrawingError, match="expected 784"):
        drawing.from_hex("0" * 10, 1, 28)
    with pytest.raises(DrawingError, match="not a drawing"):
        drawing.from_hex("z" * 784, 1, 28)
    with pytest.raises(DrawingError, match="0..15"):
        drawing.check_grid(np.full((1, 28, 28), 16))


def test_mnist_style_fits_20_and_centres_the_mass():
    p = drawing.model_input(one(top=0, bottom=10, col=0), 1, 28)       # a small stroke in a corner
    x = (p.x[0] + 1) / 2
    assert x.shape == (28, 28) and p.x.min() >= -1 and p.x.max() <= 1
    ys, _ = np.nonzero(x > drawing.INK)
    assert ys.max() - ys.min() + 1 == 20                                # the long side is 20
    cy, cx = (x.sum(1) @ np.arange(28)) / x.sum(), (x.sum(0) @ np.arange(28)) / x.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1
    assert any("edge" in n for n in p.notes)


def test_same_digit_anywhere_gives_the_same_input():
    a = drawing.model_input(zero(), 1, 28).x
    shifted = np.roll(zero(), (3, 5), axis=(1, 2))
    np.testing.assert_allclose(drawing.model_input(shifted, 1, 28).x, a, atol=1e-6)


def test_odd_drawings_get_a_message_not_an_exception():
    with pytest.raises(DrawingError, match="empty"):
        drawing.model_input(drawing.blank(1, 28), 1, 28)
    dot = drawing.blank(1, 28)
    dot[0, 5, 7] = 15
    p = drawing.model_input(dot, 1, 28)
    assert any("dot" in n for n in p.notes) and (p.x > 0).sum() == 1 and p.x[0, 13:15, 13:15].max() > 0
    full = np.full((1, 28, 28), 15, np.uint8)
    p = drawing.model_input(full, 1, 28)
    assert any("solid" in n for n in p.notes) and (p.x[0, 4:24, 4:24] > 0.9).all() and p.x[0, 0, 0] == -1
    with pytest.raises(DrawingError, match="empty"):
        drawing.model_input(drawing.blank(3, 32), 3, 32)


def test_colour_drawings_keep_place_and_convert_between_models():
    g = drawing.blank(3, 32)
    g[0, 4:10, 4:10] = 15                                                # a red square, top left
    p = drawing.model_input(g, 3, 32)
    assert p.x.shape == (3, 32, 32) and p.x[0, 5, 5] == 1 and p.x[1, 5, 5] == -1 and not p.notes
    grey = drawing.model_input(g, 1, 28)                                 # for a digit model: grey
    assert grey.x.shape == (1, 28, 28) and any("converted" in n for n in grey.notes)
    rgb = drawing.model_input(zero(), 3, 32)
    assert rgb.x.shape == (3, 32, 32)


def test_quantize():
    assert drawing.quantize(np.array([0, 0.5, 1, 2, -1])).tolist() == [0, 8, 15, 15, 0]
