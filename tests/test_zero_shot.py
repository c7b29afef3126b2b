"""The zero-shot reading: batched = one digit at a time; staged asking; replay = running; the shipped model reads digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffviz.evaluation import zero_shot
from diffviz.evaluation.zero_shot import Stage, _grid


def _digits(n, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)).numpy() * 2 - 1


def _policy(margin1=float("inf"), margin2=float("inf")):
    return (Stage(_grid((100, 500), [0])),
            Stage(_grid((300, 700), [0]) + _grid((500,), [1]), keep=3, margin=margin1),
            Stage(_grid((300, 500, 700), [2]), keep=2, margin=margin2))


def test_batched_reading_equals_one_digit_at_a_time(tiny_model):
    x = _digits(6)
    full = zero_shot.classify(tiny_model, x, policy=_policy())
    m = np.sort(full.margins())
    pol = _policy(float(m[3]), float(m[1]))          # some digits stop early, some go on (from their own margins)
    batch = zero_shot.classify(tiny_model, x, policy=pol, chunk=7)
    assert len(set(batch.model_calls.tolist())) > 1
    for i in range(6):
        one = zero_shot.classify(tiny_model, x[i], policy=pol)
        assert one.labels[0] == batch.labels[i] and one.model_calls[0] == batch.model_calls[i]
        np.testing.assert_allclose(one.errors[0], batch.errors[i], rtol=1e-4, atol=1e-6, equal_nan=True)


def test_stages_ask_only_the_kept_labels_and_stop_sure_digits(tiny_model):
    x = _digits(2, seed=1)
    r = zero_shot.classify(tiny_model, x, policy=_policy())
    assert r.errors.shape == (2, 10, 8) and r.first == 2
    assert r.ts.tolist() == [100, 500, 300, 700, 500, 300, 500, 700] and r.draws.tolist() == [0, 0, 0, 0, 1, 2, 2, 2]
    assert (np.isfinite(r.errors[:, :, 2:5]).sum(1) == 3).all() and (np.isfinite(r.errors[:, :, 5:]).sum(1) == 2).all()
    assert (r.model_calls == 10 * 2 + 3 * 3 + 2 * 3).all() and (r.stages == 3).all()
    # The reading is among the labels asked at every probe, and lowest there.
    last = np.isfinite(r.errors[:, :, -1])
    assert last[np.arange(2), r.labels].all()
    assert (r.mean_errors()[np.arange(2), r.labels] <= np.nanmin(np.where(last, r.mean_errors(), np.nan), 1)).all()
    # A margin of 0 stops every digit after the first stage: only its probes, all labels.
    short = zero_shot.classify(tiny_model, x, policy=_policy(0.0))
    assert (short.model_calls == 20).all() and (short.stages == 1).all()
    np.testing.assert_allclose(short.errors[:, :, :2], r.errors[:, :, :2], rtol=1e-4)
    levels, d = zero_shot.deciding_levels(r, 0)
    assert levels.tolist() == [100, 300, 500, 700] and np.isfinite(d).all()


def test_noise_depends_only_on_the_probe():
    a = zero_shot.probe_noise([(300, 0), (500, 1)], (1, 4, 4))
    b = zero_shot.probe_noise([(500, 1)], (1, 4, 4))
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])


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
    r = zero_shot.classify(model, x[pick], policy=zero_shot.POLICY[:1], bf16=False)
    assert (r.labels == y[pick]).sum() >= 4, (r.labels, y[pick])
    # bfloat16 (the default where the CPU has it natively, about 2x faster) reads them the same way.
    half = zero_shot.classify(model, x[pick], policy=zero_shot.POLICY[:1], bf16=True)
    assert (half.labels == r.labels).all()
    np.testing.assert_allclose(half.errors, r.errors, rtol=0.05)
    auto = zero_shot.classify(model, x[pick], policy=zero_shot.POLICY[:1])
    np.testing.assert_array_equal(auto.errors, (half if zoo.native_bf16("cpu") else r).errors)


def test_replaying_a_policy_on_the_full_table_equals_running_it(tiny_model):
    x = _digits(6, seed=2)
    probes = zero_shot.probes_of(_policy())
    ts, draws = [t for t, _ in probes], [d for _, d in probes]
    full = zero_shot.classify(tiny_model, x, policy=(Stage(tuple(probes)),))
    m = np.sort(full.margins())
    for pol in (_policy(), _policy(float(m[2]), float(m[4])), _policy(0.0), _policy()[:2]):
        run = zero_shot.classify(tiny_model, x, policy=pol)
        again = zero_shot.replay(full.errors, ts, draws, pol)
        assert (again.labels == run.labels).all()
        assert (again.model_calls == run.model_calls).all()
        np.testing.assert_allclose(again.errors, run.errors, rtol=1e-4, atol=1e-6, equal_nan=True)


def test_digit_eval_reports_the_reading_in_both_precisions(capsys):
    import json

    from diffviz.cli import digit_eval
    from diffviz.model import zoo
    if not zoo.entry("mnist").exists():
        pytest.skip("the mnist checkpoint is not exported")
    assert digit_eval.main(["--limit", "4", "--skip-inversion", "--precision", "both", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    zs, fp = out["zero_shot"], out["zero_shot_float32"]
    assert zs["precision"] == "bfloat16" and fp["precision"] == "float32" and zs["digits"] == 4
    assert "readings" not in zs and 0 <= out["digits_read_differently_bf16_vs_fp32"] <= 4
    first = len(zero_shot.POLICY[0].probes) * 10
    assert first <= zs["unet_rows_per_digit"] <= first + sum(len(s.probes) * s.keep for s in zero_shot.POLICY[1:])
    assert 0 <= zs["accuracy"] <= 1 and zs["seconds_per_digit"] > 0 and 0 <= zs["judge_accuracy"] <= 1
