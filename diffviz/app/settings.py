"""The shared sidebar and the session's settings (model, sampler, steps, guidance, seed, condition):
only the settings a page reads are shown; the others keep their link values.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import streamlit as st
import torch

from diffviz.app.notices import plain, show_notices
from diffviz.app.params import (
    _clamped_float,
    _clamped_int,
    _init_from_url,
    _sync_url,
    choice_param,
    float_param,
    int_param,
    text_param,
)

_THREADS_SET = threading.Lock()
_threads_done = False


def init_torch(threads: int = 1) -> None:
    """Set torch's thread count once per process (the app's start-up); DIFFVIZ_TORCH_THREADS overrides
    it (diffviz-serve gives each of N replicas cores / N threads).

    One thread by default: a server's script threads, figures and event loop need a core of their own
    beside the U-Net (they are one Python process: one core at most), and two OpenMP threads that
    must meet after every operation while other threads hold the cores made one sampling run of a
    class 5 times the CPU and 6 times the wall-clock time (docs/deploy.md). Two cores: two replicas.
    """
    global _threads_done
    with _THREADS_SET:
        if not _threads_done:
            torch.set_num_threads(int(os.environ.get("DIFFVIZ_TORCH_THREADS") or threads))
            _threads_done = True


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


# Which sidebar settings each page reads (the rest are hidden there, keeping their link values).
ALL = frozenset({"model", "seed", "sampler", "steps", "label", "prompt", "guidance"})
APPLIES = {
    "forward": frozenset({"model", "seed", "prompt"}),       # a real image noised: no sampling run
    "ablation": ALL - {"model"},                              # set-ups A and B choose their own models
}


def applies(page: str | None) -> frozenset:
    """The sidebar settings page ``page`` reads (every one for a page not listed)."""
    return APPLIES.get(page or "", ALL)


def _sampler_name(raw: str) -> str:
    """A sampler's name from a link: ddim or ddpm, else a clear refusal (the caller notices and falls back)."""
    if raw not in ("ddim", "ddpm"):
        raise ValueError(f"“{plain(raw, 20)}” is not ddim or ddpm")
    return raw


def _hidden(name: str, default, parse):
    """A setting this page does not show: its value from the session or the link, else the default."""
    key = f"p_{name}"
    _init_from_url(name, key, default, parse)
    return st.session_state[key]


def a_default(names: list[str]) -> str:
    """The ablation lab's set-up A default model: the model of the link (the one the other pages show), else the first."""
    linked = st.query_params.get("model")
    return linked if linked in names else ("mnist" if "mnist" in names else names[0])


def sidebar(page: str | None = None) -> Settings:
    """Draw the shared sidebar (only the settings ``page`` reads) and return all settings."""
    from diffviz.app.params import _bind_options
    from diffviz.data import text
    from diffviz.diffusion import defaults
    from diffviz.model import zoo
    st.session_state.pop("_notice_box", None)                # a new run: notices queue until shown
    st.session_state["_sidebar_run"] = _this_run()
    shown = applies(page)
    sb = st.sidebar
    from diffviz.app.share import copy_link_button
    copy_link_button(sb)
    names = zoo.available()
    if not names:
        st.error("No trained model was found in models/. Reinstall the project or train one "
                 "(python -m diffviz.cli.train ... --export models/mnist).")
        st.stop()
    first = "mnist" if "mnist" in names else names[0]
    if "model" in shown:
        model = choice_param("model", "Model", names, first, where=sb, format_func=lambda n: n,
                             help="Trained U-Nets shipped with diffviz.")
        sb.markdown(zoo.describe(model))           # not a caption: its faded grey is too pale on the sidebar
    else:                                                    # the ablation lab: set-up A's model sets the kind
        _bind_options("a_model", "p_a_model", names, a_default(names))
        model = st.session_state["p_a_model"]
        sb.markdown(f"Models are chosen in set-ups A and B on this page (A: {model}).")
    kind = zoo.MODELS[model].kind
    seed = int_param("seed", "Seed", 0, 9999, defaults.SEED, where=sb, kind="number",
                     help="Same seed, same starting noise, same images.") if "seed" in shown else defaults.SEED
    if "sampler" in shown:
        sampler = choice_param("sampler", "Sampler", ["ddim", "ddpm"], defaults.SAMPLER, where=sb,
                               format_func=str.upper, widget="radio",
                               help="DDIM: deterministic, few steps. DDPM: adds fresh noise every step, needs more.")
    else:
        sampler = _hidden("sampler", defaults.SAMPLER, _sampler_name)
    hi = 250 if sampler == "ddpm" else 100
    d_steps = defaults.STEPS if sampler == "ddim" else 100
    if "steps" in shown:
        steps = int_param("steps", "Steps in the run", 5, hi, d_steps, where=sb,
                          help="How many times the U-Net is run to go from pure noise to an image "
                               "(the page's “Show step” slider picks one of them).")
    else:
        steps = int(_hidden("steps", d_steps, _clamped_int("steps", 5, hi)))
    label, prompt = defaults.LABEL, defaults.PROMPT
    if kind == "class" and "label" in shown:
        label = choice_param("label", "Digit to draw", list(range(10)), defaults.LABEL, where=sb)
    elif kind == "class":
        label = _hidden("label", defaults.LABEL, _clamped_int("label", 0, 9))
    elif "prompt" in shown:
        prompt = text_param("prompt", "Caption", defaults.PROMPT, text.validate_caption, where=sb,
                            help="Words the model knows: " + " ".join(text.WORDS))
    g_default = zoo.MODELS[model].default_guidance
    if "guidance" in shown:
        guidance = float_param("guidance", "Guidance scale w", 1.0, 6.0, g_default, 0.5, where=sb,
                               help="ε̂ = ε_uncond + w (ε_cond − ε_uncond); 1 = no guidance.")
    else:
        guidance = float(_hidden("guidance", g_default, _clamped_float("guidance", 1.0, 6.0, 0.5)))
    if shown != ALL:
        sb.markdown("This page does not use the other settings (sampler, steps, guidance …); they keep "
                   "their values for the other pages.")
    return Settings(model, seed, sampler, steps, label, prompt, guidance, kind)


def _this_run():
    """An object unique to the current script run (None when Streamlit does not say)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        ctx = get_script_run_ctx()
        return ctx.cursors if ctx is not None else None      # a fresh dict at every run's reset
    except Exception:
        return None


def _script_page() -> str | None:
    """The page name ("forward") of the script Streamlit runs on its own, or None."""
    try:
        from pathlib import Path

        from streamlit.runtime.scriptrunner import get_script_run_ctx
        ctx = get_script_run_ctx()
        return Path(ctx.main_script_path).stem if ctx is not None else None
    except Exception:
        return None


def _leave_pages_folder_mode() -> None:
    """Rerun through app.py when Streamlit ran this page on its own in its old pages-folder mode.

    Because app.py sits beside a ``pages/`` folder, a freshly started server runs pages/x.py alone
    for a request to /x (a shared permalink) until some session has opened "/" and called
    st.navigation. This flips the same switch st.navigation flips, then reruns: app.py runs, its
    navigation finds the same page by its url_path, and the link's query parameters are kept.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:                                       # a future Streamlit without the old mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def settings() -> Settings:
    """The sidebar's settings for this run (drawn by app.py before the page runs).

    A page run on its own (Streamlit's old pages-folder mode, or a test running the page file)
    draws the sidebar and the notices itself, on every run, so it works the same.
    """
    s = st.session_state.get("settings")
    run = _this_run()
    if s is None or (run is not None and st.session_state.get("_sidebar_run") is not run):
        _leave_pages_folder_mode()
        st.set_page_config(page_title="diffviz — inside a diffusion U-Net", layout="wide")
        s = st.session_state["settings"] = sidebar(_script_page())
        show_notices()
    return s


def step_param(s: Settings, default: int | None = None, where=None, label: str = "Show step",
               disabled: bool = False, n: int | None = None, first: str = "pure noise") -> int:
    """The ``step`` slider (0 = the first, noisiest step .. steps − 1), shared by the U-Net pages.

    Bound to the query parameter ``step`` like `int_param`, but with its own widget key: the denoising
    page has a different slider under ``p_step``, and Streamlit hands a widget no value (its minimum)
    when the same key belonged to another widget in the previous run. ``n``: a run with other than
    s.steps steps; ``first``: what step 0 starts from (a run from your drawing: not pure noise).
    """
    where = where or st
    key, hi = "p_unet_step", (s.steps if n is None else n) - 1
    d = min(s.steps // 2 if default is None else default, hi)
    _init_from_url("step", key, d, _clamped_int("step", 0, hi))
    st.session_state[key] = min(max(int(st.session_state[key]), 0), hi)
    value = where.slider(f"{label} (0 = {first} … {hi} = last)", min_value=0, max_value=hi, step=1, key=key,
                         disabled=disabled,
                         help=f"Which step of the run to look at: 0 starts from {first}, the last step gives the "
                              "finished image. (“Steps in the run”, in the sidebar, sets how many there are.)"
                         ) if hi > 0 else 0
    _sync_url("step", int(value), d)
    return int(value)
