"""diffviz.analysis: closed forms for the FFT split, channel ranking, attention concentration, FiLM
sweeps (checked against what the real forward pass computes) and the told-t sweep."""

import math

import numpy as np
import pytest
import torch

from diffviz.diffusion import sampling
from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.model.capture import capture
from diffviz.model.layers import sinusoidal_embedding
from diffviz.probe import readings

torch.set_num_threads(1)


# ---------------------------------------------------------------- frequencies

def test_constant_image_has_no_high_frequency():
    x = np.full((3, 16, 16), 0.7, np.float32)
    low, high = readings.spectral_split(x, 0.5)
    assert high == pytest.approx(0.0, abs=1e-9)
    assert low == pytest.approx(float((x.astype(np.float64) ** 2).sum()), rel=1e-9)   # Parseval
    assert readings.high_share(x, 0.1) == pytest.approx(0.0, abs=1e-12)


def test_checkerboard_is_all_high_frequency():
    yy, xx = np.mgrid[:16, :16]
    board = np.where((yy + xx) % 2 == 0, 1.0, -1.0)[None]            # zero mean: only the (½, ½) frequency
    assert readings.high_share(board, 0.5) == pytest.approx(1.0, abs=1e-12)
    assert readings.high_share(board, 0.9) == pytest.approx(1.0, abs=1e-12)
    assert readings.radial_frequency(16, 16)[8, 8] == pytest.approx(math.sqrt(2))


def test_split_follows_the_cut_for_stripes():
    """Stripes with period 4 sit at 0.5 × Nyquist: below a cut of 0.6, above a cut of 0.4."""
    x = np.cos(2 * np.pi * np.arange(16) / 4)[None, :].repeat(16, 0)
    assert readings.high_share(x, 0.6) == pytest.approx(0.0, abs=1e-12)
    assert readings.high_share(x, 0.4) == pytest.approx(1.0, abs=1e-12)


def test_split_conserves_energy_and_zero_input():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 14, 14))
    low, high = readings.spectral_split(x, 0.3)
    assert low + high == pytest.approx(float((x ** 2).sum()), rel=1e-6)      # (float32 inputs)
    assert readings.high_share(np.zeros((2, 8, 8))) == 0.0


def test_batched_high_shares_match_one_by_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3, 14, 14)).astype(np.float32)
    x[2] = 1.5                                                       # a constant one in the stack
    batched = readings.high_shares(x, 0.5)
    single = [readings.high_share(xi, 0.5) for xi in x]
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-7)
    assert batched[2] == pytest.approx(0.0, abs=1e-7)
    assert readings.high_shares(np.zeros((2, 1, 4, 4))).tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- feature maps

def test_channel_ranking_by_energy():
    x = np.zeros((2, 4, 3, 3), np.float32)                          # (steps, C, H, W)
    x[:, 0] = 0.1
    x[:, 1] = -3.0                                                   # the sign does not matter
    x[:, 2] = 1.0
    x[1, 3] = 2.0                                                    # strong at one step only
    np.testing.assert_allclose(readings.channel_energy(x), [0.01, 9.0, 1.0, 2.0])
    assert readings.rank_channels(x).tolist() == [1, 3, 2, 0]
    assert readings.rank_channels(x, top=2).tolist() == [1, 3]
    assert readings.rank_channels(np.zeros((3, 2, 2))).tolist() == [0, 1, 2]     # ties keep the order


def test_symmetric_limit_ignores_a_lone_outlier():
    x = np.linspace(-1, 1, 10_000)
    x[0] = 500.0
    lim = readings.symmetric_limit(x, x[::-1])
    assert 0.9 < lim < 1.01
    assert readings.symmetric_limit(np.zeros(5)) == 1.0


def test_level_stats_per_step():
    traces = {0: {"k": torch.full((1, 2, 2, 2), -2.0, dtype=torch.float16)},
              1: {"k": torch.tensor([[[[1.0, -1.0], [3.0, -3.0]]] * 2], dtype=torch.float16)}}
    st = readings.level_stats(traces, "k")
    np.testing.assert_allclose(st["mean_abs"], [2.0, 2.0])
    np.testing.assert_allclose(st["rms"], [2.0, math.sqrt(5.0)])
    assert readings.stack_steps(traces, "k").shape == (2, 2, 2, 2)


# ---------------------------------------------------------------- attention

def test_concentration_uniform_and_one_hot():
    n = 49
    uni = readings.concentration(np.full(n, 1 / n))
    assert uni["entropy_bits"] == pytest.approx(math.log2(n))
    assert uni["n_mass"] == uni["uniform_n_mass"] == math.ceil(0.9 * n)
    one = np.zeros(n)
    one[7] = 1.0
    hot = readings.concentration(one)
    assert hot["entropy_bits"] == pytest.approx(0.0, abs=1e-12) and hot["n_mass"] == 1
    two = np.zeros(n)
    two[[3, 4]] = 0.5
    assert readings.concentration(two)["entropy_bits"] == pytest.approx(1.0)
    assert readings.concentration(two)["n_mass"] == 2


def test_attention_map_picks_the_query_row():
    side, heads = 3, 2
    p = np.zeros((heads, side * side, side * side), np.float32)
    q = 1 * side + 2                                                 # query at row 1, column 2
    p[0, q, 4] = 1.0                                                 # head 0 looks at the centre
    p[1, q, :] = 1 / 9                                               # head 1 everywhere
    m0 = readings.attention_map(p, qy=1, qx=2, head=0)
    assert m0.shape == (3, 3) and m0[1, 1] == 1.0 and m0.sum() == pytest.approx(1.0)
    mean = readings.attention_map(p, qy=1, qx=2)
    assert mean[1, 1] == pytest.approx(0.5 + 1 / 18) and mean.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        readings.attention_map(p, qy=3, qx=0)


def test_token_maps_one_map_per_token():
    heads, n, m = 2, 16, 5
    p = np.zeros((heads, n, m), np.float32)
    p[:, :8, 1] = 1.0                                                # top half of a 4x4 map -> token 1
    p[:, 8:, 2] = 1.0
    maps = readings.token_maps(p, 3)
    assert maps.shape == (3, 4, 4)
    assert maps[1, :2].min() == 1.0 and maps[1, 2:].max() == 0.0 and maps[2, 2:].min() == 1.0
    np.testing.assert_allclose(maps.sum(axis=0), 1.0)


# ---------------------------------------------------------------- timestep conditioning

def test_film_sweep_matches_the_forward_pass(tiny_model):
    """film_sweep builds the conditioning vector from the model's own modules: it must equal what a
    real forward pass computes (captured), for every block, label and t."""
    ts = [0, 17, 500, 999]
    x = torch.zeros(len(ts), 1, 8, 8)
    for label in (3, None):
        cond = torch.full((len(ts),), 3 if label is not None else tiny_model.config.num_classes)
        with torch.inference_mode(), capture(tiny_model, ["*.film", "embedding"]) as tr:
            tiny_model(x, torch.tensor(ts), cond)
        emb = readings.conditioning_vectors(tiny_model, ts, label)
        torch.testing.assert_close(emb.half(), tr["embedding"], rtol=2e-3, atol=2e-3)
        sweep = readings.film_sweep(tiny_model, ts, label)
        assert list(sweep) == readings.film_blocks(tiny_model) and len(sweep) >= 3
        for block, (scale, shift) in sweep.items():
            film = tr[block + ".film"].float().numpy()
            c = scale.shape[1]
            np.testing.assert_allclose(scale, film[:, :c], rtol=5e-3, atol=5e-3)
            np.testing.assert_allclose(shift, film[:, c:], rtol=5e-3, atol=5e-3)


def test_film_sweep_of_a_text_model_ignores_the_caption(text_model):
    a = readings.film_sweep(text_model, [1, 900])
    b = readings.film_sweep(text_model, [1, 900], cond="anything")
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0])


def test_most_varying_channels():
    v = np.zeros((10, 4))
    v[:, 2] = np.linspace(-1, 1, 10)
    v[:, 0] = np.linspace(0, 0.1, 10)
    assert readings.most_varying(v, 2).tolist() == [2, 0]


def test_told_t_sweep_agrees_with_guided_eps(tiny_model):
    """At the told t = the true t the batched sweep gives the sampler's own ε̂ and x̂0."""
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(1, 8, 8, generator=g)
    t_true = 600
    cond = sampling.encode_conditions(tiny_model, [4])
    eps, x0 = readings.told_t_sweep(tiny_model, x_t, t_true, cond, 2.0, [t_true, 100, 999])
    assert eps.shape == x0.shape == (3, 1, 8, 8)
    with torch.inference_mode():
        ref, _ = sampling.guided_eps(tiny_model, x_t[None], t_true, cond, 2.0)
        wrong, _ = sampling.guided_eps(tiny_model, x_t[None], 100, cond, 2.0)
    np.testing.assert_allclose(eps[0], ref[0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(eps[1], wrong[0].numpy(), rtol=1e-4, atol=1e-4)
    expected_x0 = NoiseSchedule().pred_x0(x_t, torch.from_numpy(eps[1]), t_true).numpy()   # true t in x̂0
    np.testing.assert_allclose(x0[1], expected_x0, rtol=1e-4, atol=1e-4)
    assert not np.allclose(eps[0], eps[1])


def test_sinusoid_rows_are_cos_then_sin():
    e = sinusoidal_embedding(torch.tensor([0, 10]), 8).numpy()
    np.testing.assert_allclose(e[0], [1, 1, 1, 1, 0, 0, 0, 0], atol=1e-7)
    assert np.allclose(e[1, 0], math.cos(10)) and np.allclose(e[1, 4], math.sin(10))


# ---------------------------------------------------------------- differences

def test_difference_and_rmse():
    a = np.array([[0.0, 1.0], [0.5, -1.0]])
    b = np.zeros((2, 2))
    d, lim = readings.difference(a, b)
    np.testing.assert_allclose(d, a)
    assert lim == 1.0
    assert readings.difference(b, b)[1] == 1.0                       # never a zero-width colour scale
    assert readings.rmse(a, b) == pytest.approx(math.sqrt((0 + 1 + 0.25 + 1) / 4))
    np.testing.assert_allclose(readings.rmse(a[None], b[None], axes=(1, 2)), [readings.rmse(a, b)])
    assert readings.grey(np.full((3, 2, 2), 0.5)).shape == (2, 2)
