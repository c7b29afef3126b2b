"""The judge: the shipped MNIST classifier the evaluation scores samples with."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from diffviz.data.digits import mnist
from diffviz.evaluation import judge
from diffviz.model.checkpoint import CheckpointError, paths


@pytest.fixture(scope="module")
def held():
    x, y = mnist("held")
    return x[:200], y[:200]


def test_shipped_judge_classifies_held_out_digits(held):
    x, y = held
    net = judge.load_judge()
    pred = judge.classify(x, net)
    assert pred.shape == (200,) and pred.dtype == np.int64
    assert (pred == y).mean() >= 0.95
    assert net.meta["accuracy"] >= 0.97                    # what training measured on all 500 held-out


def test_features_shape_and_finite(held):
    f = judge.features(held[0][:17])
    assert f.shape == (17, judge.FEATURE_DIM) == (17, 128)
    assert f.dtype == np.float32 and np.isfinite(f).all()
    assert judge.features(torch.from_numpy(held[0][:3, 0])).shape == (3, 128)   # (N, 28, 28) tensors too


def test_rejects_wrong_image_shape():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        judge.classify(np.zeros((2, 1, 8, 8), np.float32))


def test_cached():
    assert judge.load_judge() is judge.load_judge()


def test_corrupted_and_missing_files_name_the_file(tmp_path):
    w, j = paths(judge.DEFAULT_PREFIX)
    bad = tmp_path / "judge"
    shutil.copy(j, bad.with_suffix(".json"))
    bw = bad.with_name("judge.safetensors")
    with pytest.raises(CheckpointError, match=r"judge\.safetensors: file is missing"):
        judge.load_judge(bad, "cpu")
    bw.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"judge\.safetensors: truncated or corrupted"):
        judge.load_judge(bad, "cpu")


def test_random_shift_moves_content_and_fills_background():
    x = torch.full((4, 1, 28, 28), -1.0)
    x[:, :, 10:18, 10:18] = 1.0
    y = judge.random_shift(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert torch.all((y == 1) | (y == -1))
    assert torch.all((y == 1).sum(dim=(1, 2, 3)) == 64)   # a ±2 px shift never pushes it off the image
