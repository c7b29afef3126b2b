"""DDIM inversion: inverting a DDIM sample finds its x_T; batches equal single images; PSNR."""

from __future__ import annotations

import numpy as np
import torch

from diffviz.diffusion import inversion, sampling


def _ddim_sample(model, labels, seeds, steps):
    """(x_T, x0) of deterministic DDIM with no guidance, x0 unclipped float32."""
    last = None
    for st in sampling.denoise(model, labels, sampler="ddim", steps=steps, guidance=1.0, seeds=seeds):
        if last is None:
            x_T = st.x_t.clone()
        last = st
    return x_T.numpy(), last.x_prev.numpy()


def test_inverting_a_ddim_sample_returns_its_noise(tiny_model):
    x_T, x0 = _ddim_sample(tiny_model, [3, 7], [5, 6], steps=10)
    plain = inversion.invert(tiny_model, x0, [3, 7], steps=10)
    fixed = inversion.invert(tiny_model, x0, [3, 7], steps=10, iterations=8)
    err_plain = np.abs(plain.x_T - x_T).max()
    err_fixed = np.abs(fixed.x_T - x_T).max()
    assert err_fixed < 1e-3, err_fixed
    assert err_fixed < err_plain                       # the fixed-point iterations are what make it exact
    assert fixed.model_calls == 10 * 9 and plain.model_calls == 10
    assert fixed.latents.shape == (11, 2, 1, 8, 8) and fixed.residual.shape == (10, 2)
    assert fixed.residual.max() < 1e-3
    rec = inversion.reconstruct(tiny_model, fixed.x_T, [3, 7], steps=10)
    assert np.abs(rec - x0).max() < 1e-4 * np.abs(x0).max() + 1e-3   # a random tiny model's x0 is large


def test_batched_inversion_equals_one_image_at_a_time(tiny_model):
    x0 = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1)).numpy() * 2 - 1
    labels = [0, None, 9]
    batch = inversion.invert(tiny_model, x0, labels, steps=5, iterations=2, noise_seed=10)
    for i in range(3):
        one = inversion.invert(tiny_model, x0[i:i + 1], [labels[i]], steps=5, iterations=2, noise_seed=10 + i)
        np.testing.assert_allclose(batch.x_T[i], one.x_T[0], rtol=1e-3, atol=1e-3)   # float batching noise


def test_white_noise_start_is_solved_until_its_x0_is_the_image(tiny_model):
    x0 = -np.ones((4, 1, 8, 8), np.float32)
    raw = inversion.invert(tiny_model, x0, None, steps=20, iterations=0, noise_seed=0)
    solved = inversion.invert(tiny_model, x0, None, steps=20, iterations=6, noise_seed=0)
    # The first step's DDIM step (ᾱ_prev = 1) returns x̂0: white noise alone misses x0, the iterations fix it.
    assert raw.residual[0].min() > 0.05
    assert solved.residual[0].max() < 1e-3
    assert raw.model_calls == 19 and solved.model_calls == 19 + 20 * 6
    z = inversion.white_noise((1, 8, 8), 0, 4).numpy()
    np.testing.assert_array_equal(inversion.white_noise((1, 8, 8), 2, 1).numpy()[0], z[2])


def test_psnr_and_gaussian_stats():
    a = np.zeros((2, 1, 4, 4))
    b = a.copy()
    b[1] += 0.02                                        # MSE 4e-4 on a range of 2 -> 40 dB
    p = inversion.psnr(b, a)
    assert p[0] > 150 and abs(p[1] - 40.0) < 1e-6
    smooth = np.repeat(np.repeat(np.random.default_rng(0).normal(size=(3, 1, 4, 4)), 4, -1), 4, -2)
    white = np.random.default_rng(1).normal(size=(3, 1, 16, 16))
    assert inversion.gaussian_stats(smooth)["lag1_correlation"].min() > 0.5
    assert abs(inversion.gaussian_stats(white)["lag1_correlation"]).max() < 0.25
