"""Pages 4–8 (inside, skips, attention, timestep, ablation) through AppTest: clean on defaults, one knob
that must change the main figure's data, permalinks, sessions that never see each other's
interventions, and the cross-attention view on a (tiny) text model."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


from diffviz.app import quality, runs
from diffviz.model import zoo
from diffviz.model.checkpoint import save_checkpoint

PAGES = ["pages/inside.py", "pages/skips.py", "pages/attention.py", "pages/timestep.py", "pages/ablation.py"]


pytestmark = pytest.mark.usefixtures("as_served")   # conftest: every run goes through app.py

from apptest import app  # noqa: E402


def clean(at, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert not at.error, f"{where}: {[e.value for e in at.error]}"
    assert not at.warning, f"{where}: {[w.value for w in at.warning]}"


def figure(at, key: str) -> dict:
    """The plotly figure with this key, as the JSON the browser gets."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith("-" + key):
            return json.loads(el.proto.spec)
    raise KeyError(f"no plotly chart with key {key!r}; have {[e.proto.id for e in at.get('plotly_chart')]}")


def trace(at, key: str, i: int) -> str:
    """The values (z) of trace i of a figure, as plotly's typed-array JSON."""
    return json.dumps(figure(at, key)["data"][i]["z"], sort_keys=True)


def arr(v) -> np.ndarray:
    """A plotly JSON array (a list, or plotly's base64 typed array) as numpy."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        if isinstance(shape, str):
            shape = [int(x) for x in shape.split(",")]
        return a.reshape(shape) if shape else a
    return np.asarray(v)


def data_of(at, key: str) -> str:
    return json.dumps(figure(at, key)["data"], sort_keys=True)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_clean_on_defaults(page):
    at = app(page)
    clean(at, page)
    assert len(at.get("plotly_chart")) >= 2, f"{page} shows no figures"
    assert at.title and at.info, f"{page}: no title or no “try this” box"
    assert any(e.label == "Show the code" for e in at.expander), f"{page}: no “Show the code”"
    assert dict(at.query_params) == {}, f"{page} wrote parameters on defaults: {dict(at.query_params)}"


# ---------------------------------------------------------------- one knob each, the main figure changes

def test_inside_moving_step_changes_the_feature_maps():
    at = app("pages/inside.py")
    before = data_of(at, "grid-encoder-0"), data_of(at, "grid-bottleneck")
    at.slider(key="p_unet_step").set_value(3).run()
    clean(at, "inside, step 3")
    assert data_of(at, "grid-encoder-0") != before[0] and data_of(at, "grid-bottleneck") != before[1]
    lim = figure(at, "grid-encoder-0")["data"][0]["zmax"]
    at.slider(key="p_unet_step").set_value(20).run()
    assert figure(at, "grid-encoder-0")["data"][0]["zmax"] == lim          # one colour scale for every step
    assert at.query_params["step"] == "20"


def test_skips_cutting_skip_0_changes_x0_and_only_the_modified_panel():
    at = app("pages/skips.py")
    trained, knobs = trace(at, "result", 0), trace(at, "result", 1)
    assert trained == knobs                                                  # as trained: the same run
    at.slider(key="p_skip0").set_value(0.0).run()
    clean(at, "skips, skip0 = 0")
    assert trace(at, "result", 0) == trained                                 # the trained image stays
    assert trace(at, "result", 1) != knobs                                   # the modified x0 changed
    diff = figure(at, "result")["data"][2]
    assert diff["zmax"] > 0 and diff["zmin"] == -diff["zmax"]
    assert at.query_params["skip0"] == "0"


def test_skips_empty_t_range_changes_nothing():
    at = app("pages/skips.py", skip0=0, tmin=600, tmax=500)
    clean(at, "skips, empty range")
    assert trace(at, "result", 0) == trace(at, "result", 1)


def test_attention_moving_the_query_changes_the_map():
    at = app("pages/attention.py")
    before = data_of(at, "attn-main")
    at.slider(key="p_qx").set_value(0).run()
    clean(at, "attention, qx = 0")
    assert data_of(at, "attn-main") != before
    shape = figure(at, "attn-main")["layout"]["shapes"][0]
    assert shape["x0"] == -0.5                                               # the query square moved to column 0


def test_attention_permalink_values_are_taken():
    at = app("pages/attention.py", seed=3, label=3, level=1, head=1, qx=3, qy=5)
    clean(at, "attention permalink")
    assert at.session_state["p_level"] == 1 and at.session_state["p_head"] == 1
    assert (at.session_state["p_qx"], at.session_state["p_qy"]) == (3, 5)
    assert dict(at.query_params) == {"seed": "3", "label": "3", "level": "1", "head": "1",
                                                              "qx": "3", "qy": "5"}


def test_timestep_changing_wrong_t_changes_eps():
    at = app("pages/timestep.py")
    true_eps, told_eps = trace(at, "wrong-t", 1), trace(at, "wrong-t", 2)
    at.select_slider(key="p_wrong_t").set_value(900).run()
    clean(at, "timestep, wrong t = 900")
    assert trace(at, "wrong-t", 1) == true_eps                               # ε̂ at the true t stays
    assert trace(at, "wrong-t", 2) != told_eps                               # ε̂ for the told t changed
    curve = figure(at, "wrong-t-curve")
    assert [s["x0"] for s in curve["layout"]["shapes"]][-1] == 900


def test_timestep_film_block_choice_changes_the_heat_map():
    at = app("pages/timestep.py")
    before = data_of(at, "film-scale")
    at.selectbox(key="p_film_block").set_value("encoder.0.res.0").run()
    clean(at, "timestep, block")
    assert data_of(at, "film-scale") != before


def test_ablation_changing_b_changes_only_b():
    at = app("pages/ablation.py")
    panels = figure(at, "ablation-result")["data"]
    n = at.session_state["p_seeds"]
    a_before, b_before = json.dumps(panels[:n]), json.dumps(panels[n:2 * n])
    at.toggle(key="p_b_attn2").set_value(False).run()                        # B back to as trained
    at.slider(key="p_b_skip0").set_value(0.0).run()
    clean(at, "ablation, B skip 0 cut")
    panels = figure(at, "ablation-result")["data"]
    assert json.dumps(panels[:n]) == a_before
    assert json.dumps(panels[n:2 * n]) != b_before
    assert at.query_params["b_skip0"] == "0" and at.query_params["b_attn2"] == "false"


def test_ablation_identical_setups_give_zero_difference():
    at = app("pages/ablation.py", b_attn2="false", seeds=3)
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == ["A and B are the same set-up: the difference maps below will be "
                                             "empty. Change B's model or one of its knobs."]
    panels = figure(at, "ablation-result")["data"]
    assert len(panels) == 9
    assert [json.dumps(p["z"]) for p in panels[:3]] == [json.dumps(p["z"]) for p in panels[3:6]]


def test_ablation_step_scrubber_changes_the_guesses_without_sampling():
    at = app("pages/ablation.py")
    before = data_of(at, "ablation-step")
    computed = runs.RUNS.computed
    at.slider(key="p_unet_step").set_value(3).run()
    clean(at, "ablation, step 3")
    assert data_of(at, "ablation-step") != before
    assert runs.RUNS.computed == computed                                          # scrubbing reuses both runs
    assert at.query_params["step"] == "3"


# ---------------------------------------------------------------- sessions are isolated

def test_one_sessions_interventions_never_reach_another():
    a = app("pages/skips.py")
    b = app("pages/skips.py")
    a.slider(key="p_skip0").set_value(0.0).run()
    a.slider(key="p_bb1").set_value(1.5).run()
    b.run()                                                                  # interleaved, same process
    fresh = app("pages/skips.py")
    clean(b, "session B")
    assert data_of(b, "result") == data_of(fresh, "result")
    assert trace(b, "result", 0) == trace(b, "result", 1)                    # B: as trained on both sides
    assert trace(a, "result", 1) != trace(b, "result", 1)
    assert trace(a, "result", 0) == trace(b, "result", 0)                    # the trained run is shared
    assert data_of(b, "skip-grid") == data_of(fresh, "skip-grid")
    a.slider(key="p_skip0").set_value(0.5).run()                             # A moves on; B still untouched
    b.run()
    assert data_of(b, "result") == data_of(fresh, "result")


# ---------------------------------------------------------------- other models

def test_models_without_skips_or_attention_are_explained():
    at = app("pages/skips.py", model="mnist-noskip")
    assert not at.exception and not at.error
    assert any("without skip connections" in i.value for i in at.info)
    assert "mnist-noattn" in zoo.available(), "mnist-noattn ships in models/ (MODELS.md)"
    at = app("pages/attention.py", model="mnist-noattn")
    assert not at.exception and any("no self-attention" in i.value for i in at.info)


def test_class_model_says_cross_attention_needs_the_text_model():
    at = app("pages/attention.py")
    text = " ".join(i.value for i in at.info)
    assert "Cross-attention" in text and "shapes" in text


@pytest.fixture
def tiny_text_zoo(tmp_path, monkeypatch, text_model):
    """A tiny caption model registered in the zoo (the real one, shapes, may not be shipped yet)."""
    prefix = tmp_path / "tiny-text"
    save_checkpoint(text_model, prefix, meta={"args": {"schedule": "linear"}}, dtype=torch.float32)
    entry = zoo.Entry("tiny-text", "a tiny caption model for tests", "text", 3.0, prefix=prefix)
    monkeypatch.setattr(zoo, "MODELS", {**zoo.MODELS, "tiny-text": entry})
    yield "tiny-text"
    zoo.clear_cache()


def test_cross_attention_maps_per_token_on_a_text_model(tiny_text_zoo):
    from diffviz.data import text
    from diffviz.diffusion import defaults
    at = app("pages/attention.py", model=tiny_text_zoo, steps=5)
    clean(at, "attention on a text model")
    tokens = text.token_labels(defaults.PROMPT)
    step_fig, mean_fig = figure(at, "cross-step"), figure(at, "cross-mean")
    titles = [a["text"] for a in step_fig["layout"]["annotations"]]
    assert titles == tokens and tokens[0] == "<start>" and tokens[-1] == "<end>"
    assert len(step_fig["data"]) == 2 * len(tokens) == len(mean_fig["data"])
    cax = step_fig["layout"]["coloraxis"]
    assert cax["cmin"] == 0 and cax["cmax"] == mean_fig["layout"]["coloraxis"]["cmax"]   # one scale for both
    before, mean = data_of(at, "cross-step"), data_of(at, "cross-mean")
    at.slider(key="p_unet_step").set_value(1).run()
    assert data_of(at, "cross-step") != before                                # this step's maps move
    assert data_of(at, "cross-mean") == mean                                  # the mean over all steps does not
    for page in ("pages/inside.py", "pages/skips.py", "pages/timestep.py", "pages/ablation.py"):
        clean(app(page, model=tiny_text_zoo, steps=5), f"{page} on a text model")


def test_rgb_figures_on_a_text_model_are_images(tiny_text_zoo):
    at = app("pages/skips.py", model=tiny_text_zoo, steps=5, skip0=0)
    clean(at, "skips on a text model")
    res = figure(at, "result")["data"]
    assert res[0]["type"] == "image" and res[2]["type"] == "heatmap"
    assert arr(res[2]["z"]).shape == (8, 8)                                    # RGB difference: one map
    assert arr(res[0]["z"]).shape == (8, 8, 3)


@pytest.mark.parametrize("page", PAGES)
def test_shown_code_is_python(page):
    """“Show the code” holds real diffviz lines: they must at least compile (and name real functions)."""
    at = app(page)
    code = [c.value for c in at.code]
    assert code, f"{page}: no code shown"
    from diffviz.probe import readings
    for src in code:
        compile(src, page, "exec")
        for name in [w.split("(")[0] for w in src.replace("\n", " ").split("readings.")[1:]]:
            assert hasattr(readings, name), f"{page} shows readings.{name}, which does not exist"


def fake_evaluation(path: Path) -> Path:
    """An evaluation table shaped like `python -m diffviz.cli.evaluate --out` writes (mnist measured only)."""
    report = {"models": {"mnist": {
        "settings": {"sampler": "ddim", "steps": 25, "guidance": 2.0, "draws": 5, "n_per_digit": 50},
        "label_accuracy": {"mean": 0.953, "std": 0.01},
        "fd": {"mean": 3.21, "std": 0.2, "ratio_to_floor": 2.5},
        "memorisation": {"mean": 0.41, "std": 0.02}}},
        "text_models": {"shapes": {"missing": "not exported yet"}}}
    path.write_text(json.dumps(report))
    return path


def test_quality_reads_the_evaluation_table(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "EVALUATION", tmp_path / "missing.json")
    assert quality.evaluation() == {} and quality.quality("mnist") is None
    monkeypatch.setattr(quality, "EVALUATION", fake_evaluation(tmp_path / "evaluation.json"))
    q = quality.quality("mnist")
    assert q["label accuracy"] == "95.3% ± 1.0%" and q["Fréchet distance (lower = better)"].startswith("3.21 ± 0.20")
    assert "2.5×" in q["Fréchet distance (lower = better)"] and q["memorised"] == "41.0%"
    assert quality.quality("mnist-noskip") is None and quality.quality("shapes") is None


def test_pages_show_measured_quality_and_say_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "EVALUATION", fake_evaluation(tmp_path / "evaluation.json"))
    at = app("pages/skips.py")
    clean(at, "skips with an evaluation table")
    table = at.dataframe[0].value
    assert list(table["model"])[:2] == ["mnist", "mnist-noskip"]
    assert table["label accuracy"][0] == "95.3% ± 1.0%" and table["label accuracy"][1] == "not measured yet"
    at = app("pages/ablation.py")
    assert at.dataframe[0].value["label accuracy"][0] == "95.3% ± 1.0%"
    monkeypatch.setattr(quality, "EVALUATION", tmp_path / "missing.json")
    at = app("pages/skips.py")
    assert not at.dataframe and any("not measured yet" in c.value for c in at.caption)


def test_switching_pages_keeps_the_step_but_not_another_pages_level():
    """“level” is a decoder level on one page and an attention block on another: a value from one page
    must not leak into the other, while the sampling step follows the student from page to page."""
    at = app("pages/skips.py")
    at.selectbox(key="p_level").set_value(1).run()
    at.slider(key="p_unet_step").set_value(5).run()
    for k in list(at.query_params):
        del at.query_params[k]
    at.switch_page("pages/attention.py").run()
    clean(at, "attention after skips")
    assert at.session_state["p_level"] == 2 and at.session_state["p_unet_step"] == 5
    at.switch_page("pages/inside.py").run()
    clean(at, "inside after attention")
    assert at.session_state["p_level"] == "bottleneck" and at.session_state["p_unet_step"] == 5


def test_quality_of_the_shipped_text_models_reads_their_attention_check():
    """The shipped table: both shapes models with the check's share and inside weight, the grounded one higher."""
    q, u = quality.quality("shapes"), quality.quality("shapes-ungrounded")
    share = "colour & shape words' attention on their shape (mid / late t)"
    weight = "weight the shape's pixels give each of those words (mid / late t)"
    assert q["one shape drawn exactly"].endswith("%") and share in q and weight in q and share in u

    def first(v):
        return int(v.split("%")[0])

    assert first(q[share]) > 50 > first(u[share])
    assert "uniform 10%" in q[share]
