import numpy as np
import pytest
import torch

from diffviz.data import text
from diffviz.diffusion import sampling
from diffviz.diffusion.sampling import Trajectory


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_same_seed_same_trajectory_other_seed_differs(tiny_model, sampler):
    a = sampling.run(tiny_model, [3, 7], sampler=sampler, steps=5, seed=11)
    b = sampling.run(tiny_model, [3, 7], sampler=sampler, steps=5, seed=11)
    c = sampling.run(tiny_model, [3, 7], sampler=sampler, steps=5, seed=12)
    for name in ("x_t", "eps", "pred_x0", "final"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert not np.array_equal(getattr(a, name), getattr(c, name)), name
    assert np.array_equal(a.timesteps, b.timesteps)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_seed_batching_matches_single_runs(tiny_model, sampler):
    """Sample i of a batch equals what seeds=[seeds[i]] gives alone (float32 steps, 1e-4)."""
    seeds, labels = [5, 17, 123], [1, None, 9]
    batch = list(sampling.denoise(tiny_model, labels, sampler=sampler, steps=6, seeds=seeds))
    for i, (s, y) in enumerate(zip(seeds, labels)):
        one = list(sampling.denoise(tiny_model, [y], sampler=sampler, steps=6, seeds=[s]))
        assert [st.t for st in one] == [st.t for st in batch]
        for sb, so in zip(batch, one):
            for name in ("x_t", "eps", "pred_x0", "x_prev"):
                torch.testing.assert_close(getattr(sb, name)[i], getattr(so, name)[0], rtol=1e-4, atol=1e-4)
    # the float16 Trajectory agrees too (to float16 precision)
    tr = sampling.run(tiny_model, labels, sampler=sampler, steps=6, seeds=seeds)
    one = sampling.run(tiny_model, [labels[1]], sampler=sampler, steps=6, seeds=[seeds[1]])
    np.testing.assert_allclose(tr.final[1].astype(np.float32), one.final[0].astype(np.float32), rtol=2e-3, atol=2e-3)
    # the default seeds are seed, seed + 1, ...
    default = sampling.run(tiny_model, [1, 2], sampler=sampler, steps=3, seed=40)
    explicit = sampling.run(tiny_model, [1, 2], sampler=sampler, steps=3, seeds=[40, 41])
    assert np.array_equal(default.final, explicit.final)


def test_sampler_name_is_case_insensitive(tiny_model):
    """"DDPM" must draw its noise from the per-seed generators too (not torch's global RNG)."""
    a = sampling.run(tiny_model, [1], sampler="DDPM", steps=3, seed=2)
    torch.manual_seed(123)
    b = sampling.run(tiny_model, [1], sampler="ddpm", steps=3, seed=2)
    assert np.array_equal(a.final, b.final)


def test_trajectory_shapes_and_dtypes(tiny_model):
    tr = sampling.run(tiny_model, [0, 1, 2], sampler="ddim", steps=4)
    assert isinstance(tr, Trajectory) and tr.steps == 4
    for name in ("x_t", "eps", "pred_x0"):
        arr = getattr(tr, name)
        assert arr.shape == (4, 3, 1, 8, 8) and arr.dtype == np.float16, name
    assert tr.final.shape == (3, 1, 8, 8) and tr.final.dtype == np.float16
    assert tr.timesteps[0] == 999 and tr.timesteps.tolist() == [999, 749, 499, 249]
    assert tr.traces == {}
    assert np.array_equal(tr.x_prev(0), tr.x_t[1]) and np.array_equal(tr.x_prev(3), tr.final)
    assert tr.nbytes() == 3 * tr.x_t.nbytes + tr.final.nbytes
    # x_T is standard normal noise; the first x̂0 is implied by it
    x_T = tr.x_t[0].astype(np.float32)
    assert abs(x_T.mean()) < 0.3 and 0.7 < x_T.std() < 1.3


def test_capture_steps_bound_memory(tiny_model):
    every = sampling.run(tiny_model, [4], steps=10, capture_select="all")
    strided = sampling.run(tiny_model, [4], steps=10, capture_select="all", capture_steps=range(0, 10, 3))
    assert sorted(every.traces) == list(range(10))
    assert sorted(strided.traces) == [0, 3, 6, 9]
    per_step = every.traces[0].nbytes()
    assert strided.nbytes() == 3 * strided.x_t.nbytes + strided.final.nbytes + 4 * per_step
    assert every.nbytes() > strided.nbytes()
    # captures do not change the images, and the conditional half is what is kept (batch 1 not 2)
    assert np.array_equal(every.final, strided.final)
    assert all(v.shape[0] == 1 for v in every.traces[5].values())


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_guidance_one_is_the_conditional_eps(tiny_model, sampler):
    tr = sampling.run(tiny_model, [6, 2], sampler=sampler, steps=3, guidance=1.0, seed=3)
    x = torch.from_numpy(tr.x_t[1].astype(np.float32))
    t = int(tr.timesteps[1])
    eps, _ = sampling.guided_eps(tiny_model, x, t, torch.tensor([6, 2]), 1.0)
    with torch.no_grad():
        direct = tiny_model(x, torch.full((2,), t), torch.tensor([6, 2]))
        uncond = tiny_model(x, torch.full((2,), t), None)
    assert torch.equal(eps, direct)
    assert not torch.allclose(eps, uncond)
    guided, _ = sampling.guided_eps(tiny_model, x, t, torch.tensor([6, 2]), 4.0)
    torch.testing.assert_close(guided, uncond + 4.0 * (direct - uncond), rtol=1e-4, atol=1e-4)
    # no condition at all: guidance is irrelevant
    e0, _ = sampling.guided_eps(tiny_model, x, t, None, 4.0)
    assert torch.equal(e0, uncond)


def test_text_model_sampling_with_captions(text_model):
    caps = ["a red circle in the centre", "a small blue square at the top left", None]
    tr = sampling.run(text_model, caps, sampler="ddim", steps=3, capture_select="*.cross_attn.probs")
    assert tr.final.shape == (3, 3, 8, 8) and np.isfinite(tr.final.astype(np.float32)).all()
    probs = tr.traces[0]["encoder.0.attn.0.cross_attn.probs"]
    assert probs.shape == (3, 2, 64, text.MAX_TOKENS)
    tokens = text.tokenize_batch(["" if c is None else c for c in caps])
    assert torch.all(probs.permute(0, 3, 1, 2)[tokens == text.PAD_ID] == 0)
    other = sampling.run(text_model, ["a large white triangle at the bottom right", caps[1], None], steps=3)
    assert not np.array_equal(other.final[0], tr.final[0])
    assert np.array_equal(other.final[1], tr.final[1])           # same caption, same seed, same image
    with pytest.raises(text.UnknownWordError):
        sampling.run(text_model, ["a purple hexagon"], steps=2)


def test_unconditional_and_none_labels(tiny_model):
    cond = sampling.encode_conditions(tiny_model, [None, 3])
    assert cond.tolist() == [10, 3]
    a = sampling.run(tiny_model, [None], steps=3, seeds=[1])
    b = sampling.run(tiny_model, [10], steps=3, seeds=[1])
    assert np.array_equal(a.final, b.final)
