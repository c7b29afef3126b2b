"""SDEdit: noise a picture to t, denoise from there through the sampling loop (tiny seeded models)."""

import numpy as np
import pytest
import torch

from diffviz.diffusion import edit, sampling
from diffviz.diffusion.schedulers import NoiseSchedule


def picture(model, b=1, seed=0):
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    return torch.rand((b, cfg.in_channels, cfg.image_size, cfg.image_size), generator=g) * 2 - 1


def test_edit_timesteps():
    assert edit.edit_timesteps(600, 25) == list(range(600, -1, -40))
    assert edit.edit_timesteps(0, 25) == [0]
    assert edit.edit_timesteps(999, 5) == [999, 799, 599, 399, 199]
    for bad in (-1, 1000):
        with pytest.raises(ValueError, match="t_start"):
            edit.edit_timesteps(bad, 25)


def test_from_t0_returns_the_input(tiny_model):
    x0 = picture(tiny_model)
    tr = edit.run(tiny_model, x0, [3], t_start=0, steps=25)
    assert tr.timesteps.tolist() == [0]
    np.testing.assert_allclose(tr.final.astype(np.float32), x0.numpy(), atol=0.05)


def test_first_x_t_is_the_forward_process_with_the_seeds_noise(tiny_model):
    x0 = picture(tiny_model)
    st = next(edit.sdedit(tiny_model, x0, [3], t_start=440, steps=25, seed=7))
    eps = torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(st.x_t, NoiseSchedule("linear").add_noise(x0, eps[None], torch.tensor(440)))
    assert st.t == 440


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_same_seed_same_result_other_seed_differs(tiny_model, sampler):
    x0 = picture(tiny_model, b=2)
    a = edit.run(tiny_model, x0, [3, None], t_start=500, sampler=sampler, steps=10, seed=4)
    b = edit.run(tiny_model, x0, [3, None], t_start=500, sampler=sampler, steps=10, seed=4)
    c = edit.run(tiny_model, x0, [3, None], t_start=500, sampler=sampler, steps=10, seed=5)
    for name in ("x_t", "eps", "pred_x0", "final"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert not np.array_equal(getattr(a, name), getattr(c, name)), name
    assert a.timesteps.tolist() == [500, 400, 300, 200, 100, 0]


def test_from_the_top_it_is_sampling_from_noise(tiny_model):
    """x0 = 0 noised to t = 999 is (almost exactly) the sampler's x_T: the two runs agree."""
    x0 = torch.zeros_like(picture(tiny_model))
    tr = edit.run(tiny_model, x0, [2], t_start=999, steps=5, seed=3)
    ref = sampling.run(tiny_model, [2], steps=5, seed=3)
    assert tr.timesteps.tolist() == ref.timesteps.tolist()
    np.testing.assert_allclose(tr.final.astype(np.float32), ref.final.astype(np.float32), rtol=2e-3, atol=2e-3)


def test_capture_works_and_changes_nothing(tiny_model):
    x0 = picture(tiny_model)
    keys = ["bottleneck"]
    plain = edit.run(tiny_model, x0, [1], t_start=700, steps=10)
    caught = edit.run(tiny_model, x0, [1], t_start=700, steps=10, capture_select=keys, capture_steps=[1, 3])
    assert sorted(caught.traces) == [1, 3] and "bottleneck" in caught.traces[1]
    assert np.array_equal(plain.final, caught.final)


def test_captions_for_a_text_model(text_model):
    x0 = picture(text_model)
    tr = edit.run(text_model, x0, ["a small red circle at the centre"], t_start=300, steps=10, guidance=3.0)
    assert tr.final.shape == (1, 3, 8, 8) and np.isfinite(tr.final).all()


def test_bad_shapes_are_refused(tiny_model):
    with pytest.raises(ValueError, match="x0 must be"):
        list(edit.sdedit(tiny_model, np.zeros((1, 3, 8, 8)), [1]))
    with pytest.raises(ValueError, match="conditions"):
        list(edit.sdedit(tiny_model, picture(tiny_model), [1, 2]))
