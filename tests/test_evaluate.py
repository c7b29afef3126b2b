"""The evaluation: Fréchet distance, memorisation, the class-model plumbing, the shapes scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_model

from diffviz.cli import evaluate
from diffviz.data import shapes
from diffviz.diffusion import sampling
from diffviz.evaluation import captions, digits, metrics, report
from diffviz.model.config import preset

# ------------------------------------------------------------- Fréchet distance

def test_fd_identical_sets_is_zero():
    f = np.random.default_rng(0).normal(size=(300, 16))
    assert metrics.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


def test_fd_shifted_set_is_squared_shift():
    f = np.random.default_rng(1).normal(size=(400, 8))
    shift = np.arange(8) / 4.0
    assert metrics.frechet_distance(f, f + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_fd_closed_form_for_gaussians():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()          # 5 + 1 + 1 + 0
    assert metrics.frechet_from_stats(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    # Two samples of shifted unit Gaussians: about ‖μ1 − μ2‖².
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20000, 4)), rng.normal(size=(20000, 4)) + [3.0, 0, 0, 0]
    assert metrics.frechet_distance(x, y) == pytest.approx(9.0, rel=0.02)


def test_fd_needs_two_samples():
    with pytest.raises(ValueError):
        metrics.frechet_distance(np.zeros((1, 4)), np.zeros((5, 4)))


# ------------------------------------------------------------ memorisation

def test_memorisation_share_on_a_constructed_case():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(50, 1, 4, 4)).astype(np.float32)
    nn_train = metrics.nn_distances(train, train, exclude_self=True, chunk=7)        # chunks cross the diagonal
    brute = np.array([min(np.linalg.norm(train[i] - train[j]) for j in range(50) if j != i) for i in range(50)])
    assert np.allclose(nn_train, brute, atol=1e-4)
    threshold = float(np.median(nn_train))
    copies = train[:3] + 0.01 * threshold                                  # near-copies of 3 training images
    far = train[3:10] + 100.0                                              # nothing like the training set
    share = metrics.memorisation_share(metrics.nn_distances(np.concatenate([copies, far]), train), threshold)
    assert share == pytest.approx(0.3)


# ------------------------------------------------------------ one draw, scored by hand

@pytest.fixture(scope="module")
def small_reference():
    """A hand-made reference: 20 random "training digits", 10 random "held-out" ones (no MNIST)."""
    from diffviz.evaluation import judge
    from diffviz.evaluation.reference import Reference
    rng = np.random.default_rng(0)
    tx = rng.uniform(-1, 1, size=(20, 1, 28, 28)).astype(np.float32)
    hx = rng.uniform(-1, 1, size=(10, 1, 28, 28)).astype(np.float32)
    flat = tx.reshape(20, -1).astype(np.float64)
    d = np.linalg.norm(flat[:, None] - flat[None], axis=2) + np.diag([np.inf] * 20)
    return Reference(tx, np.arange(20) % 10, hx, np.arange(10), judge.features(hx), d.min(1).astype(np.float32),
                     np.zeros(10, np.float32))


def test_score_samples_against_values_computed_by_hand(small_reference):
    ref = small_reference
    # Ten identical blank images asked to be 0..9: whatever the judge says, exactly one is right.
    blank = np.full((10, 1, 28, 28), -1.0, np.float32)
    s = digits.score_samples(blank, list(range(10)), ref)
    assert s["label_accuracy"] == pytest.approx(0.1) and sum(s["correct_per_digit"].values()) == 1
    to_train = np.linalg.norm((blank[0] - ref.train_x).reshape(20, -1).astype(np.float64), axis=1).min()
    assert s["median_nn"] == pytest.approx(to_train, rel=1e-5)
    assert s["memorised_share"] == float(to_train < ref.threshold)
    # Copies of training digits 0..4 and five blanks: half memorised (distance 0), by hand.
    x = np.concatenate([ref.train_x[:5], blank[:5]])
    s = digits.score_samples(x, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ref)
    assert s["memorised_share"] == pytest.approx(0.5) and s["memorised_share_class_threshold"] == pytest.approx(0.5)
    # The held-out digits themselves: the same features as the reference, a Fréchet distance of 0.
    assert digits.score_samples(ref.held_x, list(range(10)), ref)["fd"] == pytest.approx(0.0, abs=1e-3)


# ------------------------------------------------------------ end to end

@pytest.fixture(scope="module")
def tiny28():
    return make_model(preset("tiny", image_size=28))


@pytest.fixture(scope="module")
def tinytext():
    return make_model(preset("shapes", base_channels=8, channel_mults=(1, 2), attention_levels=(1,),
                             text_dim=16, heads=2))


def test_evaluate_plumbing_with_tiny_models(tiny28, tinytext):
    models = {"mnist": tiny28, "shapes": tinytext}
    r = digits.evaluate(["mnist", "shapes"], draws=1, n_per_digit=1, steps=2, batch=8, n_text=4, attn_captions=2,
                    table_rows=[("ddim", 2), ("ddpm", 3)], progress=False, loader=lambda n: (models[n], {"step": 0}))
    json.dumps(r)                                                         # the report is plain JSON
    m = r["models"]["mnist"]
    assert m["settings"] == {"sampler": "ddim", "steps": 2, "guidance": 2.0, "draws": 1, "n_per_digit": 1,
                             "seeds": "0 + draw * 100000 + i"}
    per_digit = m["label_accuracy"]["per_digit"]
    assert set(per_digit) == set(map(str, range(10))) and set(per_digit.values()) <= {0.0, 1.0}   # one sample each
    assert m["label_accuracy"]["mean"] == pytest.approx(sum(per_digit.values()) / 10)
    floor = r["reference"]["fd_floor"]
    assert floor["n"] == 10 and floor["mean"] > 0
    assert m["fd"]["ratio_to_floor"] == pytest.approx(m["fd"]["mean"] / floor["mean"])
    assert m["fd"]["mean"] > floor["mean"]                                 # an untrained model is worse than data
    assert m["memorisation"]["mean"] * 10 == pytest.approx(round(m["memorisation"]["mean"] * 10))   # k of 10
    mem = r["reference"]["memorisation"]
    assert 0.3 < mem["held_out_share"] < 0.7                               # real held-out digits: about half
    assert 0.3 < mem["held_out_share_class_threshold"] < 0.7
    table = m["sampler_table"]
    assert [(row["sampler"], row["steps"]) for row in table] == [("ddim", 2), ("ddpm", 3)]
    assert table[0]["fd"] == m["fd"]["draws"][0]                           # the same seeds: reused, not redrawn
    assert table[0]["memorised_share"] == m["memorisation"]["mean"]
    assert table[0]["label_accuracy"] == m["label_accuracy"]["mean"]
    t = r["text_models"]["shapes"]
    assert t["settings"]["guidance"] == 3.0 and t["n"] == 4
    assert set(t["cross_attention"]["shares"]) == {"colour", "shape"}
    assert "FD floor" in report.format_report(r)


def test_cli_rejects_unknown_models(capsys):
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--models", "mnist,nope", "--json"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "unknown model 'nope'" in err and "nope.safetensors does not exist" in err


def test_cli_evaluates_a_checkpoint_prefix(tiny28, tmp_path, capsys):
    """A fresh training run's export is scored like a zoo model (how a re-run is checked)."""
    from diffviz.model.checkpoint import save_checkpoint
    prefix = str(tmp_path / "mine")
    save_checkpoint(tiny28, prefix, {"step": 3, "command": "python -m diffviz.cli.train --preset tiny"})
    assert evaluate.main(["--models", prefix, "--draws", "1", "--n-per-digit", "1", "--batch", "10", "--no-table",
                    "--no-text", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    m = r["models"][prefix]
    assert m["checkpoint"]["step"] == 3 and len(m["label_accuracy"]["per_digit"]) == 10 and "sampler_table" not in m


# ------------------------------------------------------------ shapes

def _perfect_sampler(model, conds, **kw):
    """A stand-in for sampling.sample that renders each caption exactly."""
    return np.stack([shapes.render(shapes.parse_caption(c)).transpose(2, 0, 1) / 127.5 - 1 for c in conds]).astype(np.float32)


def test_shapes_scores_perfect_renderer(monkeypatch):
    monkeypatch.setattr(sampling, "sample", _perfect_sampler)
    r = captions.evaluate_text_model(None, n=60, attention=False)
    assert r["n_one_shape"] + r["n_two_shapes"] == 60 and r["n_one_shape"] > 10 and r["n_two_shapes"] > 10
    assert r["one_shape_full_match"] == 1.0 and r["two_shapes_full_match"] == 1.0
    assert all(v == 1.0 for v in r["two_shapes_attributes"].values())
    assert captions.random_captions(60) == captions.random_captions(60)               # a fixed rng


def test_shapes_scores_see_a_wrong_colour(monkeypatch):
    def recolour(model, conds, **kw):
        return _perfect_sampler(model, [c.replace("red", "blue") if "red" in c else c.replace("blue", "red")
                                        if "blue" in c else c for c in conds])
    monkeypatch.setattr(sampling, "sample", recolour)
    r = captions.evaluate_text_model(None, n=60, attention=False)
    assert r["one_shape_attributes"]["shape"] == 1.0 and r["one_shape_attributes"]["colour"] < 1.0


def test_attention_share_closed_forms():
    mask = np.zeros((2, 32, 32), bool)
    mask[:, 0:8, 0:8] = True                                               # a 64-pixel square, area share 1/16
    on = np.zeros((2, 16, 16))
    on[:, 0:4, 0:4] = np.random.default_rng(0).random((2, 4, 4)) + 0.1     # all mass on the mask (any shape)
    assert captions.attention_mass_share(on.reshape(2, -1), mask) == pytest.approx([1.0, 1.0])
    uniform = np.full((2, 64), 3.0)                                        # an 8x8 map, unnormalised
    assert captions.attention_mass_share(uniform, mask) == pytest.approx([1 / 16, 1 / 16])


def test_token_index():
    from diffviz.data import text
    from diffviz.evaluation import captions
    c = "a large red circle at the top left"
    ids = text.tokenize(c)
    assert text.VOCAB[ids[captions.token_index(c, "colour")]] == "red"
    assert text.VOCAB[ids[captions.token_index(c, "shape")]] == "circle"


@pytest.mark.parametrize("mask_from", ["image", "render"])
def test_cross_attention_share_runs_on_a_tiny_model(tinytext, mask_from):
    r = captions.cross_attention_share(tinytext, n_captions=3, steps=4, batch=2, mask_from=mask_from)
    assert r["timesteps"] == {"mid": [499], "late": [249]}                # DDIM 4: 999, 749, 499, 249
    assert sum(r["mask_source"].values()) == 3
    assert 0 < r["baseline"] < 1
    for tok in ("colour", "shape"):
        for rng in ("mid", "late"):
            levels = r["shares"][tok][rng]
            assert set(levels) == {"16x16", "all"} and all(0 <= v <= 1 for v in levels.values())
    json.dumps(r)


def test_merge_reports_combines_models_and_carries_the_table():
    from diffviz.evaluation.digits import merge_reports
    a = {"command": "a", "models": {"mnist": {"fd": 1}, "x": {"fd": 2}}, "missing": ["shapes"], "wall_s": 1}
    b = {"command": "b", "models": {"mnist": {"fd": 9, "settings": {"n_per_digit": 25},
                                              "sampler_table": [{"steps": 10}]}},
         "text_models": {"shapes": {"one_shape": 1.0}}, "missing": [], "wall_s": 2}
    m = merge_reports([a, b])
    assert m["models"]["mnist"]["fd"] == 1                       # the first report's entry wins
    assert m["models"]["mnist"]["sampler_table"] == [{"steps": 10}]
    assert m["models"]["mnist"]["sampler_table_settings"] == {"n_per_digit": 25}
    assert m["models"]["x"] == {"fd": 2} and m["text_models"]["shapes"] == {"one_shape": 1.0}
    assert m["missing"] == [] and m["wall_s"] == 3 and m["merged_from"] == ["a", "b"]
    again = merge_reports([{"command": "c", "models": {"x": {"fd": 7}}, "wall_s": 4}, m])
    assert again["models"]["x"] == {"fd": 7} and again["models"]["mnist"]["fd"] == 1   # a new entry replaces
    assert again["merged_from"] == ["c", "a", "b"]                # an earlier merge keeps its sources
