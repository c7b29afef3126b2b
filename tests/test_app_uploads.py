"""Oversized files and pixel bombs through the app's uploader (not only the library's loader).

The forward page's "…or upload" box gets each bad file; the page must say why the file cannot be
used, keep showing the held-out example, never show an exception or an error box, and never decode
a picture whose header is already too large.
"""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from apptest import app
from PIL import Image, ImageFile

from diffviz.data import uploads

pytestmark = pytest.mark.usefixtures("as_served")   # conftest: every run goes through app.py


def encode(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def forged_header(w: int, h: int) -> bytes:
    """A valid 8×8 PNG whose header claims w×h pixels (a pixel bomb before decoding)."""
    d = bytearray(encode(Image.new("L", (8, 8))))
    d[16:24] = struct.pack(">II", w, h)
    d[29:33] = struct.pack(">I", zlib.crc32(bytes(d[12:29])))
    return bytes(d)


BAD_FILES = {
    # name: (bytes, words the notice must contain)
    "padded.png": (encode(Image.new("L", (28, 28))) + b"\0" * uploads.MAX_BYTES, "limit is 5 MB"),
    "bomb.png": (forged_header(100_000, 100_000), "too many pixels"),
    "real-bomb.png": (encode(Image.new("1", (5000, 5000))), "5000×5000 pixels"),   # a real 5000² file, ~4 kB
    "long<b>side</b>.png": (forged_header(5000, 100), "5000×100 pixels"),
}


def x0_of(at) -> str:
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith("-x0"):
            return json.dumps(json.loads(el.proto.spec)["data"])
    raise KeyError("no x0 figure")


@pytest.mark.parametrize("model", ["mnist", "shapes"])
def test_oversized_files_and_pixel_bombs_are_refused_with_a_reason(model, monkeypatch):
    decoded = []
    load = ImageFile.ImageFile.load

    def counting_load(self):
        decoded.append(self.size)
        return load(self)
    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    at = app("pages/forward.py", model=model)
    shown = x0_of(at)
    for name, (data, words) in BAD_FILES.items():
        decoded.clear()
        at.file_uploader(key="upload").set_value((name, data, "image/png")).run()
        where = f"{model}: {name} ({len(data)} bytes)"
        assert not at.exception and not at.error, (where, at.exception, at.error)
        notes = " ".join(w.value for w in at.warning)
        assert "cannot be used" in notes and words in notes, (where, notes)
        assert x0_of(at) == shown, f"{where}: the page no longer shows the example"
        assert not any(w * h > uploads.MAX_PIXELS for w, h in decoded), (where, "decoded", decoded)
        assert "<b>" not in notes                                 # the file's name is shown as text
