"""The shared runs cache: the model, sampling trajectories, first passes and noise probes, each computed
once per distinct setting and shared by every session (bounded by count and bytes).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from diffviz.app import waiting
from diffviz.app.cache import BoundedCache
from diffviz.app.notices import plain, scoped
from diffviz.app.settings import Settings, settings
from diffviz.diffusion import sampling
from diffviz.diffusion.batcher import Batcher, Cancelled
from diffviz.model import zoo
from diffviz.model.checkpoint import CheckpointError
from diffviz.model.interventions import Interventions

# Bounded so that a class's memory stays flat: a run pushed out is recomputed when asked again
# (the same seed gives the same bits). The trajectories with captures (Inside, attention) are the big ones.
RUNS = BoundedCache(max_entries=48, max_bytes=320 * 2**20, size=lambda tr: tr.nbytes())
PASSES = BoundedCache(max_entries=96, max_bytes=192 * 2**20, size=lambda v: v.nbytes())   # single passes, GIFs


# One batcher per server process: sampling runs of different sessions that are under way at the
# same moment share each U-Net pass (diffviz.diffusion.batcher; the same bits as alone), sessions in turns.
# DIFFVIZ_PASS_WORKERS: how many of a batch's passes run at once, each on its own core.


def pass_workers() -> int:
    """DIFFVIZ_PASS_WORKERS, else one per core, at most 4 (a batch holds at most 4 passes).

    One server on 2 cores, 30 students on distinct seeds, quiet, back to back: p95 9.3 / 11.1 s with
    one worker, 6.2 / 7.3 s with two (docs/deploy.md). diffviz-serve gives each replica one.
    """
    return max(1, int(os.environ.get("DIFFVIZ_PASS_WORKERS") or min(os.cpu_count() or 1, 4)))


BATCHER = Batcher(workers=pass_workers())
# At most this many sampling runs compute at once in a process; more wait their turn in arrival order,
# asleep. Every batched pass has 8 rows (4 guided runs), so 8 runs at once lose nothing to batching,
# and many runs at once cannot pile up threads that starve the server's event loop.
GATE = waiting.Gate(int(os.environ.get("DIFFVIZ_MAX_RUNS") or 8))
# Runs stopped because nobody waited for them any more (their students asked again or left): the
# same question asked again goes on from the step where its run stopped (diffviz.app.waiting).
PARKED = waiting.Parked()

# ---------------------------------------------------------------- models and cached runs

def open_page(page: str, *own: str):
    """Every page's preamble: (settings, model, meta) for the session; `own` names URL parameters
    that mean something else on other pages (e.g. "level"), forgotten when another page set them."""
    s = settings()
    if own:
        scoped(page, *own)
    model, meta = load_model(s.model)
    return s, model, meta


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
    owner = waiting.owner()

    def wanted() -> bool:                                  # anybody (this session or another) waiting
        return RUNS.wanted(key)

    def compute():
        run = PARKED.take(key)
        _trace("resumed" if run else "started", run, key)
        run = run or sampling.Run(
            m, [s.condition] * len(seeds), sampler=s.sampler, steps=s.steps, guidance=s.guidance, seeds=list(seeds),
            interventions=iv, capture_select=sel, capture_steps=cs, batcher=BATCHER)
        try:
            with GATE.enter(wanted):
                tr = run.advance(wanted, owner)
        except Cancelled:
            PARKED.put(key, run)
            _trace("stopped", run, key)
            raise
        _trace("finished", run, key)
        return tr
    try:
        return cached(RUNS, key, compute, f"Sampling {s.steps} steps with {name}…", waiting.script_run_wanted())
    except Cancelled:
        waiting.end_this_run()
        raise


def cached(cache: BoundedCache, key, compute, spinner: str, wants=None):
    """``cache.get_or_compute(key, compute, wants)``, with a spinner while it computes or waits for another.

    The spinner stays outside the computation. Streamlit ends a script run it was asked to stop (a
    rerun starts a new script thread; a tab closed) at the run's next ``st.`` call, the spinner's exit
    among them: inside, it would throw the finished value away before the cache holds it, and the
    session that asked again (and waits for this very value) would compute it once more.
    """
    hit = cache.get(key)
    if hit is not None:
        return hit
    with st.spinner(spinner):
        return cache.get_or_compute(key, compute, wants)


def _trace(event: str, run, key: tuple) -> None:
    """With DIFFVIZ_TRACE_RUNS set, one line per run event on stderr (the classroom benchmark counts them):
    ``diffviz-run EVENT STEPS_DONE MODEL seeds=…``."""
    if os.environ.get("DIFFVIZ_TRACE_RUNS"):
        seeds = ",".join(map(str, key[1]))
        print(f"diffviz-run {event} {run.done_steps if run else 0} {key[0]} seeds={seeds}", file=sys.stderr, flush=True)


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
    from diffviz.diffusion.schedulers import make_sampler
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
    from diffviz.diffusion.schedulers import NoiseSchedule
    m, meta = load_model(s.model)
    ts = np.asarray(ts, dtype=np.int64)
    digest = hashlib.sha1(np.ascontiguousarray(x0, dtype=np.float32).tobytes()).hexdigest()

    def compute():
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
    return cached(PASSES, ("noise-probe", s.model, s.seed, digest, str(condition), ts.tobytes()), compute,
                  f"Noising the image to {len(ts)} levels and asking the U-Net for the noise…")


class _Bytes(bytes):
    def nbytes(self) -> int:
        return len(self)


def cached_bytes(key: tuple, compute) -> bytes:
    """Bytes (a GIF, a PNG) computed once per key and shared (bounded)."""
    return PASSES.get_or_compute(("bytes",) + tuple(key), lambda: _Bytes(compute()))


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


DERIVED = BoundedCache(max_entries=256, max_bytes=128 * 2**20, size=_nbytes)


def derived(key: tuple, compute):
    """A result computed from cached runs (rankings, spectra, sweeps), cached by a plain-value key.

    The key must name everything the result depends on (settings, model, step, knobs), so two
    sessions asking the same question share the answer and a slider moved back costs nothing.
    """
    return DERIVED.get_or_compute(key, compute)


def run_key(s: Settings, model: str | None = None, seeds=None, interventions: Interventions | None = None) -> tuple:
    """A plain-value key for everything a sampling run depends on (for `derived`)."""
    iv = interventions if interventions is not None and not interventions.is_empty() else None
    return (model or s.model, tuple(seeds) if seeds is not None else (s.seed,), s.sampler, s.steps,
            s.condition, s.guidance, iv.key() if iv else None)
