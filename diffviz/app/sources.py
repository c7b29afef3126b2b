"""The run a page that opens the U-Net shows: a sample from pure noise, or the learner's drawing.

Pages 4–8 (inside, skips, attention, timestep, the ablation lab) share one source picker, bound to the
link's ``source`` (``noise``, ``drawing`` = SDEdit, ``inversion``) and ``from`` (SDEdit's start t); the
drawing itself is the link's ``drawing`` value, read by `digit.current` (a bad one: a notice, the
default digit). A page calls `pick` once, then `trajectory` and `key` where it called
`runs.trajectory` and `runs.run_key`, shows `note`, and builds its code from `code`:

    noise       sampling from x_T ~ N(0, I), the sidebar's sampler, steps, guidance and condition
    drawing     SDEdit: the drawing noised to t = ``from`` with the seed's ε, denoised from there
                (the sidebar's sampler, its step spacing, guidance and condition)
    inversion   DDIM inversion of the drawing up to x_T (two fixed-point iterations per step, the first
                step from the seed's white noise, told the condition, no guidance), then deterministic
                DDIM back down from x_T: the trajectory shown is the way down

Every run goes through the same U-Net calls, interventions and capture as sampling, and is cached in
the shared runs cache by the drawing's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from diffviz.app import digit, runs
from diffviz.app.notices import plain
from diffviz.app.params import choice_param, int_param
from diffviz.app.settings import Settings, step_param
from diffviz.diffusion import inversion, sampling

NAMES = {"noise": "a sample from pure noise", "drawing": "your drawing, repaired (SDEdit)",
         "inversion": "your drawing, inverted (DDIM)"}
ITERATIONS = 2                      # fixed-point iterations per inverse step (page 9's "improved" inversion)
MAX_INVERSION_STEPS = 100           # a DDPM setting of 1000 steps would cost 4,000 U-Net calls


@dataclass(eq=False)
class Source:
    """Where a page's run starts: pure noise, or the drawing (SDEdit from ``t0``, or its inversion)."""

    kind: str                       # "noise", "drawing" (SDEdit) or "inversion"
    drawn: digit.Drawn | None       # the drawing (None: noise)
    t0: int | None                  # SDEdit's start (None otherwise)

    @property
    def from_drawing(self) -> bool:
        return self.kind != "noise"

    def who(self) -> str:
        """"your drawing", or "the default drawing" when none was made or linked."""
        return "the default drawing" if self.drawn is not None and self.drawn.is_default else "your drawing"


def inversion_steps(s: Settings) -> int:
    """DDIM steps of an inversion (and of its way down): the sidebar's steps, at most 100."""
    return min(int(s.steps), MAX_INVERSION_STEPS)


def pick(s: Settings, cfg, where=None) -> Source:
    """The source picker (``source``; for SDEdit also ``from``) drawn in ``where``; the chosen `Source`.

    An unusable drawing (an empty canvas) is explained and the page runs on pure noise instead.
    """
    where = where or st
    kind = choice_param("source", "Run the U-Net on", list(NAMES), "noise", where=where, widget="segmented",
                        format_func=NAMES.get, help="Your drawing comes from page 9 (or the link's drawing). "
                        "SDEdit noises it to a t and repairs it; inversion finds the noise x_T that DDIM turns "
                        "back into it, and the run shown goes from that x_T back down.")
    if kind == "noise":
        return Source("noise", None, None)
    d = digit.current(cfg)
    if d.x is None:
        where.warning(f"{plain(d.problem, 200)} Showing a sample from pure noise instead.")
        return Source("noise", None, None)
    t0 = int_param("from", "Repair from t", 100, 900, 600, step=100, where=where) if kind == "drawing" else None
    return Source(kind, d, t0)


def step(s: Settings, src: Source, traj: sampling.Trajectory, where=None, label: str = "Show step") -> int:
    """The shared ``step`` slider over this run's steps, saying what step 0 starts from."""
    first = {"noise": "pure noise", "drawing": f"the drawing noised to t = {src.t0}",
             "inversion": "the inverted noise x_T"}[src.kind]
    return step_param(s, where=where, label=label, n=traj.steps, first=first)


def fits(src: Source, model: str) -> bool:
    """Whether the drawing's input fits ``model`` (another model of the lab may take other pictures)."""
    cfg = runs.load_model(model)[0].config
    return src.drawn is None or src.drawn.x.shape == (cfg.in_channels, cfg.image_size, cfg.image_size)


def key(s: Settings, src: Source, model: str | None = None, seeds=None, interventions=None) -> tuple:
    """A plain-value key naming the run (for `runs.derived` and shared figures), as `runs.run_key`."""
    base = runs.run_key(s, model, seeds, interventions)
    if not src.from_drawing:
        return base
    return (src.kind, src.drawn.digest(), src.t0) + base


def trajectory(s: Settings, src: Source, capture=None, capture_steps=None, interventions=None,
               model: str | None = None, seeds=None) -> sampling.Trajectory:
    """The source's whole run (one trajectory per seed, batched), cached and shared like `runs.trajectory`."""
    if not src.from_drawing:
        return runs.trajectory(s, capture=capture, capture_steps=capture_steps, interventions=interventions,
                               model=model, seeds=seeds)
    if src.kind == "drawing":
        return digit.sdedit(s, src.drawn, s.condition, src.t0, capture, capture_steps, interventions, model, seeds)
    name = model or s.model
    iv = interventions if interventions is not None and not interventions.is_empty() else None
    seeds = tuple(seeds) if seeds is not None else (s.seed,)
    sel = tuple(capture) if isinstance(capture, (list, tuple)) else capture
    cs = tuple(capture_steps) if capture_steps is not None else None
    m, meta = runs.load_model(name)
    n = inversion_steps(s)

    x_T = np.stack([inverted(s, src, name, sd) for sd in seeds])                    # (B, C, H, W)

    def compute():
        with runs.GATE.enter():
            return inversion.trajectory(m, x_T, [s.condition] * len(seeds), steps=n, schedule=runs.schedule_name(meta),
                                        interventions=iv, capture_select=sel, capture_steps=cs)
    run = ("inversion", name, src.drawn.digest(), str(s.condition), n, seeds, sel, cs, iv.key() if iv else None)
    return runs.cached(runs.RUNS, run, compute, f"Decoding {src.who()}'s inverted noise with {n} DDIM steps…")


def inverted(s: Settings, src: Source, model: str, seed: int) -> np.ndarray:
    """The drawing's x_T (C, H, W) by ``model`` as trained (cached): the noise its DDIM turns back into it."""
    m, meta = runs.load_model(model)
    n = inversion_steps(s)

    def compute():
        with runs.GATE.enter():
            inv = inversion.invert(m, src.drawn.x[None], [s.condition], n, ITERATIONS, seed,
                                   runs.schedule_name(meta), check=False)
        return inv.x_T[0]
    return runs.cached(runs.DERIVED, ("inverted", model, src.drawn.digest(), str(s.condition), n, int(seed)), compute,
                       f"Inverting {src.who()} with {n} DDIM steps ({(ITERATIONS + 1) * n} U-Net calls)…")


def note(s: Settings, src: Source, traj: sampling.Trajectory, what: str = "The U-Net's run here is",
         seeds=None, measured: bool = True) -> str | None:
    """What the run shown is, in words (None for a sample from pure noise). measured: say how close the
    run's end (its first seed) is to the drawing, for an inversion."""
    c = s.condition
    told = f"told the caption “{plain(c)}”" if isinstance(c, str) else f"told the label {c}"
    seeds = list(seeds) if seeds is not None else [s.seed]
    sd = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    if src.kind == "drawing":
        return (f"{what} the SDEdit repair of {src.who()} from t = {src.t0} ({traj.steps} {s.sampler.upper()} "
                f"steps, {told}, guidance {s.guidance:g}, {sd}): step 0 is the drawing noised to t = {src.t0}, "
                "not pure noise. Draw on page 9.")
    if src.kind == "inversion":
        back = float(inversion.psnr(np.clip(traj.final[:1].astype(np.float32), -1, 1), src.drawn.x[None])[0])
        return (f"{what} the way back down from the DDIM inversion of {src.who()}: the noise x_T that "
                f"{traj.steps} deterministic DDIM steps ({told}, no guidance: the sidebar's sampler and guidance do "
                f"not apply here) turn back into it, found with {ITERATIONS} fixed-point iterations per step from "
                f"{sd}'s white noise. Step 0 is that x_T"
                + (f"; the run shown ends {back:.1f} dB PSNR from the drawing." if measured else ".")
                + " Draw on page 9.")
    return None


def code(s: Settings, src: Source, capture=None, extra: str = "", name: str = "traj", model: str = "model",
         head: bool = True, seeds=None) -> str:
    """Python lines that make the page's run as ``name`` with the U-Net ``model`` (an expression).

    head: start with the imports, ``model`` loaded and the drawing's x0; extra: more keyword arguments
    (e.g. ", interventions=iv"); seeds: the run's seeds (the sidebar's seed by default).
    """
    seeds = list(seeds) if seeds is not None else [s.seed]
    sel = f", capture_select={list(capture)!r}" if capture else ""
    conds = f"[{s.condition!r}]" + (f" * {len(seeds)}" if len(seeds) > 1 else "")
    out = ""
    if head:
        out = ("import numpy as np\nfrom diffviz.diffusion import sampling\nfrom diffviz.model import zoo\n"
               f'from diffviz.probe import readings\nmodel, _ = zoo.load("{s.model}")\n')
        if src.from_drawing:
            out += ('from diffviz.data import drawing\nfrom diffviz.diffusion import edit, inversion\n'
                    f'grid = drawing.decode("{src.drawn.code}")   # the link\'s drawing\n'
                    f'x0 = drawing.model_input(grid, {src.drawn.x.shape[0]}, {src.drawn.x.shape[-1]}).x   # (C, H, W)\n')
    if not src.from_drawing:
        return out + (f'{name} = sampling.run({model}, {conds}, sampler="{s.sampler}", steps={s.steps}, '
                      f'guidance={s.guidance:g}, seeds={seeds}{sel}{extra})\n')
    x0 = "x0[None]" if len(seeds) == 1 else f"np.stack([x0] * {len(seeds)})"
    if src.kind == "drawing":
        return out + (f'{name} = edit.run({model}, {x0}, {conds}, t_start={src.t0}, sampler="{s.sampler}", '
                      f'steps={s.steps}, guidance={s.guidance:g}, seeds={seeds}{sel}{extra})\n')
    n = inversion_steps(s)
    return out + (f'x_T = np.stack([inversion.invert({model}, x0[None], [{s.condition!r}], {n}, '
                  f'iterations={ITERATIONS}, noise_seed=sd, check=False).x_T[0] for sd in {seeds}])\n'
                  f'{name} = inversion.trajectory({model}, x_T, {conds}, steps={n}{sel}{extra})\n')
