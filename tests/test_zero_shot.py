"""The zero-shot reading: batched = one digit at a time; pruning; the shipped model reads held-out digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffviz.evaluation import zero_shot


def _digits(n, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)).numpy() * 2 - 1


def test_batched_reading_equals_one_digit_at_a_time(tiny_model):
    x = _digits(4)
    ts = (100, 300, 500, 700)
    batch = zero_shot.classify(tiny_model, x, ts=ts, first=2, keep=3, chunk=7)
    for i in range(4):
        one = zero_shot.classify(tiny_model, x[i], ts=ts, first=2, keep=3)
        assert one.labels[0] == batch.labels[i]
        np.testing.assert_allclose(one.errors[0], batch.errors[i], rtol=1e-4, atol=1e-6, equal_nan=True)


def test_pruning_asks_only_the_kept_labels(tiny_model):
    x = _digits(2, seed=1)
    ts = (100, 200, 300, 400, 500)
    r = zero_shot.classify(tiny_model, x, ts=ts, first=2, keep=3)
    assert r.errors.shape == (2, 10, 5) and r.first == 2
    assert r.first_round.tolist() == [True, False, False, False, True]      # spread: lowest and highest t
    assert (np.isfinite(r.errors[:, :, 1:4]).sum(1) == 3).all()
    assert (r.model_calls == 10 * 2 + 3 * 3).all()
    full = zero_shot.classify(tiny_model, x, ts=ts, first=5, keep=10)
    assert np.isfinite(full.errors).all() and (full.model_calls == 50).all()
    # The shared errors agree; the reading is among the kept labels and lowest over all levels.
    np.testing.assert_allclose(r.errors[:, :, [0, 4]], full.errors[:, :, [0, 4]], rtol=1e-4)
    kept = np.isfinite(r.errors[:, :, -1])
    assert kept[np.arange(2), r.labels].all()
    assert (r.mean_errors()[np.arange(2), r.labels] <= np.nanmin(np.where(kept, r.mean_errors(), np.nan), 1)).all()
    d = zero_shot.deciding_levels(r, 0)
    assert d.shape == (5,) and np.isfinite(d).all()


def test_text_models_are_refused(text_model):
    with pytest.raises(ValueError, match="class labels"):
        zero_shot.classify(text_model, np.zeros((1, 3, 8, 8), np.float32))


def test_the_shipped_model_reads_held_out_digits():
    from diffviz.data.digits import mnist
    from diffviz.model import zoo
    if not zoo.entry("mnist").exists():
        pytest.skip("the mnist checkpoint is not exported")
    model, _ = zoo.load("mnist", "cpu")
    x, y = mnist("held")
    pick = [int(np.flatnonzero(y == d)[0]) for d in (0, 1, 3, 7, 8)]
    r = zero_shot.classify(model, x[pick], ts=zero_shot.LEVELS[::4], first=2, keep=2)
    assert (r.labels == y[pick]).sum() >= 4, (r.labels, y[pick])


def test_replaying_a_policy_on_the_full_table_equals_running_it(tiny_model):
    x = _digits(5, seed=2)
    ts = (100, 200, 300, 400, 500, 600)
    full = zero_shot.classify(tiny_model, x, ts=ts, first=6, keep=10)
    for first, keep in ((2, 3), (3, 1), (1, 2), (6, 10)):
        run = zero_shot.classify(tiny_model, x, ts=ts, first=first, keep=keep)
        again = zero_shot.replay(full.errors, ts, first, keep)
        assert (again.labels == run.labels).all()
        assert (again.model_calls == run.model_calls).all()
        np.testing.assert_allclose(again.errors, run.errors, rtol=1e-4, atol=1e-6, equal_nan=True)
