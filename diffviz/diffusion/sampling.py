"""The reverse process: start from pure noise and let the U-Net remove it step by step.

`denoise` is a generator that yields one `Step` per sampling step (t, x_t, ε̂, x̂0, x_{t-1}
and what was captured), so a page can show every one; `run` collects them in a `Trajectory`.
All noise comes from a CPU generator seeded per sample: a seed gives the same images on any
device, and sample i of a batch equals what ``seeds=[seeds[i]]`` gives alone.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch

from diffviz.diffusion.batcher import Cancelled, padded_forward
from diffviz.diffusion.schedulers import DDPMScheduler, make_sampler
from diffviz.model import interventions as iv_mod
from diffviz.model.capture import Trace, capture
from diffviz.model.unet import UNet


@dataclass
class Step:
    """One sampling step. Tensors are (B, C, H, W) on the CPU."""

    index: int
    t: int
    x_t: torch.Tensor
    eps: torch.Tensor
    pred_x0: torch.Tensor
    x_prev: torch.Tensor
    trace: Trace | None = None


@dataclass
class Trajectory:
    """A whole sampling run: per step t, x_t, ε̂, x̂0 (float16 arrays) and the captured traces."""

    timesteps: np.ndarray                      # (S,) the true t of each step
    x_t: np.ndarray                            # (S, B, C, H, W)
    eps: np.ndarray                            # (S, B, C, H, W)
    pred_x0: np.ndarray                        # (S, B, C, H, W)
    final: np.ndarray                          # (B, C, H, W) = x_0 after the last step
    traces: dict = field(default_factory=dict)  # step index -> Trace (only captured steps)

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def x_prev(self, i: int) -> np.ndarray:
        """x_{t-1} after step i (the next step's x_t, or the final image)."""
        return self.x_t[i + 1] if i + 1 < self.steps else self.final

    def nbytes(self) -> int:
        arrays = self.x_t.nbytes + self.eps.nbytes + self.pred_x0.nbytes + self.final.nbytes
        return arrays + sum(tr.nbytes() for tr in self.traces.values())


def encode_conditions(model: UNet, conds) -> torch.Tensor | None:
    """Labels (ints, None = no label) or captions (str) -> the model's condition tensor."""
    cfg = model.config
    if cfg.conditioning == "none":
        return None
    if cfg.conditioning == "class":
        return torch.tensor([cfg.num_classes if c is None else int(c) for c in conds], dtype=torch.long)
    from diffviz.data import text
    return text.tokenize_batch(["" if c is None else str(c) for c in conds])


def guided_eps(model: UNet, x_t, t, cond, guidance: float, interventions=None, capture_select=None,
               batcher=None):
    """ε̂ with classifier-free guidance: ε_u + w (ε_c - ε_u), one batched forward pass.

    Applies the interventions valid at the true t: wrong t and a dropped condition change the
    model's inputs; the rest act inside the network. Returns (ε̂, trace of the conditional half).
    With a `batcher.Batcher`, the pass joins other runs' passes (one padded to its minimum size
    when it carries interventions, which act on this thread's calls only).
    """
    B = x_t.shape[0]
    t_true = int(t)
    iv = interventions if interventions is not None and interventions.active_at(t_true) else None
    t_model = iv.wrong_t if iv is not None and iv.wrong_t is not None else t_true
    dev = model.stem.weight.device
    null = model.null_condition(B)
    if cond is not None and iv is not None and iv.drop_condition:
        cond = null
    use_cfg = cond is not None and guidance != 1.0
    x_in = torch.cat([x_t, x_t]) if use_cfg else x_t
    c_in = torch.cat([cond.to(dev), null]) if use_cfg else (cond.to(dev) if cond is not None else None)
    t_in = torch.full((x_in.shape[0],), t_model, dtype=torch.long, device=dev)
    trace = None
    with iv_mod.applied(iv, t_true):
        if batcher is not None and iv is None:
            out, trace = batcher.forward(model, x_in.to(dev), t_in, c_in, capture_select, slice(0, B))
        elif batcher is not None:
            out, trace = padded_forward(model, x_in.to(dev), t_in, c_in, capture_select, slice(0, B))
        elif capture_select:
            with capture(model, capture_select, batch=slice(0, B)) as trace:
                out = model(x_in.to(dev), t_in, c_in)
        else:
            out = model(x_in.to(dev), t_in, c_in)
    if use_cfg:
        e_c, e_u = out[:B], out[B:]
        out = e_u + guidance * (e_c - e_u)
    return out, trace


def initial_noise(shape, seeds) -> tuple[torch.Tensor, list[torch.Generator]]:
    """x_T ~ N(0, I) per sample from its own CPU generator; the generators go on to the sampler."""
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    x = torch.stack([torch.randn(shape, generator=g) for g in gens])
    return x, gens


def _start(model: UNet, conds, sampler: str, steps: int, seed: int, seeds, schedule: str):
    """(x_T (B, C, H, W), per-sample generators, the sampler, the condition tensor) for a run from noise."""
    cfg = model.config
    seeds = list(seeds) if seeds is not None else [seed + i for i in range(len(conds))]
    x, gens = initial_noise((cfg.in_channels, cfg.image_size, cfg.image_size), seeds)
    return x, gens, make_sampler(sampler, schedule, steps), encode_conditions(model, conds)


@torch.inference_mode()
def denoise(model: UNet, conds, sampler: str = "ddim", steps: int = 50, guidance: float = 2.0,
            seed: int = 0, seeds=None, schedule: str = "linear", interventions=None,
            capture_select=None, capture_steps=None, batcher=None):
    """Yield a `Step` for every sampling step, from x_T (pure noise) to x_0.

    conds: one condition per sample (label, caption or None). seeds: one seed per sample
    (default seed, seed+1, ...). capture_steps: step indices to capture (None = all when
    capture_select is given). batcher: a shared `batcher.Batcher` (concurrent runs share passes).
    """
    x, gens, sched, cond = _start(model, conds, sampler, steps, seed, seeds, schedule)
    yield from denoise_from(model, x, gens, sched, cond, guidance, interventions, capture_select, capture_steps,
                            batcher)


def denoise_from(model: UNet, x: torch.Tensor, gens, sched, cond, guidance: float = 2.0, interventions=None,
                 capture_select=None, capture_steps=None, batcher=None):
    """Yield a `Step` for each of ``sched.timesteps``, starting from x (B, C, H, W) at the first of them.

    The loop behind `denoise` (from pure noise) and SDEdit (from a noised picture): ε̂ by `guided_eps`
    with its capture, then the sampler's step; a DDPM sampler's fresh noise comes from ``gens``.
    batcher: a shared `batcher.Batcher` (concurrent runs share U-Net passes).
    """
    with batcher.active() if batcher is not None else contextlib.nullcontext():
        for i, t in enumerate(sched.timesteps.tolist()):
            st = one_step(model, x, gens, sched, i, t, cond, guidance, interventions, capture_select,
                          capture_steps, batcher)
            yield st
            x = st.x_prev


def one_step(model: UNet, x, gens, sched, i: int, t: int, cond, guidance, interventions=None,
             capture_select=None, capture_steps=None, batcher=None) -> Step:
    """Sampling step i (at timestep t) from x (B, C, H, W): ε̂ by `guided_eps`, then the sampler's step.

    Changes nothing it is given until ε̂ is there (a DDPM step's fresh noise is drawn from ``gens``
    after it), so a step stopped in the batcher can be asked again and gives the same bits.
    """
    dev = model.stem.weight.device
    want = capture_select if capture_select and (capture_steps is None or i in capture_steps) else None
    eps, trace = guided_eps(model, x.to(dev), t, cond, guidance, interventions, want, batcher)
    eps = eps.float().cpu()
    noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in gens]) \
        if isinstance(sched, DDPMScheduler) and t > 0 else None
    out = sched.step(eps, t, x, noise=noise)
    return Step(i, t, x, eps, out.pred_original_sample, out.prev_sample, trace)


class Run:
    """A sampling run that can stop between two steps and go on later, from the step where it stopped.

    ``Run(model, conds, **denoise's keywords).advance()`` is `run`. ``advance(wanted)`` asks
    ``wanted()`` before every step and raises `Cancelled` when it says False (nobody waits for the
    run any more), keeping x_t, the generators and the steps so far: a later ``advance`` goes on
    and the `Trajectory` has the same bits as a run never stopped. Not for two threads at once.
    """

    def __init__(self, model: UNet, conds, sampler: str = "ddim", steps: int = 50, guidance: float = 2.0,
                 seed: int = 0, seeds=None, schedule: str = "linear", interventions=None,
                 capture_select=None, capture_steps=None, batcher=None):
        self.model, self.guidance, self.interventions = model, guidance, interventions
        self.capture_select, self.capture_steps, self.batcher = capture_select, capture_steps, batcher
        self.x, self.gens, self.sched, self.cond = _start(model, conds, sampler, steps, seed, seeds, schedule)
        self.kept = _Kept()                         # the steps done so far (compact)

    @torch.inference_mode()
    def advance(self, wanted=None, owner=None) -> Trajectory:
        """Compute the remaining steps and return the whole `Trajectory`; `Cancelled` when not wanted.

        wanted: a callable asked before each step (and by the batcher before each pass); owner: who
        is asking (a session: the batcher serves owners in turns).
        """
        client = self.batcher.client(owner, wanted) if self.batcher is not None else None
        ts = self.sched.timesteps.tolist()
        with client.active() if client is not None else contextlib.nullcontext():
            while (i := len(self.kept.ts)) < len(ts):
                if wanted is not None and not wanted():
                    raise Cancelled(f"stopped before step {i} of {len(ts)}: nobody waits for it")
                st = one_step(self.model, self.x, self.gens, self.sched, i, ts[i], self.cond, self.guidance,
                              self.interventions, self.capture_select, self.capture_steps, client)
                self.kept.add(st)
                self.x = st.x_prev
        return self.kept.trajectory()

    @property
    def done_steps(self) -> int:
        """How many steps are computed (all of them once `advance` has returned)."""
        return len(self.kept.ts)


def run(model: UNet, conds, **kw) -> Trajectory:
    """Run `denoise` to the end and keep everything as a compact float16 `Trajectory`."""
    return Run(model, conds, **kw).advance()


def collect(steps) -> Trajectory:
    """Every `Step` of a generator (`denoise`, SDEdit) kept as a compact float16 `Trajectory`."""
    kept = _Kept()
    for st in steps:
        kept.add(st)
    return kept.trajectory()


class _Kept:
    """The steps so far, as they go into a `Trajectory` (float16 arrays, traces by step index)."""

    def __init__(self):
        self.ts, self.xs, self.es, self.x0s, self.traces, self.final = [], [], [], [], {}, None

    def add(self, st: Step) -> None:
        self.ts.append(st.t)
        self.xs.append(st.x_t.half().numpy()), self.es.append(st.eps.half().numpy())
        self.x0s.append(st.pred_x0.half().numpy())
        if st.trace is not None:
            self.traces[st.index] = st.trace
        self.final = st.x_prev

    def trajectory(self) -> Trajectory:
        return Trajectory(np.array(self.ts), np.stack(self.xs), np.stack(self.es), np.stack(self.x0s),
                          self.final.half().numpy(), self.traces)


def sample(model: UNet, conds, **kw) -> np.ndarray:
    """Just the final images (B, C, H, W) float32 in about [-1, 1]."""
    final = None
    for st in denoise(model, conds, **kw):
        final = st.x_prev
    return final.clamp(-1, 1).numpy()
