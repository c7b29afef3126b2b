"""What each lesson question reveals, measured live on the learner's settings (the app's side).

Every entry of `MEASURES` gathers its inputs from the same cached runs the pages use (the
trajectory, the first forward pass, the noise probe, the evaluation table) and hands them to the
library's `diffviz.evaluation.answers`, which computes the `Truth`. `OPTIONS` builds a choice
question's options from the model (e.g. the shapes the network could output); `CANVASES` the image a
click question is answered on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from diffviz.app import quality, runs
from diffviz.app.settings import Settings
from diffviz.evaluation import answers as A
from diffviz.probe import readings

DEFAULT_DIGIT = 354                       # the forward and denoise pages' held-out digit


class Unavailable(Exception):
    """This question cannot be measured on these settings (the message says what to change)."""


def current(name: str, default, keys=()):
    """A page parameter's value now: its widget's state, else the link's value, else ``default``."""
    for key in (*keys, f"p_{name}"):
        if key in st.session_state:
            return st.session_state[key]
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        return type(default)(float(raw)) if isinstance(default, (int, float)) else raw
    except ValueError:
        return default


def _class_model(s: Settings, cfg) -> None:
    if s.kind != "class" or cfg.in_channels != 1 or cfg.image_size != 28:
        raise Unavailable(f"This question reads digits with the judge: choose an MNIST model (not “{s.model}”).")


def _step(s: Settings) -> int:
    return min(max(int(current("step", s.steps // 2, keys=("p_unet_step",))), 0), s.steps - 1)


def _held_digit(s: Settings):
    from diffviz.app.pictures import _held_digits
    xs, ys = _held_digits()
    i = min(max(int(current("digit", DEFAULT_DIGIT)), 0), len(xs) - 1)
    return i, xs[i], int(ys[i])


def judge_loses_digit(s: Settings, args: dict) -> A.Truth:
    """Forward process on the held-out digit with the seed's noise: the first t the judge misreads."""
    from diffviz.diffusion.schedulers import NoiseSchedule
    model, meta = runs.load_model(s.model)
    _class_model(s, model.config)
    i, x0, y = _held_digit(s)
    eps = runs.fixed_noise(s.seed, x0.shape).numpy()
    ab = NoiseSchedule(runs.schedule_name(meta)).alphas_cumprod.numpy()
    return runs.derived(("lesson-lost", s.model, s.seed, i), lambda: A.judge_loses_digit(x0, eps, ab, y))


def first_read_step(s: Settings, args: dict) -> A.Truth:
    """The first sampling step whose guess x̂0 (and every later one) the judge reads as the asked digit."""
    _class_model(s, runs.load_model(s.model)[0].config)
    tr = runs.trajectory(s)
    return runs.derived(("lesson-first-read", runs.run_key(s)),
                        lambda: A.first_read_step(tr.pred_x0[:, 0], tr.timesteps, s.label))


def worst_noise_level(s: Settings, args: dict) -> A.Truth:
    """The noise level where ε̂ is worst, on the held-out digit (the denoising page's real-image view)."""
    _class_model(s, runs.load_model(s.model)[0].config)
    _, x0, y = _held_digit(s)
    ts = np.arange(19, 1000, 20)
    probe = runs.noise_probe(s, x0, y, ts)
    return A.worst_noise_level(ts, probe.mse)


def output_shape(s: Settings, args: dict) -> A.Truth:
    """The shape of ε̂ from one real forward pass (the overview page's)."""
    return A.output_shape(runs.first_pass(s).shapes)


def _stages(cfg) -> list[str]:
    L = cfg.levels            # the inside page's capture list (the same cached run)
    return [f"encoder.{k}" for k in range(L)] + ["bottleneck"] + [f"decoder.{k}" for k in reversed(range(L))]


def channels_for_90(s: Settings, args: dict) -> A.Truth:
    """How many channels hold 90% of a level's energy over the run (the inside page's ranking)."""
    cfg = runs.load_model(s.model)[0].config
    stage = str(args.get("stage", "bottleneck"))
    tr = runs.trajectory(s, capture=_stages(cfg))
    return runs.derived(("lesson-k90", runs.run_key(s), stage),
                        lambda: A.channels_for_90(readings.stack_steps(tr.traces, stage), stage))


def finest_skip(s: Settings, args: dict) -> A.Truth:
    """The decoder level whose skip is most fine detail at the current step and cut (the skips page's)."""
    cfg = runs.load_model(s.model)[0].config
    if not cfg.use_skips:
        raise Unavailable(f"“{s.model}” has no skip connections: choose mnist.")
    tr = runs.trajectory(s, capture=["decoder.*.skip", "decoder.*.upsample"])
    step, cut = _step(s), float(current("cut", 0.5))
    return A.finest_skip({k: tr.traces[step][f"decoder.{k}.skip"][0].float().numpy() for k in range(cfg.levels)}, cut)


def judge_accuracy(s: Settings, args: dict) -> A.Truth:
    """A model's measured label accuracy from models/evaluation.json (``args["model"]``)."""
    try:
        return A.judge_accuracy(quality.evaluation(), str(args.get("model", s.model)))
    except KeyError as e:
        raise Unavailable(str(e).strip("'\"")) from None


def _flow(cfg):
    """Sort key of an attention block in the order data flows (as the attention page lists them)."""
    def key(block: str):
        part = block.split(".")[0]
        level = cfg.levels - 1 if part == "bottleneck" else int(block.split(".")[1])
        return {"encoder": 0, "bottleneck": 1, "decoder": 2}[part], (-1 if part == "decoder" else 1) * level
    return key


def _attention(s: Settings):
    model = runs.load_model(s.model)[0]
    keys, flow = model.capture_keys(), _flow(model.config)
    self_blocks = sorted((k[: -len(".self_attn.probs")] for k in keys if k.endswith(".self_attn.probs")), key=flow)
    cross = sorted((k[: -len(".cross_attn.probs")] for k in keys if k.endswith(".cross_attn.probs")), key=flow)
    if not self_blocks:
        raise Unavailable(f"“{s.model}” has no attention blocks: choose mnist.")
    capture = ["*.self_attn.probs"] + (["*.cross_attn.probs"] if cross else [])   # the attention page's run
    return model.config, self_blocks, cross, runs.trajectory(s, capture=capture)


def _query(s: Settings):
    """The attention page's current query: (what, its map (side, side), the x̂0 it is drawn on, (qx, qy, side))."""
    _cfg, blocks, _, tr = _attention(s)
    i = int(current("level", len(blocks) - 1)) if st.session_state.get("_owner_p_level") in (None, "attention") \
        else len(blocks) - 1
    block = blocks[min(max(i, 0), len(blocks) - 1)]
    step = _step(s)
    probs = tr.traces[step][f"{block}.self_attn.probs"][0]                      # (heads, N, N)
    side = round(probs.shape[-1] ** 0.5)
    qx = min(max(int(current("qx", side * 4 // 7)), 0), side - 1)
    qy = min(max(int(current("qy", side * 2 // 7)), 0), side - 1)
    base = np.clip(tr.pred_x0[step, 0].astype(np.float32), -1, 1)             # (C, H, W)
    what = f"The query pixel ({qx}, {qy}) of {block} at step {step} (mean of heads)"
    return what, readings.attention_map(probs, qy, qx), base, (qx, qy, side)


def looks_most_at(s: Settings, args: dict) -> A.Truth:
    """Where the current query pixel looks most (mean of heads) in the attention page's chosen block."""
    what, m, _, _ = _query(s)
    return A.looks_most_at(m, what)


def _word(s: Settings, args: dict):
    """(what, the word's cross-attention map over the whole run, the final image it is drawn on)."""
    from diffviz.data import text
    _cfg, _, cross, tr = _attention(s)
    if not cross:
        raise Unavailable(f"“{s.model}” reads no caption: choose the shapes model.")
    word = str(args.get("word", "red"))
    tokens = text.token_labels(s.prompt)
    if word not in tokens:
        raise Unavailable(f"The caption “{s.prompt}” has no “{word}”: put it back in the sidebar's caption.")
    key = f"{cross[-1]}.cross_attn.probs"
    maps = runs.derived(("lesson-word-maps", runs.run_key(s), key, tuple(tokens)), lambda: np.stack(
        [readings.token_maps(p, len(tokens)) for p in readings.stack_steps(tr.traces, key)]).mean(axis=0))
    return f"The word “{word}”, over the whole run,", maps[tokens.index(word)], np.clip(tr.final[0], -1, 1)


def word_looks_at(s: Settings, args: dict) -> A.Truth:
    """Where a caption word's cross-attention lands, mean over the whole run (the attention page's map)."""
    what, m, _ = _word(s, args)
    return A.looks_most_at(m, what)


@dataclass(frozen=True)
class Canvas:
    """The image a click question is answered on (shown before anything is revealed)."""

    image: np.ndarray                         # (C, H, W) in [-1, 1]
    title: str
    box: tuple | None = None                  # (x0, y0, x1, y1) in pixels: the query pixel's cell, outlined


def _query_box(qx: int, qy: int, side: int, image) -> tuple:
    sy, sx = image.shape[-2] / side, image.shape[-1] / side
    return qx * sx - 0.5, qy * sy - 0.5, (qx + 1) * sx - 0.5, (qy + 1) * sy - 0.5


def query_canvas(s: Settings, args: dict) -> Canvas:
    """x̂0 at the current step with the query pixel's cell outlined."""
    _, _, base, (qx, qy, side) = _query(s)
    return Canvas(base, f"x̂0 at step {_step(s)}: the query is the orange square", _query_box(qx, qy, side, base))


def query_peak(s: Settings, args: dict) -> A.Truth:
    """Where on x̂0 the current query pixel's attention peaks (mean of heads), and the region near its peak."""
    what, m, base, _ = _query(s)
    return A.map_peak(m, base.shape[-1], base.shape[-2], what, float(args.get("level", 0.5)))


def word_canvas(s: Settings, args: dict) -> Canvas:
    """The run's final image, on which the word's map is drawn."""
    _, _, image = _word(s, args)
    return Canvas(image, f"the final image of seed {s.seed}: where will “{args.get('word', 'red')}” attend?")


def word_peak(s: Settings, args: dict) -> A.Truth:
    """Where on the final image a caption word's cross-attention (mean over the run) peaks."""
    what, m, image = _word(s, args)
    return A.map_peak(m, image.shape[-1], image.shape[-2], what, float(args.get("level", 0.5)))


def _told(s: Settings, step: int, told: list[int]):
    from diffviz.diffusion import sampling
    model, meta = runs.load_model(s.model)
    if not model.config.use_time:
        raise Unavailable(f"“{s.model}” is never told t: choose mnist.")
    tr = runs.trajectory(s)
    t_true = int(tr.timesteps[step])
    ts = sorted(set(told) | {t_true})

    def compute():
        cond = sampling.encode_conditions(model, [s.condition])
        _, x0 = readings.told_t_sweep(model, tr.x_t[step, 0], t_true, cond, s.guidance, ts, runs.schedule_name(meta))
        ref = np.clip(tr.final[0].astype(np.float32), -1, 1)
        return readings.rmse(np.clip(x0, -1, 1), ref[None], axes=(1, 2, 3))
    return ts, runs.derived(("lesson-told", runs.run_key(s), step, tuple(ts)), compute), t_true


def best_told_t(s: Settings, args: dict) -> A.Truth:
    """The told t that gives the best x̂0 for the current step's x_t (the timestep page's error curve)."""
    ts, err, t_true = _told(s, _step(s), list(range(0, 1000, 50)) + [999])
    return A.best_told_t(ts, err, t_true)


def told_999_shift(s: Settings, args: dict) -> A.Truth:
    """How far x̂0 moves from the final image when told t = 999 at the last step (or ``args["step"]``)."""
    step = s.steps - 1 if args.get("step", "last") == "last" else _step(s)
    ts, err, t_true = _told(s, step, [999])
    return A.told_999_shift(float(err[ts.index(t_true)]), float(err[ts.index(999)]), t_true)


def ablated_judge_reads(s: Settings, args: dict) -> A.Truth:
    """Does the judge still read the digit when skip ``args["skip"]`` is cut for the whole run?"""
    from diffviz.model.interventions import Interventions
    cfg = runs.load_model(s.model)[0].config
    _class_model(s, cfg)
    if not cfg.use_skips:
        raise Unavailable(f"“{s.model}” has no skip connections: choose mnist.")
    k = int(args.get("skip", 0))
    tr = runs.trajectory(s, interventions=Interventions(skip_scale={k: 0.0}))
    return A.judge_reads(tr.final[0], s.label, f"seed {s.seed}'s final image with skip {k} cut at every step")


MEASURES = {
    "judge_loses_digit": judge_loses_digit, "first_read_step": first_read_step,
    "worst_noise_level": worst_noise_level, "output_shape": output_shape, "channels_for_90": channels_for_90,
    "finest_skip": finest_skip, "judge_accuracy": judge_accuracy, "looks_most_at": looks_most_at,
    "word_looks_at": word_looks_at, "best_told_t": best_told_t, "told_999_shift": told_999_shift,
    "ablated_judge_reads": ablated_judge_reads, "query_peak": query_peak, "word_peak": word_peak,
}

CANVASES = {"query_peak": query_canvas, "word_peak": word_canvas}      # a click question's image, by its measure

OPTIONS = {
    "shape_options": lambda s: A.shape_options(runs.first_pass(s).shapes),
    "regions": lambda s: list(A.REGIONS),
    "decoder_levels": lambda s: [f"level {k}" for k in range(runs.load_model(s.model)[0].config.levels)],
    "shift": lambda s: list(A.SHIFT),
    "yes_no": lambda s: ["yes", "no"],
}
