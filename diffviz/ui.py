"""The one Streamlit-aware module: the shared sidebar, permalink state, cached model and runs.

Every widget that matters is bound to a query parameter of the same name, so the address bar
always holds the whole view: a teacher copies it, a student opening it sees the same images.
Values from the address are parsed, validated and clamped; a bad one gives a short notice and
falls back to its default. Nothing from the address is ever rendered as HTML.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from diffviz import defaults, sampling, zoo
from diffviz.cache import BoundedCache
from diffviz.checkpoint import CheckpointError
from diffviz.figures import upscale
from diffviz.interventions import Interventions

_THREADS_SET = threading.Lock()
_threads_done = False
RUNS = BoundedCache(max_entries=48, max_bytes=768 * 2**20, size=lambda tr: tr.nbytes())


def init_torch(threads: int = 2) -> None:
    """Set torch's thread count once per process (the app's start-up)."""
    global _threads_done
    with _THREADS_SET:
        if not _threads_done:
            torch.set_num_threads(threads)
            _threads_done = True


# ---------------------------------------------------------------- notices and explanations

def notice(msg: str) -> None:
    """Queue a short notice (e.g. a bad link value) to show at the top of the page."""
    st.session_state.setdefault("_notices", [])
    if msg not in st.session_state["_notices"]:
        st.session_state["_notices"].append(msg)


def show_notices() -> None:
    """Show and clear the queued notices (as plain text: never HTML)."""
    for msg in st.session_state.pop("_notices", []):
        st.warning(msg, icon="🔗")


def intro(title: str, what: str, try_this: str) -> None:
    """Page title, two or three plain sentences, and a "try this — you should see" prompt."""
    st.title(title)
    st.markdown(what)
    st.info("**Try this — you should see:** " + try_this, icon="🧪")


def show_code(code: str) -> None:
    """A "show the code" expander with the few lines of diffviz behind the view."""
    with st.expander("Show the code"):
        st.code(code.strip(), language="python")


# ---------------------------------------------------------------- permalink-bound widgets

def _init_from_url(name: str, key: str, default, parse) -> None:
    if key in st.session_state:
        return
    raw = st.query_params.get(name)
    value = default
    if raw is not None:
        try:
            value = parse(raw)
        except (ValueError, TypeError) as e:
            notice(f"The link's value for “{name}” was not usable ({e}); using {default} instead.")
    st.session_state[key] = value


def _sync_url(name: str, value, default) -> None:
    text = _fmt(value)
    if value == default:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != text:
        st.query_params[name] = text


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _clamped_int(name, lo, hi):
    def parse(raw):
        v = int(float(raw)) if str(raw).strip().lstrip("-").replace(".", "", 1).isdigit() else None
        if v is None:
            raise ValueError(f"“{raw}” is not a whole number")
        if not lo <= v <= hi:
            notice(f"The link's “{name}” = {v} is outside {lo}..{hi}; clamped.")
        return min(max(v, lo), hi)
    return parse


def _clamped_float(name, lo, hi, step):
    def parse(raw):
        try:
            v = float(raw)
        except ValueError:
            raise ValueError(f"“{raw}” is not a number") from None
        if not np.isfinite(v):
            raise ValueError("not a finite number")
        if not lo <= v <= hi:
            notice(f"The link's “{name}” = {v:g} is outside {lo:g}..{hi:g}; clamped.")
        v = min(max(v, lo), hi)
        return round(round((v - lo) / step) * step + lo, 6)
    return parse


def int_param(name: str, label: str, lo: int, hi: int, default: int, where=None, kind="slider", **kw) -> int:
    """An integer widget bound to query parameter ``name`` (validated and clamped)."""
    where = where or st
    key = f"p_{name}"
    default = min(max(default, lo), hi)
    _init_from_url(name, key, default, _clamped_int(name, lo, hi))
    st.session_state[key] = min(max(int(st.session_state[key]), lo), hi)   # ranges can move (e.g. steps)
    if kind == "number":
        value = where.number_input(label, min_value=lo, max_value=hi, step=1, key=key, **kw)
    else:
        value = where.slider(label, min_value=lo, max_value=hi, step=1, key=key, **kw) if hi > lo else lo
    _sync_url(name, int(value), default)
    return int(value)


def float_param(name: str, label: str, lo: float, hi: float, default: float, step: float, where=None, **kw) -> float:
    """A float slider bound to query parameter ``name``."""
    where = where or st
    key = f"p_{name}"
    _init_from_url(name, key, default, _clamped_float(name, lo, hi, step))
    value = where.slider(label, min_value=lo, max_value=hi, step=step, key=key, **kw)
    _sync_url(name, float(value), default)
    return float(value)


def choice_param(name: str, label: str, options: list, default, where=None, format_func=str, **kw):
    """A select box bound to query parameter ``name`` (an unknown value falls back to the default)."""
    where = where or st
    key = f"p_{name}"
    by_text = {_fmt(o): o for o in options}

    def parse(raw):
        if raw not in by_text:
            raise ValueError(f"“{raw}” is not one of {', '.join(by_text)}")
        return by_text[raw]
    _init_from_url(name, key, default, parse)
    if st.session_state[key] not in options:
        st.session_state[key] = default
    value = where.selectbox(label, options, key=key, format_func=format_func, **kw)
    _sync_url(name, value, default)
    return value


def text_param(name: str, label: str, default: str, validate, where=None, **kw) -> str:
    """A text box bound to ``name``; an invalid text shows ``validate``'s message and uses the default."""
    where = where or st
    key = f"p_{name}"
    _init_from_url(name, key, default, lambda raw: str(raw)[:300])
    value = where.text_input(label, key=key, **kw)
    problem = validate(value)
    _sync_url(name, value, default)
    if problem:
        where.warning(f"{problem} Using “{default}” instead.")
        return default
    return value


# ---------------------------------------------------------------- the shared sidebar

@dataclass(frozen=True)
class Settings:
    """What the sidebar chose: the same for every page."""

    model: str
    seed: int
    sampler: str
    steps: int
    label: int
    prompt: str
    guidance: float
    kind: str                                  # "class" or "text"

    @property
    def condition(self):
        """The label (class models) or the caption (text models)."""
        return self.prompt if self.kind == "text" else self.label

    def run_key(self) -> tuple:
        return (self.model, self.seed, self.sampler, self.steps, self.condition, self.guidance)


def sidebar() -> Settings:
    """Draw the shared sidebar and return its settings."""
    from diffviz import text
    sb = st.sidebar
    names = zoo.available()
    if not names:
        st.error("No trained model was found in models/. Reinstall the project or train one "
                 "(python -m diffviz.train ... --export models/mnist).")
        st.stop()
    model = choice_param("model", "Model", names, "mnist" if "mnist" in names else names[0], where=sb,
                         format_func=lambda n: n, help="Trained U-Nets shipped with diffviz.")
    sb.caption(zoo.describe(model))
    kind = zoo.MODELS[model].kind
    seed = int_param("seed", "Seed", 0, 9999, defaults.SEED, where=sb, kind="number",
                     help="Same seed, same starting noise, same images.")
    sampler = choice_param("sampler", "Sampler", ["ddim", "ddpm"], defaults.SAMPLER, where=sb,
                           format_func=str.upper)
    hi = 250 if sampler == "ddpm" else 100
    steps = int_param("steps", "Sampling steps", 5, hi, defaults.STEPS if sampler == "ddim" else 100, where=sb)
    label, prompt = defaults.LABEL, defaults.PROMPT
    if kind == "class":
        label = choice_param("label", "Digit to draw", list(range(10)), defaults.LABEL, where=sb)
    else:
        prompt = text_param("prompt", "Caption", defaults.PROMPT, text.validate_caption, where=sb)
    guidance = float_param("guidance", "Guidance scale w", 1.0, 6.0, zoo.MODELS[model].default_guidance, 0.5,
                           where=sb, help="ε̂ = ε_uncond + w (ε_cond − ε_uncond); 1 = no guidance.")
    return Settings(model, seed, sampler, steps, label, prompt, guidance, kind)


# ---------------------------------------------------------------- models and cached runs

def load_model(name: str):
    """The shared model instance (loaded once per process), or an error message and stop."""
    try:
        return zoo.load(name)
    except (CheckpointError, ValueError) as e:
        st.error(f"Model “{name}” cannot be used: {e}")
        st.stop()


def trajectory(s: Settings, capture=None, capture_steps=None, interventions: Interventions | None = None,
               model: str | None = None, seeds=None) -> sampling.Trajectory:
    """A whole sampling run for these settings, computed once per distinct setting and shared."""
    name = model or s.model
    iv = interventions if interventions is not None and not interventions.is_empty() else None
    sel = tuple(capture) if isinstance(capture, (list, tuple)) else capture
    cs = tuple(capture_steps) if capture_steps is not None else None
    seeds = tuple(seeds) if seeds is not None else (s.seed,)
    key = (name, seeds, s.sampler, s.steps, s.condition, s.guidance, sel, cs, iv.key() if iv else None)
    m, _ = load_model(name)

    def compute():
        with st.spinner(f"Sampling {s.steps} steps with {name}…"):
            return sampling.run(m, [s.condition] * len(seeds), sampler=s.sampler, steps=s.steps,
                                guidance=s.guidance, seeds=list(seeds), interventions=iv,
                                capture_select=sel, capture_steps=cs)
    return RUNS.get_or_compute(key, compute)


# ---------------------------------------------------------------- images

def image(x, caption: str | None = None, width: int = 224, where=None) -> None:
    """Show a (C, H, W) image in [-1, 1], scaled up with nearest neighbours (never blurred)."""
    (where or st).image(upscale(x, width), caption=caption, width=width)


def settings() -> Settings:
    """The sidebar's settings for this run (drawn by app.py before the page runs)."""
    s = st.session_state.get("settings")
    if s is None:                   # a page run on its own (tests): draw the sidebar here
        s = st.session_state["settings"] = sidebar()
    return s
