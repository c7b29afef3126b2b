"""The diffusion model as a zero-shot classifier (Li et al. 2023, "Your diffusion model is secretly a
zero-shot classifier").

The U-Net was trained to predict the noise ε in x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε *given a label*. Told the
right label, it predicts the noise better. So: noise the digit with fixed noises (probes p = a level t_p
and a draw ε_p), ask for ε̂ under every label c with the same (t_p, ε_p), and read the digit as the
label with the lowest mean error

    e(c, p) = ‖ε_θ(x_{t_p}, t_p, c) − ε_p‖²      err(c) = mean_p e(c, p) / mean_c' e(c', p)      reading = argmin_c err(c)

Each probe's errors are divided by their average over the labels asked there, so every probe gets
the same say (raw errors are several times larger at low t).

The reading is sequential (adaptive), like Li et al.'s pruning but per digit: a first stage asks every
label at a few probes; a digit whose runner-up is already far behind (its *margin*, the runner-up's
err minus the best's, is at least the next stage's ``margin``) stops there. Only the uncertain digits
go on, with only their likely labels, to more probes: more noise levels, then a second noise draw.
Easy digits cost few U-Net rows, hard ones many.
Each probe's noise depends only on (t, draw, seed), so a digit's reading is the same alone or in a
batch, and a policy can be replayed on a table of every label at every probe (`replay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.model.unet import UNet
from diffviz.model.zoo import native_bf16

SEED = 0
CHUNK = 64          # U-Net rows per call: on this 2-core CPU 1.2-1.5x faster per row than 500 (fits the caches)


@dataclass(frozen=True)
class Stage:
    """One stage of the reading: the ``keep`` best labels so far asked at ``probes``, (t, draw) pairs.

    A digit goes on to this stage only while its margin is below ``margin`` (the first stage: always).
    """

    probes: tuple[tuple[int, int], ...]
    keep: int = 10
    margin: float = float("inf")


def _grid(ts, draws) -> tuple[tuple[int, int], ...]:
    return tuple((int(t), int(d)) for d in draws for t in ts)


# Chosen on 500 rewritten training digits (images the U-Net never saw; benchmarks/zero_shot_policy.py):
# all labels at 8 levels of t = 150…600; a close call goes on with its best 4 labels to the other 11
# levels there; a still closer one with its best 2 to a second noise draw. MODELS.md has the figures.
POLICY = (Stage(_grid((150, 225, 275, 350, 400, 475, 525, 600), [0])),
          Stage(_grid((175, 200, 250, 300, 325, 375, 425, 450, 500, 550, 575), [0]), keep=4, margin=0.1),
          Stage(_grid(range(150, 601, 50), [1]), keep=2, margin=0.05))


@dataclass
class Reading:
    """Zero-shot readings of B digits at P probes. errors is NaN where a label was not asked."""

    labels: np.ndarray           # (B,) the reading: argmin of the mean relative error
    errors: np.ndarray           # (B, K, P) ‖ε̂ − ε‖² per label and probe (K = number of labels)
    ts: np.ndarray               # (P,) each probe's noise level
    draws: np.ndarray            # (P,) each probe's noise draw
    model_calls: np.ndarray      # (B,) U-Net rows per digit
    stages: np.ndarray           # (B,) how many stages each digit went through

    def relative(self) -> np.ndarray:
        """(B, K, P) each error divided by its probe's mean over the labels asked there (NaN: not asked)."""
        return _relative(self.errors)

    def mean_errors(self, first_only: bool = False) -> np.ndarray:
        """(B, K) mean relative error per label over the probes it was asked at (or the first stage's only)."""
        e = self.relative()
        e = e[:, :, self.first_round] if first_only else e
        with np.errstate(all="ignore"):
            return np.nansum(e, axis=2) / np.isfinite(e).sum(axis=2)

    def kept(self) -> np.ndarray:
        """(B, K) bool: the labels asked at every probe their digit was asked at (False: dropped by a stage)."""
        return _kept(self.errors)

    def margins(self) -> np.ndarray:
        """(B,) the runner-up's score minus the reading's (how sure the reading is)."""
        return _margins(_scores(self.errors))

    @property
    def first_round(self) -> np.ndarray:
        """(P,) bool: the probes every label was asked at."""
        return np.isfinite(self.errors).all(axis=(0, 1))

    @property
    def first(self) -> int:
        """How many probes every label was asked at."""
        return int(self.first_round.sum())


def probes_of(policy) -> list[tuple[int, int]]:
    """The policy's probes in order of first use, without repeats."""
    return list(dict.fromkeys(p for s in policy for p in s.probes))


def probe_noise(probes, shape, seed: int = SEED) -> torch.Tensor:
    """(P, *shape) the shared noise: probe (t, draw) uses its own generator seeded ``seed + t + 1000 * draw``."""
    return torch.stack([torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed + t + 1000 * d))
                        for t, d in probes])


@torch.inference_mode()
def _errors(model, x0, rows, ts, noise, sched, chunk, bf16=False) -> np.ndarray:
    """‖ε̂ − ε‖² (mean over pixels) for each row (digit, label, probe) of ``rows`` (N, 3)."""
    dev = model.stem.weight.device
    t_all = torch.as_tensor(np.asarray(ts))
    out = []
    for a in range(0, len(rows), chunk):
        r = torch.as_tensor(rows[a:a + chunk])
        t = t_all[r[:, 2]]
        eps = noise[r[:, 2]]                                            # (n, C, H, W)
        x_t = sched.add_noise(x0[r[:, 0]], eps, t)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x_t.to(dev), t.to(dev), r[:, 1].to(dev)).float().cpu()
        out.append((pred - eps).flatten(1).pow(2).mean(1))
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def classify(model: UNet, x0, policy=POLICY, seed: int = SEED, schedule: str = "linear",
             chunk: int = CHUNK, bf16: bool | None = None) -> Reading:
    """Read digits x0 (B, C, H, W) in [-1, 1] with a class-conditional U-Net, stage by stage (``policy``).

    ``chunk``: U-Net rows per call. ``bf16``: the U-Net in bfloat16 autocast (the errors stay float32);
    None = where the device computes bf16 natively (`zoo.native_bf16`), about 2x faster there.
    """
    if model.config.conditioning != "class":
        raise ValueError("the zero-shot reading needs a model conditioned on class labels")
    x0 = torch.as_tensor(np.asarray(x0, np.float32))
    if x0.dim() == 3:
        x0 = x0[None]
    probes = probes_of(policy)
    ts = np.array([t for t, _ in probes])
    noise = probe_noise(probes, x0.shape[1:], seed)
    sched = NoiseSchedule(schedule)
    if bf16 is None:
        bf16 = native_bf16(str(model.stem.weight.device))
    return _run(policy, len(x0), model.config.num_classes,
                lambda rows: _errors(model, x0, rows, ts, noise, sched, chunk, bf16))


def replay(full: np.ndarray, ts, draws, policy=POLICY) -> Reading:
    """What `classify(policy=)` returns, from a (B, K, Q) table of every label at probes (ts, draws) ⊇ the policy's.

    The noise depends only on the probe, so a policy asks a subset of the same rows: this replays any
    policy on one table without calling the U-Net again (benchmarks/zero_shot_policy.py).
    """
    col = {(int(t), int(d)): q for q, (t, d) in enumerate(zip(ts, draws))}
    cols = np.array([col[p] for p in probes_of(policy)])
    return _run(policy, full.shape[0], full.shape[1], lambda rows: full[rows[:, 0], rows[:, 1], cols[rows[:, 2]]])


def _run(policy, B: int, K: int, ask: Callable[[np.ndarray], np.ndarray]) -> Reading:
    """The staged reading; ``ask(rows)`` returns the errors of rows (digit, label, probe index) (N, 3)."""
    probes = probes_of(policy)
    index = {p: j for j, p in enumerate(probes)}
    errors = np.full((B, K, len(probes)), np.nan, np.float32)
    stages = np.zeros(B, np.int64)
    going = np.arange(B)                                                 # digits still being read
    for s in policy:
        if len(going) == 0:
            break
        score = _scores(errors[going])                                   # (G, K) the labels' scores so far
        if s is not policy[0]:
            close = _margins(score) < s.margin
            going, score = going[close], score[close]
        keep = max(1, min(s.keep, K))
        labels = np.argsort(score, axis=1, kind="stable")[:, :keep]                      # (G, keep)
        j = np.array([index[p] for p in s.probes])
        g, k, q = np.meshgrid(np.arange(len(going)), np.arange(keep), j, indexing="ij")
        rows = np.stack([going[g.ravel()], labels[g.ravel(), k.ravel()], q.ravel()], 1)
        if len(rows):
            errors[rows[:, 0], rows[:, 1], rows[:, 2]] = ask(rows)
            stages[going] += 1
    score = _scores(errors)
    return Reading(score.argmin(1).astype(np.int64), errors, np.array([t for t, _ in probes]),
                   np.array([d for _, d in probes]), np.isfinite(errors).sum(axis=(1, 2)), stages)


def _relative(errors: np.ndarray) -> np.ndarray:
    """(B, K, P) errors ÷ their mean over the labels asked at each probe (NaN where not asked)."""
    n = np.isfinite(errors).sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        return errors / (np.nansum(errors, axis=1, keepdims=True) / n)


def _scores(errors: np.ndarray) -> np.ndarray:
    """(B, K) mean relative error over the probes asked, for labels asked at all of them (inf: the others).

    Before any probe every label scores 0, so the first stage keeps labels in order 0, 1, …
    """
    asked = np.isfinite(errors)                                          # (B, K, P)
    rel = _relative(errors)
    return np.where(_kept(errors), np.nan_to_num(rel, nan=0.0).sum(2) / np.maximum(asked.any(1).sum(1, keepdims=True), 1), np.inf)


def _kept(errors: np.ndarray) -> np.ndarray:
    """(B, K) bool: each label asked wherever its digit was (at every probe any label was asked at)."""
    asked = np.isfinite(errors)                                          # (B, K, P)
    return (asked == asked.any(axis=1, keepdims=True)).all(axis=2)


def _margins(score: np.ndarray) -> np.ndarray:
    """(B,) second-lowest score minus the lowest (inf with fewer than two labels asked everywhere)."""
    two = np.sort(score, axis=1)[:, :2]
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(two[:, 1] - two[:, 0], nan=np.inf)


def deciding_levels(reading: Reading, i: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per noise level, the runner-up's relative error minus the reading's for digit i (> 0 = that level votes for it).

    Averaged over the level's draws where both labels were asked; NaN where they were not. Returns
    (levels (T,), margins (T,)). The runner-up is the label with the second-lowest score.
    """
    e = reading.relative()[i]                                            # (K, P)
    order = np.argsort(_scores(reading.errors[i:i + 1])[0], kind="stable")
    diff = e[order[1]] - e[order[0]]                                     # (P,)
    levels = np.unique(reading.ts)
    with np.errstate(all="ignore"):
        m = np.array([np.nanmean(diff[reading.ts == t]) if np.isfinite(diff[reading.ts == t]).any() else np.nan
                      for t in levels])
    return levels, m
