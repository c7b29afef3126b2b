"""The shipped models still draw what they drew: a trajectory recorded before the package move.

tests/data/trajectory_before_move.npz holds, for ``mnist`` (digits 7 and 3, seeds 0 and 1) and
``shapes`` (the default caption, seed 0), 10 DDIM steps at guidance 2: every step's x_t, ε̂ and x̂0,
the final image, and the captures of step 3 (bottleneck, its FiLM and attention, every skip). The
numbers come from the trained weights, so they pin what a synthetic model cannot: the order in
which a decoder level concatenates backbone and skip, the FiLM formula, the time embedding, which
capture key holds which tensor. Stored in float16, as a `Trajectory` keeps them (so the tolerance is
a few float16 steps; this machine reproduces every number to within 0.004).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diffviz.diffusion import sampling
from diffviz.model import zoo

DATA = Path(__file__).resolve().parent / "data" / "trajectory_before_move.npz"
RUNS = {"mnist": ([7, 3], [0, 1]), "shapes": (["a large red circle at the top left"], [0])}


@pytest.fixture(scope="module")
def recorded():
    with np.load(DATA) as d:
        return {k: d[k] for k in d.files}


@pytest.mark.parametrize("name", list(RUNS))
def test_a_recorded_trajectory_is_reproduced(name, recorded):
    conds, seeds = RUNS[name]
    want = {k.removeprefix(f"{name}/"): v for k, v in recorded.items() if k.startswith(f"{name}/")}
    keys = sorted(k.removeprefix("trace3/") for k in want if k.startswith("trace3/"))
    model, _ = zoo.load(name, "cpu")
    tr = sampling.run(model, conds, sampler="ddim", steps=10, guidance=2.0, seeds=seeds,
                      capture_select=keys, capture_steps={3})
    np.testing.assert_array_equal(tr.timesteps, want["timesteps"])
    for field in ("x_t", "eps", "pred_x0", "final"):
        got, ref = getattr(tr, field).astype(np.float32), want[field].astype(np.float32)
        np.testing.assert_allclose(got, ref, rtol=4e-3, atol=8e-3, err_msg=f"{name}: {field}")
    assert sorted(tr.traces) == [3] and sorted(tr.traces[3]) == keys
    for k in keys:
        got = tr.traces[3][k].float().numpy()
        np.testing.assert_allclose(got, want[f"trace3/{k}"], rtol=4e-3, atol=8e-3, err_msg=f"{name}: {k}")
