"""Your own digit: the drawing a learner makes, carried in the link, and what the app runs on it.

The drawing lives in this session's state and in the query parameter ``drawing`` (the 4-bit codec
of `diffviz.data.drawing`), never anywhere shared: one student's drawing never reaches another
session. A bad link value gets a notice and the default drawing (a held-out digit, or the default
caption's scene for the shapes model). SDEdit runs are cached in the shared runs cache by the
drawing's bytes, so a teacher's link opened by thirty students computes once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from diffviz.app import canvas as canvas_mod
from diffviz.app import runs
from diffviz.app.notices import notice, plain
from diffviz.app.settings import Settings
from diffviz.data import drawing
from diffviz.diffusion import edit

PARAM = "drawing"
_STATE = "_drawing_code"            # this session's drawing (a code; "" = none yet: the default)
_SEEN = "_drawing_seen"             # the id of the canvas message already taken in
DEFAULT_DIGIT = 354                 # the held-out digit the forward page starts from too


@dataclass
class Drawn:
    """The drawing on the canvas and the model's input made from it."""

    grid: np.ndarray                # (C, S, S) uint8 0..15: what the canvas shows, what the link holds
    x: np.ndarray | None            # (C, size, size) float32 in [-1, 1]: the model's input (None: unusable)
    notes: list[str]                # plain sentences about an odd drawing
    problem: str | None             # why there is no input (an empty canvas), else None
    is_default: bool                # no drawing yet: the default picture
    code: str                       # the link's value for this drawing

    def digest(self) -> str:
        return hashlib.sha1(self.grid.tobytes() + bytes(self.grid.shape)).hexdigest()[:16]


@st.cache_data(show_spinner=False, max_entries=4)
def default_grid(channels: int, size: int) -> np.ndarray:
    """The drawing a page starts from: held-out MNIST digit #354 (a 1-channel model) or the default
    caption's scene (a colour model), at the canvas's 4 bits."""
    if channels == 1:
        from diffviz.data import digits
        xs, _ = digits.mnist("held")
        g = (np.asarray(xs[DEFAULT_DIGIT], np.float32)[0] + 1) / 2              # (28, 28) in [0, 1]
        return drawing.quantize(g)[None]
    from diffviz.data import shapes
    from diffviz.diffusion import defaults
    img = shapes.render(shapes.parse_caption(defaults.PROMPT)).astype(np.float32) / 255.0   # (S, S, 3)
    return drawing.quantize(img.transpose(2, 0, 1))


def _from_link(channels: int, size: int) -> str:
    """Take the link's drawing into this session once; a bad one is explained and dropped."""
    if _STATE in st.session_state:
        return st.session_state[_STATE]
    code, raw = "", st.query_params.get(PARAM)
    if raw is not None:
        try:
            grid = drawing.decode(raw)
            if grid.shape != (channels, size, size):
                raise drawing.DrawingError(f"it was drawn for a {'colour' if grid.shape[0] == 3 else 'digit'} model, "
                                           "not the one chosen")
            code = drawing.encode(grid)
        except drawing.DrawingError as e:
            notice(f"The link's drawing cannot be used: {plain(e, 200)}. Showing the default digit instead; "
                   "draw your own on the canvas.")
            del st.query_params[PARAM]
    st.session_state[_STATE] = code
    return code


def drawing_input(cfg, key: str = "canvas", where=None) -> Drawn:
    """Show the canvas (in ``where``) and return the current drawing and its model input.

    A new stroke, undo or clear replaces the session's drawing and the link's ``drawing`` value.
    """
    channels, size = cfg.in_channels, (28 if cfg.in_channels == 1 else 32)
    code = _from_link(channels, size)
    code = _take(canvas_mod.pending(key), code, channels, size)       # a stroke just made: before mounting
    grid = drawing.decode(code) if code else default_grid(channels, size)
    with (where or st.container()):
        msg = canvas_mod.canvas(key, channels, size, grid)
    if msg is not None and msg.get("id") != st.session_state.get(_SEEN):
        code = _take(msg, code, channels, size)
        grid = drawing.decode(code) if code else grid
    if code:
        if st.query_params.get(PARAM) != code:
            st.query_params[PARAM] = code
    elif PARAM in st.query_params:
        del st.query_params[PARAM]
    try:
        p = drawing.model_input(grid, channels, cfg.image_size)
        x, notes, problem = p.x, p.notes, None
    except drawing.DrawingError as e:
        x, notes, problem = None, [], str(e)
    return Drawn(grid, x, notes, problem, not code, code or drawing.encode(grid))


def _take(msg: dict | None, code: str, channels: int, size: int) -> str:
    """The session's drawing after the canvas's message ``msg`` (once per message id)."""
    if msg is None or msg.get("id") == st.session_state.get(_SEEN):
        return code
    st.session_state[_SEEN] = msg.get("id")
    try:
        code = drawing.encode(drawing.from_hex(msg.get("hex"), channels, size))
    except drawing.DrawingError as e:
        st.warning(f"The canvas sent something unusable ({plain(e, 200)}); keeping the last drawing.")
    st.session_state[_STATE] = code
    return code


def sdedit(s: Settings, d: Drawn, condition, t_start: int, capture=None, capture_steps=None, interventions=None,
           model: str | None = None, seeds=None):
    """The SDEdit repair of the drawing's input from ``t_start`` (a `sampling.Trajectory`, one per seed:
    the sidebar's seed by default), with the sidebar's sampler, steps and guidance; cached and shared."""
    name = model or s.model
    m, meta = runs.load_model(name)
    iv = interventions if interventions is not None and not interventions.is_empty() else None
    seeds = tuple(seeds) if seeds is not None else (s.seed,)
    sel = tuple(capture) if isinstance(capture, (list, tuple)) else capture
    cs = tuple(capture_steps) if capture_steps is not None else None
    key = ("sdedit", name, d.digest(), str(condition), int(t_start), s.sampler, s.steps, s.guidance, seeds, sel, cs,
           iv.key() if iv else None)

    def compute():
        return edit.run(m, np.stack([d.x] * len(seeds)), [condition] * len(seeds), t_start=int(t_start),
                        sampler=s.sampler, steps=s.steps, guidance=s.guidance, seeds=list(seeds),
                        schedule=runs.schedule_name(meta), interventions=iv, capture_select=sel, capture_steps=cs)
    return runs.cached(runs.RUNS, key, compute,
                       f"Repairing {'the default drawing' if d.is_default else 'your drawing'} from t = {t_start}…")


def current(cfg) -> Drawn:
    """This session's drawing (or the link's, or the default) and its input, without showing a canvas."""
    channels, size = cfg.in_channels, (28 if cfg.in_channels == 1 else 32)
    code = _from_link(channels, size)
    if code and st.query_params.get(PARAM) != code:
        st.query_params[PARAM] = code
    grid = drawing.decode(code) if code else default_grid(channels, size)
    try:
        p = drawing.model_input(grid, channels, cfg.image_size)
        return Drawn(grid, p.x, p.notes, None, not code, code or drawing.encode(grid))
    except drawing.DrawingError as e:
        return Drawn(grid, None, [], str(e), not code, code or drawing.encode(grid))


def judge_reads(images: np.ndarray) -> list[int] | None:
    """The independent judge's digit for each (1, 28, 28) image in [-1, 1] (None when unavailable)."""
    try:
        from diffviz.evaluation import judge
        net = _judge()
        return [int(v) for v in judge.classify(np.asarray(images, np.float32), net)]
    except (OSError, RuntimeError, ValueError):       # no judge shipped (or unreadable): the page says less
        return None


@st.cache_resource(show_spinner=False)
def _judge():
    from diffviz.evaluation import judge
    return judge.load_judge()


def strip(images, labels) :
    """Pictures (C, H, W) in [-1, 1] side by side with their labels (one PIL image, never blurred)."""
    from diffviz.figures import images as images_mod
    return images_mod.panel_image([np.asarray(x, np.float32) for x in images], labels, scale=6)
