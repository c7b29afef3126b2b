"""The lessons' measured answers: for every question, change the model, seed or setting the truth depends
on and check that the revealed truth changes with it (nothing is known in advance). Shipped models, few steps."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import torch

from diffviz.diffusion import sampling
from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.evaluation import answers as A
from diffviz.model import zoo
from diffviz.probe import readings

STEPS = 10
pytestmark = pytest.mark.skipif(not {"mnist", "mnist-step1500", "shapes"} <= set(zoo.available()),
                                reason="the shipped models are needed")


@cache
def run(name="mnist", seed=0, cond=7, capture=None, skip0=None):
    from diffviz.model.interventions import Interventions
    m, _ = zoo.load(name)
    iv = Interventions(skip_scale={0: skip0}) if skip0 is not None else None
    return sampling.run(m, [cond], sampler="ddim", steps=STEPS, guidance=zoo.MODELS[name].default_guidance,
                        seeds=[seed], capture_select=list(capture) if capture else None, interventions=iv)


def held(i=354):
    from diffviz.data import digits
    xs, ys = digits.mnist("held")
    return xs[i], int(ys[i])


def noise(seed, shape=(1, 28, 28)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).numpy()


def differ(a: A.Truth, b: A.Truth):
    assert (a.value, a.shown, a.why) != (b.value, b.shown, b.why), a


def test_judge_loses_digit_follows_the_seeds_noise():
    x0, y = held()
    ab = NoiseSchedule("linear").alphas_cumprod.numpy()
    a, b = A.judge_loses_digit(x0, noise(0), ab, y), A.judge_loses_digit(x0, noise(1), ab, y)
    differ(a, b)
    assert 0 < a.value < 1000 and a.series["y"][0] > 0.5          # read at t = 0, lost later
    clean = A.judge_loses_digit(x0, noise(0), np.ones(1000), y)    # no noise at all: never lost
    assert clean.value == 1000


def test_first_read_step_follows_the_seed_and_the_label():
    a, b = run(seed=0), run(seed=1)
    ta, tb = A.first_read_step(a.pred_x0[:, 0], a.timesteps, 7), A.first_read_step(b.pred_x0[:, 0], b.timesteps, 7)
    differ(ta, tb)
    c = run(cond=1)
    differ(ta, A.first_read_step(c.pred_x0[:, 0], c.timesteps, 1))
    assert 0 <= ta.value < STEPS


def _mse(name):
    m, _ = zoo.load(name)
    x0, y = held()
    ts = torch.arange(19, 1000, 20)
    eps = torch.from_numpy(noise(0))
    x_t = NoiseSchedule("linear").add_noise(torch.from_numpy(x0).expand(50, 1, 28, 28), eps.expand(50, 1, 28, 28), ts)
    with torch.inference_mode():
        e = m(x_t, ts, sampling.encode_conditions(m, [y] * 50))
    return ts.numpy(), ((e - eps) ** 2).flatten(1).mean(1).numpy()


def test_worst_noise_level_follows_the_model():
    a, b = A.worst_noise_level(*_mse("mnist")), A.worst_noise_level(*_mse("mnist-step1500"))
    differ(a, b)
    assert a.value in range(19, 1000, 20)


def _shapes(name):
    m, _ = zoo.load(name)
    c = m.config
    x = torch.randn(1, c.in_channels, c.image_size, c.image_size)
    cond = sampling.encode_conditions(m, [7 if c.conditioning == "class" else "a red circle"])
    with torch.inference_mode():
        eps, trace = sampling.guided_eps(m, x, 999, cond, 1.0, capture_select=["bottleneck"])
    return {"input": tuple(x.shape), "output": tuple(eps.shape), "bottleneck": tuple(trace["bottleneck"].shape)}


def test_output_shape_follows_the_model():
    a, b = A.output_shape(_shapes("mnist")), A.output_shape(_shapes("shapes"))
    differ(a, b)
    assert a.value == "1 × 28 × 28" and b.value == "3 × 32 × 32"
    assert a.value in A.shape_options(_shapes("mnist")) and len(A.shape_options(_shapes("mnist"))) >= 3


def test_channels_for_90_follows_the_seed():
    def k90(seed):
        tr = run(seed=seed, capture=("bottleneck",))
        return A.channels_for_90(readings.stack_steps(tr.traces, "bottleneck"))
    differ(k90(0), k90(3))
    one = np.zeros((2, 4, 3, 3), np.float32)
    one[:, 2] = 1.0                                               # all energy in one channel
    assert A.channels_for_90(one).value == 1


def test_finest_skip_follows_the_step_and_the_cut():
    tr = run(capture=("decoder.*.skip",))
    skips = lambda i: {k: tr.traces[i][f"decoder.{k}.skip"][0].float().numpy() for k in range(3)}
    differ(A.finest_skip(skips(1)), A.finest_skip(skips(8)))
    differ(A.finest_skip(skips(5), 0.3), A.finest_skip(skips(5), 0.7))


def test_judge_accuracy_follows_the_model_and_the_table():
    table = json.loads((zoo.MODELS_DIR / "evaluation.json").read_text())
    a, b = A.judge_accuracy(table, "mnist-noskip"), A.judge_accuracy(table, "mnist-noattn")
    differ(a, b)
    table["models"]["mnist-noskip"]["label_accuracy"]["mean"] = 0.123
    assert A.judge_accuracy(table, "mnist-noskip").value == 12.3
    with pytest.raises(KeyError):
        A.judge_accuracy(table, "no-such-model")


def test_looks_most_at_follows_the_query_pixel():
    tr = run(capture=("*.self_attn.probs",))
    probs = tr.traces[5]["bottleneck.attn.self_attn.probs"][0]
    a = A.looks_most_at(readings.attention_map(probs, 5, 1), "q")
    b = A.looks_most_at(readings.attention_map(probs, 1, 5), "q")
    differ(a, b)
    m = np.zeros((7, 7))
    m[6, 6] = 1
    assert A.looks_most_at(m, "q").value == "bottom right"


def red_map(prompt) -> np.ndarray:
    """(H, W) the word "red"'s cross-attention map at decoder level 1, averaged over the shapes model's run."""
    from diffviz.data import text
    tr = run("shapes", cond=prompt, capture=("*.cross_attn.probs",))
    tokens = text.token_labels(prompt)
    maps = np.stack([readings.token_maps(p, len(tokens)) for p in
                     readings.stack_steps(tr.traces, "decoder.1.attn.0.cross_attn.probs")])
    return maps.mean(axis=0)[tokens.index("red")]


TOP_LEFT, BOTTOM_RIGHT = "a large red circle at the top left", "a large red circle at the bottom right"


def test_word_looks_at_follows_the_caption():
    a, b = (A.looks_most_at(red_map(p), "red") for p in (TOP_LEFT, BOTTOM_RIGHT))
    differ(a, b)
    assert "left" in a.value and "right" in b.value


def test_query_peak_follows_the_query_pixel_and_the_step():
    """The click question's truth: where on x̂0 a query's attention peaks, with the region at ≥ half the peak."""
    tr = run(capture=("*.self_attn.probs",))
    probs = lambda i: tr.traces[i]["bottleneck.attn.self_attn.probs"][0]
    a = A.map_peak(readings.attention_map(probs(5), 5, 1), 28, 28, "q")
    b = A.map_peak(readings.attention_map(probs(5), 1, 5), 28, 28, "q")
    c = A.map_peak(readings.attention_map(probs(1), 5, 1), 28, 28, "q")
    differ(a, b)
    differ(a, c)
    assert a.spot.hot.sum() >= 1 and abs(a.spot.weights.sum() - 1) < 1e-9
    assert A.grade("click", a.value, a, 0) == "right"                    # the peak itself lies in the region


def test_word_peak_follows_the_caption():
    a, b = (A.map_peak(red_map(p), 32, 32, "red") for p in (TOP_LEFT, BOTTOM_RIGHT))
    differ(a, b)
    assert a.value[0] < 16 and a.value[1] < 16 and b.value[0] >= 16 and b.value[1] >= 16, (a.value, b.value)


def test_a_click_is_graded_from_the_map_itself():
    m = np.zeros((4, 4))
    m[0, 3], m[1, 3], m[3, 0] = 0.6, 0.25, 0.15                           # 8 × 8 pixels: cells of 2 × 2
    t = A.map_peak(m, 8, 8, "m", level=0.5)
    assert t.value == (6.5, 0.5) and t.spot.hot.sum() == 1                # only the peak has ≥ half its weight
    assert [A.grade("click", g, t, 2) for g in ((7, 1), (6, 3), (0, 7))] == ["right", "close", "off"]
    wide = A.map_peak(m, 8, 8, "m", level=0.4)                            # ≥ 40% of the peak: the two top-right cells
    assert wide.spot.hot.sum() == 2 and A.grade("click", (6, 3), wide, 0) == "right"
    assert A.parse_click("6,3", 8, 8) == (6.0, 3.0) and A.parse_click("9,3", 8, 8) is None
    assert A.parse_click("a,b", 8, 8) is None and A.click_text(6.0, 3.5) == "6,3.5"


def _told(step, told):
    m, _ = zoo.load("mnist")
    tr = run()
    t_true = int(tr.timesteps[step])
    ts = sorted(set(told) | {t_true})
    _, x0 = readings.told_t_sweep(m, tr.x_t[step, 0], t_true, sampling.encode_conditions(m, [7]), 2.0, ts)
    err = readings.rmse(np.clip(x0, -1, 1), np.clip(tr.final[0], -1, 1)[None], axes=(1, 2, 3))
    return ts, err, t_true


def test_best_told_t_follows_the_step():
    grid = list(range(0, 1000, 50)) + [999]
    a, b = A.best_told_t(*_told(2, grid)), A.best_told_t(*_told(7, grid))
    differ(a, b)
    assert a.value > b.value                                       # noisier x_t: a larger t works best


def test_told_999_shift_follows_the_step():
    def shift(step):
        ts, err, t_true = _told(step, [999])
        return A.told_999_shift(float(err[ts.index(t_true)]), float(err[ts.index(999)]), t_true)
    last, middle = shift(STEPS - 1), shift(STEPS // 2)
    differ(last, middle)
    assert last.value in A.SHIFT and middle.value == A.SHIFT[2]


def test_judge_reads_follows_the_ablation_and_the_label():
    kept, cut = run(), run(skip0=0.0)
    differ(A.judge_reads(kept.final[0], 7, "x"), A.judge_reads(cut.final[0], 7, "x"))
    assert A.judge_reads(kept.final[0], 7, "x").value == "yes"
    one = run(cond=1, skip0=0.0)
    differ(A.judge_reads(cut.final[0], 7, "x"), A.judge_reads(one.final[0], 1, "x"))


def test_grade_marks_the_guess_beside_the_truth():
    t = A.Truth(10, "10", "")
    assert [A.grade("slider", g, t, 2) for g in (11, 14, 20)] == ["right", "close", "off"]
    assert A.grade("choice", "top", A.Truth("top", "", "")) == "right"
    assert A.grade("choice", "left", A.Truth("top", "", "")) == "off"


def test_reveal_figure_marks_the_truth_and_the_guess():
    from diffviz.figures.reveal import reveal_figure
    fig = reveal_figure({"x": [0, 1, 2], "y": [0.1, 0.5, 0.9], "xtitle": "step", "ytitle": "p"}, 1, 2)
    assert [a.text for a in fig.layout.annotations] == ["measured: 1", "your guess: 2"]
    bars = reveal_figure({"x": ["a", "b"], "y": [0.3, 0.7]}, "b", "a", numeric=False)
    assert list(bars.data[0].marker.line.width) == [5, 0] and bars.data[0].marker.color[1] != bars.data[0].marker.color[0]
