"""The clean picture a page starts from: a held-out digit, an upload, a drawing, or the caption's scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from diffviz.app.notices import plain
from diffviz.app.params import choice_param, int_param
from diffviz.app.render import image
from diffviz.app.settings import Settings

# ---------------------------------------------------------------- a picture to noise

@dataclass
class Picture:
    """A clean image x0 for the forward-process views, and what it shows."""

    x0: np.ndarray                     # (C, H, W) in [-1, 1]
    condition: object                  # the label or caption the model is told
    description: str                   # plain text, for a caption
    key: str                           # short identifier (for file names)
    what: str = "the image"            # how a sentence names it ("the 7", "the shapes")


@st.cache_data(show_spinner="Loading the held-out MNIST digits…", max_entries=1)
def _held_digits():
    from diffviz.data import digits
    return digits.mnist("held")


def pick_picture(s: Settings, cfg, default_digit: int = 354) -> Picture:
    """Choose a clean image: a held-out digit (``digit`` link value) or an upload; a scene for RGB models.

    An upload is never written to disk or part of the link; a broken one is explained and ignored.
    """
    from diffviz.data import uploads
    upload = None
    drawn = _drawn(s, cfg)
    if drawn is not None:
        return drawn
    if cfg.in_channels == 1:
        xs, ys = _held_digits()
        c1, c2 = st.columns([1, 2])
        with c2:                                  # the upload first: while one is used, the number is inactive
            upload = _uploaded(cfg, uploads)
        i = int_param("digit", f"Held-out digit (0..{len(xs) - 1})", 0, len(xs) - 1, default_digit, where=c1,
                      kind="number", disabled=upload is not None,
                      help="Not used while your upload is shown (remove it to pick a digit again)."
                      if upload is not None else "One of the 500 MNIST digits the model never trained on.")
        if upload is not None:
            return Picture(upload[0], s.label, f"your upload ({upload[1]})", "upload", "your upload")
        return Picture(xs[i], int(ys[i]),
                       f"held-out digit #{i}, a {int(ys[i])}", f"digit{i}", f"the {int(ys[i])}")
    from diffviz.data import shapes
    upload = _uploaded(cfg, uploads)
    if upload is not None:
        return Picture(upload[0], s.prompt, f"your upload ({upload[1]})", "upload", "your upload")
    try:
        scene = shapes.parse_caption(s.prompt)
        note = f"the scene the caption describes: “{plain(s.prompt)}”"
    except ValueError as e:
        scene = shapes.random_scene(np.random.default_rng(s.seed))
        st.info(f"The caption does not describe a scene the renderer can draw ({plain(e, 200)}); "
                f"showing a random scene from the seed instead.", icon=":material/info:")
        note = f"a random scene: “{shapes.caption(scene)}”"
    x0 = shapes.render(scene).transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return Picture(x0, shapes.caption(scene), note, "scene", "the shapes")


def _drawn(s: Settings, cfg) -> Picture | None:
    """The "Picture" choice; with "draw", the canvas and your drawing's input (None: the other pictures).

    Shares the ``drawing`` link value with page 9; an empty canvas is explained and the usual picture used.
    """
    from diffviz.app import digit
    other = "held" if cfg.in_channels == 1 else "scene"
    names = {"held": "a held-out digit or an upload", "scene": "the caption's scene or an upload", "draw": "draw your own"}
    source = choice_param("picture", "Picture", [other, "draw"], "draw" if digit.PARAM in st.query_params else other,
                          widget="segmented", format_func=names.get)
    if source != "draw":
        return None
    c1, c2 = st.columns([1, 2])
    d = digit.drawing_input(cfg, key="canvas_picture", where=c1)
    with c2:
        for n in d.notes:
            st.info(n, icon=":material/draw:")
        if d.x is None:
            st.warning(f"{plain(d.problem, 200)} Showing the usual picture until you draw.", icon=":material/draw:")
            return None
        image(d.x, "the model's input x0 (made from your drawing)", width=168)
    what = "the default drawing" if d.is_default else "your drawing"
    return Picture(d.x, s.condition, what, "drawing")


def _uploaded(cfg, uploads):
    """(x0, name) from the uploader, or None; a bad file gets a warning saying what was wrong."""
    what = "a digit (dark on light paper is fine)" if cfg.in_channels == 1 else "a picture"
    f = st.file_uploader(f"…or upload {what}", type=list(uploads.FORMATS), key="upload",
                         max_upload_size=uploads.MAX_BYTES // 2**20,
                         help=f"At most {uploads.MAX_BYTES // 2**20} MB and {uploads.MAX_SIDE}×{uploads.MAX_SIDE} "
                              "pixels. Kept in memory only; not part of the link.")
    if f is None:
        return None
    try:
        x = uploads.load_upload(f.getvalue(), cfg.in_channels, cfg.image_size)
    except uploads.UploadError as e:
        st.warning(f"Your upload “{plain(f.name, 60)}” cannot be used: {plain(e, 300)} "
                   "Showing the held-out example instead.", icon=":material/broken_image:")
        return None
    return x, plain(f.name, 60)
