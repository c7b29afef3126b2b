"""Pages 1–3 (overview, forward process, denoising) through AppTest: clean on defaults, permalinks, the
main slider changes the main figure, uploads (good and bad), play and export."""

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)


from diffviz.app import runs
from diffviz.diffusion import defaults
from diffviz.model import zoo
from diffviz.model.unet import count_parameters

PAGES = ["pages/overview.py", "pages/forward.py", "pages/denoise.py"]


pytestmark = pytest.mark.usefixtures("as_served")   # conftest: every run goes through app.py

from apptest import app  # noqa: E402


def figure(at, key: str) -> dict:
    """The plotly figure with this key, as the JSON the browser gets."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith("-" + key):
            return json.loads(el.proto.spec)
    raise KeyError(f"no plotly chart with key {key!r}; have {[e.proto.id for e in at.get('plotly_chart')]}")


def data_of(at, key: str) -> str:
    return json.dumps(figure(at, key)["data"], sort_keys=True)


def arr(v) -> np.ndarray:
    """A plotly JSON array (a list, or plotly's base64 typed array) as numpy."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape(v["shape"]) if "shape" in v and isinstance(v["shape"], (list, tuple)) else a
    return np.asarray(v)


def warnings(at) -> str:
    return re.sub(r"\\(.)", r"\1", " | ".join(w.value for w in at.warning))


def png(a: np.ndarray, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_clean_on_defaults(page):
    at = app(page)
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 0 and len(at.warning) == 0, (warnings(at), [e.value for e in at.error])
    assert at.title[0].value and len(at.markdown) >= 1
    assert any("Try this — you should see" in i.value for i in at.info)
    assert any(e.label == "Show the code" for e in at.expander) and len(at.code) >= 1
    assert len(at.get("plotly_chart")) >= 3


# ---------------------------------------------------------------- 1 · overview

def test_overview_block_from_link_and_live_shapes():
    at = app("pages/overview.py", block="bottleneck")
    assert not at.exception and len(at.warning) == 0
    assert at.segmented_control(key="p_block").value == "bottleneck"
    text = " ".join(m.value for m in at.markdown)
    assert "(1, 128, 7, 7)" in text and "self-attention" in text
    assert [p.proto.page for p in at.get("page_link")] and "attention" in at.get("page_link")[0].proto.page
    diagram = " ".join(a.get("text", "") for a in figure(at, "diagram")["layout"]["annotations"])
    for shape in ("(1, 32, 28, 28)", "(1, 64, 14, 14)", "(1, 128, 7, 7)", "(1, 1, 28, 28)", "(1, 128)"):
        assert shape in diagram                                   # read from the real forward pass
    before = data_of(at, "diagram") + json.dumps(figure(at, "diagram")["layout"]["shapes"])
    at.segmented_control(key="p_block").set_value("decoder.1").run()
    after = data_of(at, "diagram") + json.dumps(figure(at, "diagram")["layout"]["shapes"])
    assert before != after and "skip 1" in " ".join(m.value for m in at.markdown)
    assert at.query_params["block"] in ("decoder.1", ["decoder.1"])


def test_overview_bad_block_and_parameter_counts():
    at = app("pages/overview.py", block="decoder.9")
    assert not at.exception and "“block”" in warnings(at)
    assert at.segmented_control(key="p_block").value == "encoder.0"
    model, _ = zoo.load("mnist")
    bars = figure(at, "params")["data"][0]
    assert sum(arr(bars["x"])) == count_parameters(model)                # every parameter is in one part
    assert any(f"{count_parameters(model):,}" in c.value for c in at.caption)


# ---------------------------------------------------------------- 2 · forward process

def test_forward_t_slider_changes_x_t_only():
    at = app("pages/forward.py")
    assert at.slider(key="p_t").value == 300
    x_t, x0, eps, sched = (data_of(at, k) for k in ("x_t", "x0", "eps", "schedule"))
    at.slider(key="p_t").set_value(700).run()
    assert not at.exception and len(at.warning) == 0
    assert data_of(at, "x_t") != x_t and data_of(at, "schedule") != sched
    assert data_of(at, "x0") == x0 and data_of(at, "eps") == eps  # same image, same (seeded) noise
    latex = " ".join(x.value for x in at.latex)
    assert "x_{700}" in latex and "0.0" in latex
    assert at.query_params["t"] in ("700", ["700"])


@pytest.mark.parametrize("raw, value, words", [("500", 500, None), ("abc", 300, "not a whole number"),
                                               ("5000", 999, "outside 0..999"), ("-1", 0, "outside 0..999")])
def test_forward_t_from_link(raw, value, words):
    at = app("pages/forward.py", t=raw)
    assert not at.exception and at.slider(key="p_t").value == value
    assert (words in warnings(at)) if words else len(at.warning) == 0
    assert f"x_{{{value}}}" in at.latex[0].value


def test_forward_digit_from_link_and_seed_changes_noise():
    a, b = app("pages/forward.py"), app("pages/forward.py", digit=12, seed=3)
    assert b.number_input(key="p_digit").value == 12 and len(b.warning) == 0
    assert data_of(a, "x0") != data_of(b, "x0") and data_of(a, "eps") != data_of(b, "eps")
    c = app("pages/forward.py", digit="x")
    assert "“digit”" in warnings(c) and c.number_input(key="p_digit").value == 354


def test_forward_upload_good_and_bad():
    at = app("pages/forward.py")
    x0 = data_of(at, "x0")
    digit = np.full((64, 64), 240, np.uint8)
    digit[12:52, 28:36] = 10                                        # a dark "1" on light paper
    at.file_uploader(key="upload").set_value(("one.png", png(digit), "image/png")).run()
    assert not at.exception and len(at.warning) == 0
    assert data_of(at, "x0") != x0 and "your upload" in " ".join(c.value for c in at.caption)
    at.file_uploader(key="upload").set_value(("notes.png", b"not an image at all", "image/png")).run()
    assert not at.exception and len(at.error) == 0
    assert "cannot be used" in warnings(at) and "not an image" in warnings(at)
    assert data_of(at, "x0") == x0                                  # back to the held-out digit, still working
    at.file_uploader(key="upload").set_value(("empty.png", b"", "image/png")).run()
    assert not at.exception and "empty" in warnings(at)


# ---------------------------------------------------------------- 3 · denoising

def test_denoise_step_slider_changes_the_views_not_the_run():
    at = app("pages/denoise.py")
    computed = runs.RUNS.computed
    assert at.slider(key="p_step").value == 0 and at.slider(key="p_step").max == defaults.STEPS - 1
    before = {k: data_of(at, k) for k in ("x_t", "eps", "x0", "x_prev")}
    limits = [(t["zmin"], t["zmax"]) for t in figure(at, "eps")["data"]]
    latex = [x.value for x in at.latex]
    at.slider(key="p_step").set_value(10).run()
    assert not at.exception and len(at.warning) == 0
    assert all(data_of(at, k) != v for k, v in before.items())
    assert [(t["zmin"], t["zmax"]) for t in figure(at, "eps")["data"]] == limits   # one colour scale for all steps
    assert [x.value for x in at.latex] != latex
    assert runs.RUNS.computed == computed                                  # scrubbing never reruns the model
    labels = [d.proto.label for d in at.get("download_button")]
    assert any("GIF" in x for x in labels) and any("PNG" in x for x in labels)


def test_denoise_ddpm_equation_and_clamped_step():
    at = app("pages/denoise.py", sampler="ddpm", steps=20, step=400)
    assert not at.exception and "outside 0..19" in warnings(at)
    assert at.slider(key="p_step").value == 19
    assert "c_0" in " ".join(x.value for x in at.latex)


def test_denoise_play_shows_the_animation():
    at = app("pages/denoise.py")
    at.toggle(key="play").set_value(True).run()
    assert not at.exception and len(at.image) == 1
    assert len([c for c in at.get("plotly_chart") if c.proto.id.endswith("-x_t")]) == 0


def test_denoise_real_mode_predicted_vs_true_noise():
    at = app("pages/denoise.py", mode="real", t=500)
    assert not at.exception and len(at.warning) == 0 and len(at.error) == 0
    assert at.radio(key="p_mode").value == "real" and at.slider(key="p_t").value == 499   # snapped to a computed t
    curve = figure(at, "mse")["data"]
    assert len(arr(curve[0]["x"])) == 50 and list(arr(curve[1]["x"])) == [499]
    x_t = data_of(at, "r_x_t")
    probes = runs.PASSES.computed
    at.slider(key="p_t").set_value(899).run()
    assert not at.exception and data_of(at, "r_x_t") != x_t and list(arr(figure(at, "mse")["data"][1]["x"])) == [899]
    assert runs.PASSES.computed == probes                              # all 50 levels came from one pass
    err = arr(figure(at, "mse")["data"][0]["y"])
    assert err[-1] < err[0]                                         # noise is easiest to name at high t


# ---------------------------------------------------------------- a caption-conditioned RGB model

@pytest.fixture
def shapes_zoo(tmp_path, monkeypatch):
    """A tiny, untrained caption model registered as "shapes" (its files in a temporary folder)."""
    from diffviz.data import text
    from diffviz.model import zoo
    from diffviz.model.checkpoint import save_checkpoint
    from diffviz.model.config import UNetConfig
    from diffviz.model.unet import UNet
    torch.manual_seed(0)
    cfg = UNetConfig(image_size=32, in_channels=3, base_channels=8, channel_mults=(1, 2), attention_levels=(1,),
                     heads=2, conditioning="text", vocab_size=len(text.VOCAB), max_tokens=text.MAX_TOKENS,
                     text_dim=16, text_layers=1)
    save_checkpoint(UNet(cfg).eval(), tmp_path / "shapes", meta={"args": {"schedule": "linear"}})
    models = dict(zoo.MODELS)
    models["shapes"] = zoo.Entry("shapes", "a tiny untrained caption model (test)", "text", 3.0,
                                 prefix=tmp_path / "shapes")
    monkeypatch.setattr(zoo, "MODELS", models)


@pytest.mark.parametrize("page", PAGES)
def test_rgb_caption_model_pages(shapes_zoo, page):
    at = app(page, model="shapes")
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 0 and len(at.warning) == 0, warnings(at)
    assert at.sidebar.text_input(key="p_prompt").value == defaults.PROMPT
    if page == "pages/forward.py":
        assert figure(at, "x0")["data"][0]["type"] == "image"            # an RGB scene, in colour
        assert [d["type"] for d in figure(at, "eps")["data"]] == ["image"]   # signed RGB: in colour (issue 19)
    if page == "pages/overview.py":
        at.segmented_control(key="p_block").set_value("text encoder").run()
        assert not at.exception and "cross-attention" in " ".join(m.value for m in at.markdown)


def test_caption_problems_are_explained(shapes_zoo):
    at = app("pages/forward.py", model="shapes", prompt="a purple circle")
    assert not at.exception and "Unknown word(s): 'purple'" in warnings(at)
    assert "circle square triangle" in warnings(at)                       # lists the words it knows
    at = app("pages/forward.py", model="shapes", prompt="red circle")    # known words, not a scene
    assert not at.exception and len(at.warning) == 0
    assert any("does not describe a scene" in i.value for i in at.info)
    assert figure(at, "x0")["data"][0]["type"] == "image"


def test_rgb_caption_model_real_mode(shapes_zoo):
    at = app("pages/denoise.py", model="shapes", mode="real")
    assert not at.exception and len(at.warning) == 0 and len(at.error) == 0
    assert [d["type"] for d in figure(at, "r_eps_hat")["data"]] == ["image"]      # colour noise as colour


def _overview_code_shows(ns: dict, code: str) -> None:
    shapes = {k: tuple(v.shape) for k, v in ns["trace"].items()}
    said = re.search(r"'(encoder\.\d)': (\([\d, ]+\))", code)        # the comment's example key and shape
    assert said and str(shapes[said.group(1)]) == said.group(2), (said and said.groups(), shapes)
    assert "bottleneck" in shapes and any(k.endswith(".skip") for k in shapes)
    assert ns["eps"].shape == ns["x_T"].shape == (1, 1, 28, 28)


def _forward_code_shows(ns: dict, code: str) -> None:
    sched, x0, eps = ns["sched"], ns["x0"], ns["eps"]
    ab = float(np.prod(1 - np.linspace(1e-4, 0.02, 1000)[:301]))       # ᾱ_300 of the linear schedule, by hand
    np.testing.assert_allclose(ns["x_t"].numpy(), (ab ** 0.5 * x0 + (1 - ab) ** 0.5 * eps).numpy(), atol=1e-5)
    shown = re.search(r"#\s*([\d.]+),\s*([\d.]+)", code.splitlines()[-1])    # "# 0.3940, 0.65"
    assert shown, code
    assert f"{ab:.4f}" == shown.group(1) and f"{ab / (1 - ab):.3g}" == shown.group(2)
    assert float(sched.alphas_cumprod[300]) == pytest.approx(ab, rel=1e-5)


def _denoise_code_shows(ns: dict, code: str) -> None:
    tr = ns["tr"]
    assert f"t = {int(tr.timesteps[0])}" in code and len(tr.timesteps) == 25
    shapes = {tuple(a.shape) for a in (tr.x_t[0], tr.eps[0], tr.pred_x0[0], tr.x_prev(0))}
    assert shapes == {(1, 1, 28, 28)} and "each (1, 1, 28, 28)" in code


def _real_code_shows(ns: dict, code: str) -> None:
    ts, mse = ns["ts"], ns["mse"].detach()
    assert len(ts) == 50 == mse.shape[0] and "50 noise levels" in code and torch.isfinite(mse).all()
    assert float(mse[:5].mean()) > float(mse[-5:].mean()) > 0        # ε is hard to read at small t


@pytest.mark.parametrize("page, params, check", [
    ("pages/overview.py", {}, _overview_code_shows), ("pages/forward.py", {}, _forward_code_shows),
    ("pages/denoise.py", {}, _denoise_code_shows), ("pages/denoise.py", {"mode": "real"}, _real_code_shows)])
def test_show_the_code_runs(page, params, check):
    """The "show the code" lines are real diffviz code: they run as shown (x0 = a held-out digit) and
    give what their comments say."""
    at = app(page, **params)
    from diffviz.data import digits
    code = at.code[-1].value
    namespace = {"x0": torch.from_numpy(digits.mnist("held")[0][354])}
    exec(code, namespace)
    check(namespace, code)
