"""SDEdit (Meng et al. 2022, "SDEdit: guided image synthesis and editing with SDEs"): repair a picture.

Noise a picture x0 to a chosen t with the forward process, x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε (ε seeded),
then run the reverse process from there, exactly as sampling does from pure noise: the same
`sampling.guided_eps` (guidance, interventions, capture) and the same sampler step, yielding
one `sampling.Step` per step, so a page (or `sampling.collect`) gets an ordinary `Trajectory`.

From a small t the U-Net only has to clean a little noise and keeps the strokes; from a large t
little of x0 is left but its rough layout, and the model fills in a digit (or scene) it knows.

The steps keep the sampler's stride T // steps: t_start, t_start − stride, …, down to ≥ 0, so an
edit from t = 600 with 25-step settings takes 16 steps.
"""

from __future__ import annotations

import numpy as np
import torch

from diffviz.diffusion import sampling
from diffviz.diffusion.schedulers import make_sampler
from diffviz.model.unet import UNet


def edit_timesteps(t_start: int, steps: int, T: int = 1000) -> list[int]:
    """The edit's timesteps: t_start, t_start − T//steps, … (all ≥ 0)."""
    if not 0 <= int(t_start) < T:
        raise ValueError(f"t_start must be in 0..{T - 1}, not {t_start}")
    stride = max(1, T // int(steps))
    return list(range(int(t_start), -1, -stride))


def noised(x0: torch.Tensor, t: int, seeds, schedule: str = "linear") -> tuple[torch.Tensor, torch.Tensor, list]:
    """x_t of each picture (B, C, H, W) with ε from each seed's own CPU generator: (x_t, ε, generators).

    The generators go on to a DDPM sampler for its fresh noise, as in `sampling.initial_noise`.
    """
    eps, gens = sampling.initial_noise(tuple(x0.shape[1:]), seeds)
    sched = make_sampler("ddim", schedule, 1)
    return sched.add_noise(x0, eps, torch.tensor(int(t))), eps, gens


@torch.inference_mode()
def sdedit(model: UNet, x0, conds, t_start: int = 600, sampler: str = "ddim", steps: int = 25,
           guidance: float = 2.0, seed: int = 0, seeds=None, schedule: str = "linear", interventions=None,
           capture_select=None, capture_steps=None):
    """Yield a `sampling.Step` for every step of the repair of ``x0`` (B, C, H, W) in [-1, 1] from t_start.

    conds: one label / caption / None per picture. seeds: one per picture (default seed, seed+1, …);
    the same picture, seed and settings give the same steps. Step 0's x_t is the noised picture.
    """
    x0 = torch.as_tensor(np.asarray(x0, np.float32))
    if x0.dim() != 4 or x0.shape[1:] != (model.config.in_channels, model.config.image_size, model.config.image_size):
        raise ValueError(f"x0 must be (B, {model.config.in_channels}, {model.config.image_size}, "
                         f"{model.config.image_size}), not {tuple(x0.shape)}")
    B = x0.shape[0]
    if len(conds) != B:
        raise ValueError(f"{B} pictures but {len(conds)} conditions")
    seeds = list(seeds) if seeds is not None else [seed + i for i in range(B)]
    sched = make_sampler(sampler, schedule, steps)
    sched.timesteps = torch.tensor(edit_timesteps(t_start, steps, sched.T))   # (a DDIM step's stride stays T//steps)
    x, _, gens = noised(x0, int(sched.timesteps[0]), seeds, schedule)
    yield from sampling.denoise_from(model, x, gens, sched, sampling.encode_conditions(model, conds), guidance,
                                     interventions, capture_select, capture_steps)


def run(model: UNet, x0, conds, **kw) -> sampling.Trajectory:
    """The whole repair as a `sampling.Trajectory` (x_t, ε̂, x̂0 per step, captures, the result)."""
    return sampling.collect(sdedit(model, x0, conds, **kw))
