"""Every "you should see" is measured or checked: the readings behind the prompts (diffviz.probe.claims), the
skips page's prompt checked on the default settings of every model with skips, and the prompts following
the model (no digit for the text model) with measured figures in them."""

import re

import numpy as np
import pytest
import torch

from diffviz.diffusion import defaults
from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.probe import claims, readings

torch.set_num_threads(1)


def test_correlation_and_fading_on_a_known_picture():
    rng = np.random.default_rng(0)
    x0 = np.sign(rng.standard_normal((1, 8, 8)))
    eps = rng.standard_normal((1, 8, 8))
    assert claims.correlation(x0, x0) == pytest.approx(1.0) and claims.correlation(x0, np.zeros_like(x0)) == 0.0
    ab = NoiseSchedule("linear").alphas_cumprod.numpy()
    f = claims.fading(x0, eps, ab)
    assert f["r"][0] > 0.99 and f["r"][-1] < 0.2
    assert 0 < f["clear_until"] < f["faint_at"] < f["gone_at"] < 1000
    assert f["r"][f["faint_at"]] < claims.FAINT <= f["r"][f["faint_at"] - 1]


def test_first_settled_valley_saturation_and_habits():
    final = np.arange(16.0).reshape(4, 4)
    frames = np.stack([np.random.default_rng(i).standard_normal((4, 4)) for i in range(3)] + [final + 0.01] * 3)
    assert claims.first_settled(frames, final) == 3
    assert claims.first_settled(frames[:3], final) is None
    v = claims.error_valley([0, 100, 400, 500, 999], [5, 4, 1, 2, 6], 519)
    assert v["best_t"] == 400 and v["distance"] == 119 and not v["near"]
    assert claims.error_valley([0, 500, 999], [3, 1, 3], 519)["near"]
    assert claims.saturation(np.array([0.5, 1.5, -2.0, 0.0])) == 0.5
    e = np.array([[1.0, 3.0], [2.0, 3.1], [4.0, 3.0]])
    h = claims.head_habits(e, 0)
    assert (h["focused"], h["spread"], h["changing"]) == (0, 1, 0) and (h["changing_lo"], h["changing_hi"]) == (1, 4)


def test_follows_image_token_focus_and_deep_share():
    final = np.zeros((1, 8, 8))
    final[0, :4, :4] = 1
    maps = np.zeros((3, 2, 4, 4))
    maps[0] = np.random.default_rng(0).standard_normal((2, 4, 4))
    maps[1:, 1] = claims.pooled(final, 4)
    maps[1:, 0] = np.random.default_rng(1).standard_normal((4, 4))
    f = claims.follows_image(maps, final)
    assert f["from_step"] == 1 and f["final_r"] == pytest.approx(1.0)
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True
    tok = np.stack([mask / mask.sum(), np.full((4, 4), 1 / 16)])
    t = claims.token_focus(tok, mask)
    assert t["share"][0] == pytest.approx(1.0) and t["share"][1] == pytest.approx(0.25) and t["uniform"] == 0.25
    assert claims.deep_share({"encoder.2": 3, "bottleneck": 5, "stem": 2}, ["encoder.2", "bottleneck"]) == 0.8


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "shapes"])
def test_skips_prompt_holds_on_the_default_settings(name):
    """pages/skips.py says: cut skip 0 -> no clean image (speckle noise); cut it only while t <= 300 -> the
    layout survives; cut the deepest skip -> hardly anything changes. Checked on the defaults."""
    from diffviz.diffusion import sampling
    from diffviz.model import zoo
    from diffviz.model.interventions import Interventions
    if name not in zoo.available():
        pytest.skip(f"{name} is not shipped")
    m, _ = zoo.load(name)
    cfg = m.config
    cond = defaults.LABEL if cfg.conditioning == "class" else defaults.PROMPT

    def final(iv=None):
        tr = sampling.run(m, [cond], sampler=defaults.SAMPLER, steps=defaults.STEPS,
                          guidance=zoo.MODELS[name].default_guidance, seeds=[defaults.SEED], interventions=iv)
        return np.clip(tr.final[0].astype(np.float32), -1, 1)
    base = final()
    full = final(Interventions(skip_scale={0: 0.0}))
    late = final(Interventions(skip_scale={0: 0.0}, t_max=300))
    deep = final(Interventions(skip_scale={cfg.levels - 1: 0.0}))
    hi = readings.high_share
    assert hi(full) > 5 * hi(base), "cutting skip 0 leaves speckle noise"
    assert claims.correlation(full, base) < 0.5, "no longer the clean image"
    assert claims.correlation(late, base) > 0.75, "cut only late, the layout survives"
    assert readings.rmse(deep, base) < 0.25 * readings.rmse(full, base), "the deepest skip matters little"


WORDS = re.compile(r"\bdigit\b|stroke", re.I)


@pytest.mark.usefixtures("as_served")
@pytest.mark.parametrize("page", ["overview", "forward", "denoise", "inside", "skips", "attention", "timestep",
                                  "ablation"])
def test_every_prompt_follows_the_model_and_carries_a_measurement(page):
    from apptest import app
    for model in ("mnist", "shapes"):
        at = app(f"pages/{page}.py", model=model, **({"a_model": model} if page == "ablation" else {}))
        assert not at.exception, [e.value for e in at.exception]
        prompt = [i.value for i in at.info if "Try this — you should see" in i.value]
        assert len(prompt) == 1, (page, model, [i.value for i in at.info])
        if model == "shapes":
            assert not WORDS.search(prompt[0]), (page, prompt[0])
        if page != "skips":                                   # skips: checked on the defaults (above)
            assert re.search(r"\d", prompt[0].split("you should see:**")[1]), (page, model, prompt[0])
