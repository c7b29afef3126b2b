"""The one Streamlit-aware module: the shared sidebar, permalink state, cached model and runs.

Every widget that matters is bound to a query parameter of the same name, so the address bar
always holds the whole view: a teacher copies it, a student opening it sees the same images.
Values from the address are parsed, validated and clamped; a bad one gives a short notice and
falls back to its default. Nothing from the address is ever rendered as HTML, and text from it
is escaped before it reaches Markdown (no links or images can be smuggled in).
"""

from __future__ import annotations

import hashlib
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
PASSES = BoundedCache(max_entries=96, max_bytes=192 * 2**20, size=lambda v: v.nbytes())   # single passes, GIFs
_MD_SPECIAL = "\\`*_{}[]()<>#+-.!|$~:"


def init_torch(threads: int = 2) -> None:
    """Set torch's thread count once per process (the app's start-up)."""
    global _threads_done
    with _THREADS_SET:
        if not _threads_done:
            torch.set_num_threads(threads)
            _threads_done = True


# ---------------------------------------------------------------- notices and explanations

def plain(text, limit: int = 80) -> str:
    """Text from outside (the address, an upload's name) made safe for Markdown: cut and escaped."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def notice(msg: str) -> None:
    """A short notice (e.g. a bad link value) at the top of the page.

    Before `show_notices` has run in this script run, notices are queued; afterwards (the page's
    own parameters) they go straight into the box `show_notices` left at the top.
    """
    box = st.session_state.get("_notice_box")
    if box is not None:
        box.warning(msg, icon=":material/link:")
        return
    st.session_state.setdefault("_notices", [])
    if msg not in st.session_state["_notices"]:
        st.session_state["_notices"].append(msg)


def show_notices() -> None:
    """Show and clear the queued notices; keep a box at this spot for the page's later notices."""
    box = st.container()
    for msg in st.session_state.pop("_notices", []):
        box.warning(msg, icon=":material/link:")
    st.session_state["_notice_box"] = box


def intro(title: str, what: str, try_this: str) -> None:
    """Page title, two or three plain sentences, and a "try this — you should see" prompt."""
    st.title(title)
    st.markdown(what)
    st.info("**Try this — you should see:** " + try_this, icon=":material/science:")


def run_code(s: "Settings", capture_select) -> str:
    """The first lines of a page's code snippet: load the model and make the captured run shown."""
    return (f'from diffviz import sampling, analysis, zoo\n'
            f'model, _ = zoo.load("{s.model}")\n'
            f'traj = sampling.run(model, [{s.condition!r}], sampler="{s.sampler}", steps={s.steps}, '
            f'guidance={s.guidance:g},\n'
            f'                    seeds=[{s.seed}], capture_select={capture_select!r})\n')


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
            notice(f"The link's value for “{name}” was not usable ({e}); using {plain(default)} instead.")
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


def _snap(v: int, lo: int, step: int) -> int:
    return lo + round((v - lo) / step) * step


def _clamped_int(name, lo, hi, step=1):
    def parse(raw):
        text = str(raw).strip()
        try:
            f = float(text)
        except ValueError:
            raise ValueError(f"“{plain(raw, 20)}” is not a whole number") from None
        if not np.isfinite(f) or f != int(f):
            raise ValueError(f"“{plain(raw, 20)}” is not a whole number")
        v = int(f)
        if not lo <= v <= hi:
            notice(f"The link's “{name}” = {v} is outside {lo}..{hi}; clamped.")
        v = min(max(v, lo), hi)
        return min(_snap(v, lo, step), hi) if step > 1 else v
    return parse


def _clamped_float(name, lo, hi, step):
    def parse(raw):
        try:
            v = float(raw)
        except ValueError:
            raise ValueError(f"“{plain(raw, 20)}” is not a number") from None
        if not np.isfinite(v):
            raise ValueError("not a finite number")
        if not lo <= v <= hi:
            notice(f"The link's “{name}” = {v:g} is outside {lo:g}..{hi:g}; clamped.")
        v = min(max(v, lo), hi)
        return round(round((v - lo) / step) * step + lo, 6)
    return parse


def int_param(name: str, label: str, lo: int, hi: int, default: int, where=None, kind="slider",
              step: int = 1, **kw) -> int:
    """An integer widget bound to query parameter ``name`` (validated, clamped, snapped to ``step``)."""
    where = where or st
    key = f"p_{name}"
    default = min(max(default, lo), hi)
    if step > 1:
        default = min(_snap(default, lo, step), hi)
    _init_from_url(name, key, default, _clamped_int(name, lo, hi, step))
    v = min(max(int(st.session_state[key]), lo), hi)          # ranges can move (e.g. steps)
    st.session_state[key] = min(_snap(v, lo, step), hi) if step > 1 else v
    if hi <= lo:
        value = lo
    elif kind == "number":
        value = where.number_input(label, min_value=lo, max_value=hi, step=step, key=key, **kw)
    else:
        value = where.slider(label, min_value=lo, max_value=hi, step=step, key=key, **kw)
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


def _bind_options(name: str, key: str, options: list, default) -> None:
    """Seed widget ``key`` from query parameter ``name`` (an option by its text; anything else: the
    default, with a message naming the choices) and keep its state one of ``options``."""
    by_text = {_fmt(o): o for o in options}

    def parse(raw):
        if raw not in by_text:
            shown = ", ".join(list(by_text)[:12]) + (", …" if len(by_text) > 12 else "")
            raise ValueError(f"“{plain(raw, 30)}” is not one of {plain(shown, 200)}")
        return by_text[raw]
    _init_from_url(name, key, default, parse)
    if st.session_state[key] not in options:
        st.session_state[key] = default


def choice_param(name: str, label: str, options: list, default, where=None, format_func=str,
                 widget: str = "select", **kw):
    """A choice bound to query parameter ``name`` (an unknown value falls back to the default).

    widget: "select" (a select box), "radio" (horizontal buttons) or "segmented" (a segmented
    control that always keeps one option selected).
    """
    where = where or st
    key = f"p_{name}"
    _bind_options(name, key, options, default)
    if widget == "radio":
        value = where.radio(label, options, key=key, format_func=format_func, horizontal=True, **kw)
    elif widget == "segmented":
        value = where.segmented_control(label, options, key=key, format_func=format_func, required=True, **kw)
    else:
        value = where.selectbox(label, options, key=key, format_func=format_func, **kw)
    if value is None:                                         # defensive: never leave the page without a choice
        value = default
    _sync_url(name, value, default)
    return value


def text_param(name: str, label: str, default: str, validate, where=None, **kw) -> str:
    """A text box bound to ``name``; an invalid text shows ``validate``'s message and uses the default."""
    where = where or st
    key = f"p_{name}"
    _init_from_url(name, key, default, lambda raw: str(raw)[:300])
    value = where.text_input(label, key=key, max_chars=300, **kw)
    problem = validate(value)
    _sync_url(name, value, default)
    if problem:
        where.warning(f"{plain(problem, 400)} Using “{plain(default)}” instead.")
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
    st.session_state.pop("_notice_box", None)                # a new run: notices queue until shown
    st.session_state["_sidebar_run"] = _this_run()
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
                           format_func=str.upper, widget="radio",
                           help="DDIM: deterministic, few steps. DDPM: adds fresh noise every step, needs more.")
    hi = 250 if sampler == "ddpm" else 100
    steps = int_param("steps", "Sampling steps", 5, hi, defaults.STEPS if sampler == "ddim" else 100, where=sb,
                      help="How many times the U-Net is run to go from pure noise to an image.")
    label, prompt = defaults.LABEL, defaults.PROMPT
    if kind == "class":
        label = choice_param("label", "Digit to draw", list(range(10)), defaults.LABEL, where=sb)
    else:
        prompt = text_param("prompt", "Caption", defaults.PROMPT, text.validate_caption, where=sb,
                            help="Words the model knows: " + " ".join(text.WORDS))
    guidance = float_param("guidance", "Guidance scale w", 1.0, 6.0, zoo.MODELS[model].default_guidance, 0.5,
                           where=sb, help="ε̂ = ε_uncond + w (ε_cond − ε_uncond); 1 = no guidance.")
    return Settings(model, seed, sampler, steps, label, prompt, guidance, kind)


# ---------------------------------------------------------------- models and cached runs

def load_model(name: str):
    """The shared model instance (loaded once per process), or an error message and stop."""
    try:
        return zoo.load(name)
    except (CheckpointError, ValueError, KeyError, OSError) as e:
        st.error(f"Model “{plain(name)}” cannot be used: {plain(e, 400)}")
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


def schedule_name(meta: dict) -> str:
    """The noise schedule a checkpoint was trained with (its recipe), "linear" when not recorded."""
    return str((meta.get("args") or {}).get("schedule", "linear"))


@dataclass
class FirstPass:
    """One real forward pass on the first sampling step: x_T, ε̂ and the shapes seen inside."""

    t: int
    x: np.ndarray                      # (1, C, H, W) x_T
    eps: np.ndarray                    # (1, C, H, W) guided ε̂
    shapes: dict                       # capture key -> shape tuple

    def nbytes(self) -> int:
        return self.x.nbytes + self.eps.nbytes


def _shape_keys(model) -> list[str]:
    """The capture points the overview diagram labels (tensor-valued ones only)."""
    keep = []
    for k in model.capture_keys():
        last = k.split(".")[-1]
        if k in ("embedding", "time_embedding.sinusoid", "bottleneck") or last in ("skip", "upsample", "probs") \
                or (k.split(".")[0] in ("encoder", "decoder") and k.count(".") == 1):
            keep.append(k)
    return keep


def first_pass(s: Settings) -> FirstPass:
    """The U-Net run once on the first sampling step's x_T at these settings, with its shapes captured."""
    from diffviz.schedulers import make_sampler
    m, _ = load_model(s.model)

    def compute():
        cfg = m.config
        x, _ = sampling.initial_noise((cfg.in_channels, cfg.image_size, cfg.image_size), [s.seed])
        t = int(make_sampler(s.sampler, "linear", s.steps).timesteps[0])
        cond = sampling.encode_conditions(m, [s.condition])
        with torch.inference_mode():
            eps, trace = sampling.guided_eps(m, x, t, cond, s.guidance, capture_select=_shape_keys(m))
        shapes = {k: tuple(v.shape) for k, v in trace.items()}
        shapes["input"], shapes["output"] = tuple(x.shape), tuple(eps.shape)
        return FirstPass(t, x.numpy(), eps.float().cpu().numpy(), shapes)
    return PASSES.get_or_compute(("first-pass",) + s.run_key(), compute)


@dataclass
class NoiseProbe:
    """A clean image noised to many t at once, and the U-Net's noise prediction at each t."""

    ts: np.ndarray                     # (N,) timesteps
    noise: np.ndarray                  # (C, H, W) the true ε (the same at every t)
    x_t: np.ndarray                    # (N, C, H, W)
    eps_hat: np.ndarray                # (N, C, H, W)
    mse: np.ndarray                    # (N,) mean((ε̂ − ε)²) per t

    def nbytes(self) -> int:
        return self.noise.nbytes + self.x_t.nbytes + self.eps_hat.nbytes + self.mse.nbytes


def fixed_noise(seed: int, shape) -> torch.Tensor:
    """The noise ε that "seed" stands for on the forward-process pages (its own CPU generator)."""
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(int(seed)))


def noise_probe(s: Settings, x0: np.ndarray, condition, ts) -> NoiseProbe:
    """Noise ``x0`` (C, H, W) to every t in ``ts`` with the seed's ε and predict ε̂: ONE batched pass, cached.

    The prediction is the plain conditional ε_θ(x_t, t, condition): what training asks for.
    """
    from diffviz.schedulers import NoiseSchedule
    m, meta = load_model(s.model)
    ts = np.asarray(ts, dtype=np.int64)
    digest = hashlib.sha1(np.ascontiguousarray(x0, dtype=np.float32).tobytes()).hexdigest()

    def compute():
        with st.spinner(f"Noising the image to {len(ts)} levels and asking the U-Net for the noise…"):
            sched = NoiseSchedule(schedule_name(meta))
            x = torch.as_tensor(np.asarray(x0, np.float32))
            eps = fixed_noise(s.seed, x.shape)
            t = torch.from_numpy(ts)
            x_t = sched.add_noise(x.expand(len(ts), *x.shape), eps.expand(len(ts), *x.shape), t)
            cond = sampling.encode_conditions(m, [condition] * len(ts))
            dev = m.stem.weight.device
            with torch.inference_mode():
                eps_hat = m(x_t.to(dev), t.to(dev), cond.to(dev) if cond is not None else None).float().cpu()
            mse = ((eps_hat - eps) ** 2).flatten(1).mean(1)
            return NoiseProbe(ts, eps.numpy(), x_t.numpy(), eps_hat.numpy(), mse.numpy())
    return PASSES.get_or_compute(("noise-probe", s.model, s.seed, digest, str(condition), ts.tobytes()), compute)


class _Bytes(bytes):
    def nbytes(self) -> int:
        return len(self)


def cached_bytes(key: tuple, compute) -> bytes:
    """Bytes (a GIF, a PNG) computed once per key and shared (bounded)."""
    return PASSES.get_or_compute(("bytes",) + tuple(key), lambda: _Bytes(compute()))


# ---------------------------------------------------------------- a picture to noise

@dataclass
class Picture:
    """A clean image x0 for the forward-process views, and what it shows."""

    x0: np.ndarray                     # (C, H, W) in [-1, 1]
    condition: object                  # the label or caption the model is told
    description: str                   # plain text, for a caption
    key: str                           # short identifier (for file names)


@st.cache_data(show_spinner="Loading the held-out MNIST digits…", max_entries=1)
def _held_digits():
    from diffviz import data
    return data.mnist("held")


def pick_picture(s: Settings, cfg, default_digit: int = 354) -> Picture:
    """Choose a clean image: a held-out digit (``digit`` link value) or an upload; a scene for RGB models.

    An upload is never written to disk or part of the link; a broken one is explained and ignored.
    """
    from diffviz import uploads
    upload = None
    if cfg.in_channels == 1:
        xs, ys = _held_digits()
        c1, c2 = st.columns([1, 2])
        i = int_param("digit", f"Held-out digit (0..{len(xs) - 1})", 0, len(xs) - 1, default_digit, where=c1,
                      kind="number", help="One of the 500 MNIST digits the model never trained on.")
        with c2:
            upload = _uploaded(cfg, uploads)
        if upload is not None:
            return Picture(upload[0], s.label, f"your upload ({upload[1]})", "upload")
        return Picture(xs[i], int(ys[i]),
                       f"held-out digit #{i}, a {int(ys[i])}", f"digit{i}")
    from diffviz import shapes
    upload = _uploaded(cfg, uploads)
    if upload is not None:
        return Picture(upload[0], s.prompt, f"your upload ({upload[1]})", "upload")
    try:
        scene = shapes.parse_caption(s.prompt)
        note = f"the scene the caption describes: “{plain(s.prompt)}”"
    except ValueError as e:
        scene = shapes.random_scene(np.random.default_rng(s.seed))
        st.info(f"The caption does not describe a scene the renderer can draw ({plain(e, 200)}); "
                f"showing a random scene from the seed instead.", icon=":material/info:")
        note = f"a random scene: “{shapes.caption(scene)}”"
    x0 = shapes.render(scene).transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return Picture(x0, shapes.caption(scene), note, "scene")


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


# ---------------------------------------------------------------- figures and images

_TEXT = {"light": "#262730", "dark": "#fafafa"}


def chart(fig, key: str | None = None, where=None, **kw) -> None:
    """Show a plotly figure in the app's theme, without the toolbar, with full-contrast text.

    Streamlit's plotly theme draws text in a faded grey; when the browser has told us whether the
    theme is light or dark we use the theme's own text colour instead (a projector needs contrast).
    """
    colour = _TEXT.get(getattr(st.context.theme, "type", None) or "")
    if colour:
        fig.update_layout(font_color=colour)
    config = {"displayModeBar": False, **kw.pop("config", {})}
    (where or st).plotly_chart(fig, key=key, config=config, **kw)


def image(x, caption: str | None = None, width: int = 224, where=None) -> None:
    """Show a (C, H, W) image in [-1, 1], scaled up with nearest neighbours (never blurred)."""
    (where or st).image(upscale(x, width), caption=caption, width=width)


def _this_run():
    """An object unique to the current script run (None when Streamlit does not say)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        ctx = get_script_run_ctx()
        return ctx.cursors if ctx is not None else None      # a fresh dict at every run's reset
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
        s = st.session_state["settings"] = sidebar()
        show_notices()
    return s


# ---------------------------------------------------------------- helpers for the "Open the U-Net" pages

def _nbytes(v) -> int:
    """Rough bytes held by a derived result (numpy arrays inside dicts, tuples and lists)."""
    if isinstance(v, np.ndarray):
        return v.nbytes
    if isinstance(v, dict):
        return sum(_nbytes(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return sum(_nbytes(x) for x in v)
    return 64


DERIVED = BoundedCache(max_entries=256, max_bytes=256 * 2**20, size=_nbytes)


def derived(key: tuple, compute):
    """A result computed from cached runs (rankings, spectra, sweeps), cached by a plain-value key.

    The key must name everything the result depends on (settings, model, step, knobs), so two
    sessions asking the same question share the answer and a slider moved back costs nothing.
    """
    return DERIVED.get_or_compute(key, compute)


def plot(fig, key: str | None = None, where=None) -> None:
    """Show a plotly figure in Streamlit's light/dark theme, without plotly's logo: at full width, or at
    its own pixel width when it has one (rows of images keep their panels together and square)."""
    fixed = fig.layout.width is not None
    (where or st).plotly_chart(fig, width="content" if fixed else "stretch", key=key,
                               config={"displaylogo": False, "responsive": not fixed})


def toggle_param(name: str, label: str, default: bool = False, where=None, **kw) -> bool:
    """A toggle bound to query parameter ``name`` (values true / false)."""
    where = where or st
    key = f"p_{name}"

    def parse(raw):
        v = str(raw).strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"“{plain(raw, 20)}” is not true or false")
    _init_from_url(name, key, bool(default), parse)
    value = bool(where.toggle(label, key=key, **kw))
    text = "true" if value else "false"
    if value == default:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != text:
        st.query_params[name] = text
    return value


def select_slider_param(name: str, label: str, options: list, default, where=None, format_func=str, **kw):
    """A select-slider over ``options`` bound to query parameter ``name`` (unknown values: the default)."""
    where = where or st
    key = f"p_{name}"
    _bind_options(name, key, options, default)
    value = where.select_slider(label, options=options, key=key, format_func=format_func, **kw)
    _sync_url(name, value, default)
    return value


def step_param(s: Settings, default: int | None = None, where=None, label: str = "Sampling step") -> int:
    """The ``step`` slider (0 = the first, noisiest step .. steps − 1), shared by the U-Net pages.

    Bound to the query parameter ``step`` like `int_param`, but with its own widget key: the denoising
    page has a different slider under ``p_step``, and Streamlit hands a widget no value (its minimum)
    when the same key belonged to another widget in the previous run.
    """
    where = where or st
    key, hi = "p_unet_step", s.steps - 1
    d = min(s.steps // 2 if default is None else default, hi)
    _init_from_url("step", key, d, _clamped_int("step", 0, hi))
    st.session_state[key] = min(max(int(st.session_state[key]), 0), hi)
    value = where.slider(label, min_value=0, max_value=hi, step=1, key=key,
                         help="Which step of the sampling run to look at: 0 starts from pure noise "
                              "(t = 999), the last step gives the finished image.") if hi > 0 else 0
    _sync_url("step", int(value), d)
    return int(value)


def keyed_choice(name: str, key: str, label: str, options: list, default, where=None, format_func=str, **kw):
    """A select box bound to query parameter ``name`` like `choice_param`, under widget key ``key``
    (for a name another page uses for a different widget, e.g. "block")."""
    where = where or st
    _bind_options(name, key, options, default)
    value = where.selectbox(label, options, key=key, format_func=format_func, **kw)
    _sync_url(name, value, default)
    return value


def run_key(s: Settings, model: str | None = None, seeds=None, interventions: Interventions | None = None) -> tuple:
    """A plain-value key for everything a sampling run depends on (for `derived`)."""
    iv = interventions if interventions is not None and not interventions.is_empty() else None
    return (model or s.model, tuple(seeds) if seeds is not None else (s.seed,), s.sampler, s.steps,
            s.condition, s.guidance, iv.key() if iv else None)


EVALUATION = zoo.MODELS_DIR / "evaluation.json"
_EVAL = {"mtime": None, "data": None}
_EVAL_LOCK = threading.Lock()


def evaluation() -> dict:
    """The measured quality table (``models/evaluation.json``, re-read when it changes); {} when absent."""
    import json
    try:
        mtime = EVALUATION.stat().st_mtime
    except OSError:
        return {}
    with _EVAL_LOCK:
        if _EVAL["mtime"] != mtime:
            try:
                _EVAL["data"] = json.loads(EVALUATION.read_text())
            except (OSError, ValueError):
                _EVAL["data"] = {}
            _EVAL["mtime"] = mtime
        return _EVAL["data"] or {}


def quality(name: str) -> dict[str, str] | None:
    """A model's measured quality as {measure: readable value}, or None when not measured yet."""
    table = evaluation()
    m = (table.get("models") or {}).get(name)
    if isinstance(m, dict) and isinstance(m.get("label_accuracy"), dict):
        la, fd, mem = m["label_accuracy"], m.get("fd") or {}, m.get("memorisation") or {}
        out = {"label accuracy": f"{la['mean']:.1%} ± {la.get('std', 0):.1%}"}
        if "mean" in fd:
            ratio = fd.get("ratio_to_floor")
            out["Fréchet distance (lower = better)"] = f"{fd['mean']:.2f} ± {fd.get('std', 0):.2f}" + (
                f" ({ratio:.1f}× real digits)" if ratio else "")
        if "mean" in mem:
            out["memorised"] = f"{mem['mean']:.1%}"
        cfg = m.get("settings") or {}
        if cfg:
            out["measured with"] = (f"{str(cfg.get('sampler', '')).upper()} {cfg.get('steps', '')} steps, "
                                    f"w = {cfg.get('guidance', '')}, {cfg.get('draws', '')} × "
                                    f"{10 * int(cfg.get('n_per_digit', 0) or 0)} samples")
        return out
    t = (table.get("text_models") or {}).get(name)
    if isinstance(t, dict) and "missing" not in t and "one_shape_full_match" in t:
        def pct(v):
            return "–" if v is None else f"{v:.1%}"
        out = {"one shape drawn exactly": pct(t.get("one_shape_full_match")),
               "two shapes drawn exactly": pct(t.get("two_shapes_full_match"))}
        ca = t.get("cross_attention") or {}

        def mid_late(part):        # colour and shape words averaged, all blocks: "82% / 84%"
            return " / ".join(f"{np.mean([ca[part][tok][r]['all'] for tok in ('colour', 'shape')]):.0%}"
                              for r in ("mid", "late"))
        try:
            out["colour & shape words' attention on their shape (mid / late t)"] = (
                f"{mid_late('shares')} (uniform {ca['baseline']:.0%})")
            out["weight the shape's pixels give each of those words (mid / late t)"] = mid_late("weights")
        except (KeyError, TypeError):
            pass
        return out
    return None


def quality_table(names: list[str], where=None) -> bool:
    """The measured quality of ``names`` side by side; "not measured yet" where the table has none.

    Returns whether any of them has been measured (a table was shown)."""
    where = where or st
    rows = {n: quality(n) for n in names}
    measures = list(dict.fromkeys(k for q in rows.values() if q for k in q))
    if not measures:
        where.caption("Measured quality: not measured yet for " + ", ".join(names) +
                      " (`python -m diffviz.evaluate --out models/evaluation.json` writes the table).")
        return False
    data = {"model": names}
    for k in measures:
        data[k] = [(rows[n] or {}).get(k, "–") if rows[n] else "not measured yet" for n in names]
    where.dataframe(data, hide_index=True, width="stretch")
    return True


def scoped(owner: str, *names: str) -> None:
    """Forget these parameters' widget values when another page set them last.

    Pages may use one name for different widgets ("level" is a stage on one page and an attention
    block on another); Streamlit would hand the new widget a stale value or none at all. Call at the
    top of a page: a name last drawn by a different ``owner`` starts again from the link or its default.
    Pages that share ``owner`` (e.g. the same step slider) keep sharing the value.
    """
    for name in names:
        key, tag = f"p_{name}", f"_owner_p_{name}"
        if st.session_state.get(tag) != owner:
            st.session_state.pop(key, None)
            st.session_state[tag] = owner
