"""Our schedulers against the real diffusers ones, number for number."""

import pytest
import torch
from conftest import require

from diffviz.diffusion import schedulers
from diffviz.diffusion.schedulers import (
    DDIMScheduler,
    DDPMScheduler,
    NoiseSchedule,
    make_sampler,
)

CLOSE = dict(rtol=1e-4, atol=1e-4)
SCHEDULES = [("linear", "linear"), ("cosine", "squaredcos_cap_v2")]


@pytest.fixture(scope="module")
def diffusers():
    return require("diffusers")


def _theirs(diffusers, kind, beta_schedule, steps, **kw):
    if kind == "ddpm":
        s = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=beta_schedule, clip_sample=False,
                                    variance_type="fixed_small", timestep_spacing="trailing", **kw)
    else:
        s = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule=beta_schedule, clip_sample=False,
                                    timestep_spacing="trailing", **kw)
    s.set_timesteps(steps)
    return s


@pytest.mark.parametrize("ours_name, theirs_name", SCHEDULES)
def test_schedule_equals_diffusers(diffusers, ours_name, theirs_name):
    ours = NoiseSchedule(ours_name)
    theirs = _theirs(diffusers, "ddpm", theirs_name, 1000)
    assert ours.betas.dtype == torch.float32
    torch.testing.assert_close(ours.betas, theirs.betas, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours.alphas_cumprod, theirs.alphas_cumprod, rtol=1e-5, atol=1e-7)
    assert (ours.alphas_cumprod[1:] < ours.alphas_cumprod[:-1]).all()
    assert ours.betas.max() <= 0.999


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
@pytest.mark.parametrize("steps", [1, 7, 10, 50, 333, 1000])
def test_timesteps_equal_diffusers(diffusers, kind, steps):
    ours = make_sampler(kind, "linear", steps)
    theirs = _theirs(diffusers, kind, "linear", steps)
    assert ours.timesteps.tolist() == theirs.timesteps.tolist()
    assert ours.timesteps[0] == 999 and len(ours.timesteps) == steps
    assert (ours.timesteps[1:] < ours.timesteps[:-1]).all() and ours.timesteps[-1] >= 0


def _inputs(steps, B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(steps, B, 1, 4, 4, generator=g), torch.randn(steps, B, 1, 4, 4, generator=g)


@pytest.mark.parametrize("steps", [10, 50, 1000])
@pytest.mark.parametrize("ours_name, theirs_name", SCHEDULES)
def test_ddpm_step_equals_diffusers_at_every_timestep(diffusers, steps, ours_name, theirs_name):
    ours = make_sampler("ddpm", ours_name, steps)
    theirs = _theirs(diffusers, "ddpm", theirs_name, steps)
    eps, x = _inputs(steps)
    for i, t in enumerate(ours.timesteps.tolist()):
        g1, g2 = torch.Generator().manual_seed(100 + i), torch.Generator().manual_seed(100 + i)
        a = ours.step(eps[i], t, x[i], generator=g1)
        b = theirs.step(eps[i], t, x[i], generator=g2)
        torch.testing.assert_close(a.pred_original_sample, b.pred_original_sample, **CLOSE, msg=f"x0 at t={t}")
        torch.testing.assert_close(a.prev_sample, b.prev_sample, **CLOSE, msg=f"prev at t={t}")


@pytest.mark.parametrize("steps", [10, 50, 1000])
@pytest.mark.parametrize("ours_name, theirs_name", SCHEDULES)
def test_ddim_step_equals_diffusers_at_every_timestep(diffusers, steps, ours_name, theirs_name):
    ours = make_sampler("ddim", ours_name, steps)
    theirs = _theirs(diffusers, "ddim", theirs_name, steps)
    eps, x = _inputs(steps, seed=1)
    for i, t in enumerate(ours.timesteps.tolist()):
        a = ours.step(eps[i], t, x[i])
        b = theirs.step(eps[i], t, x[i])
        torch.testing.assert_close(a.pred_original_sample, b.pred_original_sample, **CLOSE, msg=f"x0 at t={t}")
        torch.testing.assert_close(a.prev_sample, b.prev_sample, **CLOSE, msg=f"prev at t={t}")


@pytest.mark.parametrize("steps", [10, 50])
@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_ddim_eta_equals_diffusers(diffusers, steps, eta):
    ours = DDIMScheduler("linear", eta=eta)
    ours.set_timesteps(steps)
    theirs = _theirs(diffusers, "ddim", "linear", steps)
    eps, x = _inputs(steps, seed=2)
    for i, t in enumerate(ours.timesteps.tolist()):
        g1, g2 = torch.Generator().manual_seed(7 + i), torch.Generator().manual_seed(7 + i)
        a = ours.step(eps[i], t, x[i], generator=g1)
        b = theirs.step(eps[i], t, x[i], eta=eta, generator=g2)
        torch.testing.assert_close(a.prev_sample, b.prev_sample, **CLOSE, msg=f"prev at t={t}")
        torch.testing.assert_close(a.pred_original_sample, b.pred_original_sample, **CLOSE)
    # eta > 0 really is stochastic
    t = ours.timesteps[3].item()
    s1 = ours.step(eps[3], t, x[3], generator=torch.Generator().manual_seed(1)).prev_sample
    s2 = ours.step(eps[3], t, x[3], generator=torch.Generator().manual_seed(2)).prev_sample
    assert not torch.allclose(s1, s2)


def test_explicit_noise_equals_generator_noise():
    s = make_sampler("ddpm", "linear", 10)
    eps, x = _inputs(1)
    t = s.timesteps[2].item()
    noise = torch.randn(eps[0].shape, generator=torch.Generator().manual_seed(5))
    a = s.step(eps[0], t, x[0], generator=torch.Generator().manual_seed(5))
    b = s.step(eps[0], t, x[0], noise=noise)
    assert torch.equal(a.prev_sample, b.prev_sample)
    # a step at t = 0 adds no noise: the generator does not matter
    one = make_sampler("ddpm", "linear", 1000)
    c = one.step(eps[0], 0, x[0], generator=torch.Generator().manual_seed(5))
    d = one.step(eps[0], 0, x[0], generator=torch.Generator().manual_seed(6))
    assert torch.equal(c.prev_sample, d.prev_sample)


@pytest.mark.parametrize("ours_name, theirs_name", SCHEDULES)
def test_add_noise_equals_diffusers(diffusers, ours_name, theirs_name):
    ours = NoiseSchedule(ours_name)
    theirs = _theirs(diffusers, "ddpm", theirs_name, 1000)
    g = torch.Generator().manual_seed(3)
    x0, noise = torch.randn(16, 3, 8, 8, generator=g), torch.randn(16, 3, 8, 8, generator=g)
    t = torch.tensor([0, 1, 2, 10, 100, 250, 400, 500, 600, 750, 900, 990, 997, 998, 999, 37])
    torch.testing.assert_close(ours.add_noise(x0, noise, t), theirs.add_noise(x0, noise, t), **CLOSE)
    # one timestep for the whole batch
    one = ours.add_noise(x0, noise, torch.tensor(400))
    torch.testing.assert_close(one, theirs.add_noise(x0, noise, torch.full((16,), 400)), **CLOSE)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [10, 50])
def test_ddim_with_the_true_noise_recovers_x0(schedule, steps):
    s = make_sampler("ddim", schedule, steps)
    g = torch.Generator().manual_seed(4)
    x0 = torch.rand(2, 1, 6, 6, generator=g) * 2 - 1
    noise = torch.randn(2, 1, 6, 6, generator=g)
    for t in s.timesteps.tolist():
        x_t = s.add_noise(x0, noise, torch.tensor([t, t]))
        out = s.step(noise, t, x_t)
        tol = 1e-4 * max(1.0, float(1 / s.alphas_cumprod[t].sqrt()))     # x̂0 divides by √ᾱ_t
        torch.testing.assert_close(out.pred_original_sample, x0, rtol=0, atol=tol)
        torch.testing.assert_close(s.pred_x0(x_t, noise, t), x0, rtol=0, atol=tol)
    # and the whole deterministic chain with the perfect ε lands on x0 (float32 rounding at ᾱ_999 ≈ 0 aside)
    x = s.add_noise(x0, noise, torch.tensor([999, 999]))
    for t in s.timesteps.tolist():
        x = s.step(noise, t, x).prev_sample
    torch.testing.assert_close(x, x0, rtol=0, atol=5e-3)


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_sampler("euler")
    with pytest.raises(ValueError):
        schedulers.make_betas("quadratic")
    with pytest.raises(ValueError):
        make_sampler("ddim", "linear", 0)
    with pytest.raises(ValueError):
        make_sampler("ddpm", "linear", 1001)
    assert isinstance(make_sampler("DDPM"), DDPMScheduler)
