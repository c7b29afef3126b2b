"""The bottleneck map: PCA, projection, nearest-neighbour separation, placing a new input."""

from __future__ import annotations

import numpy as np
import torch

from diffviz.probe import bottleneck_map as bm


def test_pca_and_nn_accuracy_on_known_points():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5)) * np.array([5, 2, 0.1, 0.1, 0.1])
    _, comps, expl = bm.pca2(a)
    assert comps.shape == (2, 5) and abs(abs(comps[0, 0]) - 1) < 0.01 and abs(abs(comps[1, 1]) - 1) < 0.01
    assert expl[0] > expl[1] > 0.1 and expl.sum() <= 1
    labels = np.repeat([0, 1], 20)
    apart = np.concatenate([rng.normal(size=(20, 3)), rng.normal(size=(20, 3)) + 20])
    assert bm.nn_accuracy(apart, labels) == 1.0
    assert bm.nn_accuracy(rng.normal(size=(40, 3)), labels) < 0.8


def test_map_of_a_tiny_model_and_placing_one_of_its_digits(tiny_model):
    x = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0)).numpy() * 2 - 1
    labels = np.arange(12) % 3
    m = bm.build_map(tiny_model, x, labels, t=300)
    assert m.points.shape == (12, 2) and m.features.shape[0] == 12 and 0 <= m.nn_accuracy <= 1
    np.testing.assert_allclose(m.project(m.features.astype(np.float64)), m.points, atol=0.05)
    # A digit of the map, noised with the same seed as in the map, lands on its own point.
    xy, near = bm.place(tiny_model, m, x[5:6], seed=bm.SEED + 5)
    np.testing.assert_allclose(xy[0], m.points[5], atol=0.05)
    assert near.shape == (1, 5) and near[0, 0] == labels[5]
    assert bm.noised(x, 0) is not None and np.array_equal(bm.noised(x, 0).numpy(), x)
