"""The lessons as a newcomer meets them (AppTest): controls only where they act, widgets that follow the
model, the ablation lab's explicit set-ups, the colour model shown as colour, the quality table explained."""

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)

from diffviz.app import quality, setups  # noqa: E402
from diffviz.app.setups import Setup  # noqa: E402
from diffviz.model import zoo  # noqa: E402
from diffviz.model.interventions import Interventions  # noqa: E402

pytestmark = pytest.mark.usefixtures("as_served")

from apptest import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLING = {"p_sampler", "p_steps", "p_label", "p_guidance"}


def sidebar_keys(at) -> set[str]:
    return {w.key for kind in ("selectbox", "radio", "slider", "number_input", "text_input")
            for w in getattr(at.sidebar, kind) if w.key}


def option_labels(at) -> dict[str, list[str]]:
    """Every choice widget of the main area: key -> the labels of its options."""
    out = {}
    for kind in ("selectbox", "radio"):
        for w in getattr(at.main, kind):
            out[w.key] = list(w.proto.options)
    for w in at.get("button_group"):
        out[w.proto.id.split("-")[-1]] = [o.content for o in w.proto.options]
    return out


# ---------------------------------------------------------------- 3 · controls only where they act

def test_forward_page_shows_only_the_settings_it_reads_and_keeps_the_others():
    at = app("pages/forward.py", steps=40, guidance=3)
    assert not at.exception
    assert not SAMPLING & sidebar_keys(at), sidebar_keys(at)
    assert {"p_model", "p_seed"} <= sidebar_keys(at)
    assert at.query_params["steps"] == "40" and at.query_params["guidance"] == "3"      # kept for the other pages
    assert at.session_state["settings"].steps == 40
    at.switch_page("pages/denoise.py").run()
    assert at.sidebar.slider(key="p_steps").value == 40 and at.sidebar.slider(key="p_steps").label == "Steps in the run"
    assert at.slider(key="p_step").label.startswith("Show step")


def test_ablation_has_no_sidebar_model_and_every_other_page_has_all_settings():
    at = app("pages/ablation.py")
    assert "p_model" not in sidebar_keys(at) and SAMPLING <= sidebar_keys(at)
    for page in ("inside", "timestep"):
        assert SAMPLING | {"p_model"} <= sidebar_keys(app(f"pages/{page}.py"))


def _png(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_the_held_out_digit_is_inactive_while_an_upload_is_used():
    at = app("pages/forward.py")
    assert not at.number_input(key="p_digit").proto.disabled
    digit = np.full((64, 64), 240, np.uint8)
    digit[12:52, 28:36] = 10
    at.file_uploader(key="upload").set_value(("one.png", _png(digit), "image/png")).run()
    assert at.number_input(key="p_digit").proto.disabled
    assert "Not used while your upload" in at.number_input(key="p_digit").help


def test_skips_time_range_is_inactive_until_a_knob_moves():
    at = app("pages/skips.py")
    assert at.slider(key="p_tmin").proto.disabled and at.slider(key="p_tmax").proto.disabled
    at.slider(key="p_skip0").set_value(0.0).run()
    assert not at.slider(key="p_tmin").proto.disabled


# ---------------------------------------------------------------- 4 · widgets follow the model

@pytest.mark.parametrize("page", ["inside", "skips", "attention", "timestep"])
def test_switching_the_model_gives_the_option_labels_of_a_fresh_load(page):
    at = app(f"pages/{page}.py")
    at.sidebar.selectbox(key="p_model").set_value("shapes").run()
    assert not at.exception, [e.value for e in at.exception]
    fresh = app(f"pages/{page}.py", model="shapes")
    switched, new = option_labels(at), option_labels(fresh)
    assert switched == new
    # every size named in an option is a resolution of the shapes model (8×8 / 16×16 / 32×32)
    cfg = zoo.load("shapes")[0].config
    sizes = {f"{cfg.resolution(k)}×{cfg.resolution(k)}" for k in range(cfg.levels)}
    named = {m for labels in switched.values() for lab in labels for m in re.findall(r"\d+×\d+", lab)}
    assert named <= sizes, (named, sizes)
    assert not any("level level" in lab.lower() for labels in switched.values() for lab in labels)


# ---------------------------------------------------------------- 5 · the ablation lab

def _setup(name, parts=(), iv=None, rng=""):
    return Setup(name, iv, list(parts), rng)


def test_differences_are_listed_in_words():
    a = _setup("mnist")
    b = _setup("mnist", ["attention off at 7×7"], Interventions(attention_off=frozenset({2})))
    assert setups.differences(a, b) == ["attention off at 7×7: B only"]
    assert setups.differences(a, _setup("mnist")) == []
    c = _setup("mnist-noskip", ["no condition"], Interventions(drop_condition=True, t_max=300))
    words = setups.differences(b, c)
    assert "the model: A uses mnist, B uses mnist-noskip" in words and "no condition: B only" in words
    assert "attention off at 7×7: A only" in words and any("when the changes act" in w for w in words)


def test_b_starts_over_when_its_model_changes():
    at = app("pages/ablation.py")
    assert at.toggle(key="p_b_attn2").value                                   # the lesson: B = A without attention
    at.slider(key="p_b_skip0").set_value(0.0).run()
    at.selectbox(key="p_b_model").set_value("mnist-noskip").run()
    assert not at.exception
    assert at.toggle(key="p_b_attn2").value is False                          # not silently kept on another model
    assert "b_skip0" not in at.query_params and "b_attn2" not in at.query_params
    text = " ".join(m.value for m in at.markdown)
    assert "the model: A uses mnist, B uses mnist-noskip" in text


def test_sidebar_model_does_not_silently_set_a_and_b():
    at = app("pages/ablation.py", model="mnist-noattn")
    assert at.selectbox(key="p_a_model").value == "mnist-noattn"               # A starts from the link's model
    assert at.selectbox(key="p_b_model").value == "mnist"                      # no attention to switch off: B differs
    assert not at.warning                                                      # ... so A and B are not identical
    text = " ".join(m.value for m in at.markdown)
    assert "the model: A uses mnist-noattn, B uses mnist" in text


def test_inference_time_setups_get_a_measured_quality_on_request(monkeypatch):
    monkeypatch.setattr(setups, "N_PER_DIGIT", 1)                             # 10 samples, 5 steps: the wiring
    setups.QUALITY.clear()
    at = app("pages/ablation.py", steps=5)
    assert [b.key for b in at.button if b.key != "lesson-start"] == ["measure_setups"]   # on request only
    assert not [d for d in at.dataframe if "set-up" in d.value.columns]
    s = at.session_state["settings"]
    a = setups.Setup("mnist", None, [], "")
    b = setups.Setup("mnist", Interventions(attention_off=frozenset({2}), t_max=999), ["attention off at 7×7"], "")
    seen = []
    qa = setups.measured(a, s, progress=lambda f, msg: seen.append(f))        # what the button runs
    qb = setups.measured(b, s, progress=lambda f, msg: seen.append(f))
    assert seen and seen[-1] == 1.0 and qa["n"] == 10
    assert 0 <= qa["label accuracy (judge)"] <= 1 and qa["Fréchet distance (judge features)"] > 0
    assert qa != qb                                                            # the intervention is part of it
    assert setups.measured(a, s) is qa                                         # cached, never recomputed
    at.run()
    tables = [d for d in at.dataframe if "set-up" in d.value.columns]
    assert tables and not [b for b in at.button if b.key == "measure_setups"], "the measured table replaces the button"
    assert list(tables[0].value["set-up"]) == ["A — mnist, as trained", "B — mnist: attention off at 7×7"]


# ---------------------------------------------------------------- 6 · the colour model, 7 · numbers explained

def test_colour_noise_is_one_colour_image_with_channels_on_request():
    at = app("pages/denoise.py", model="shapes")
    eps = json.loads(next(e for e in at.get("plotly_chart") if e.proto.id.endswith("-eps")).proto.spec)
    assert [d["type"] for d in eps["data"]] == ["image"]
    assert "grey −1" not in " ".join(c.value for c in at.caption)
    at.toggle(key="eps_channels").set_value(True).run()
    eps = json.loads(next(e for e in at.get("plotly_chart") if e.proto.id.endswith("-eps")).proto.spec)
    assert [d["type"] for d in eps["data"]] == ["heatmap"] * 3


def test_cross_attention_is_drawn_over_the_coloured_image_and_words_are_measured():
    at = app("pages/attention.py", model="shapes")
    spec = json.loads(next(e for e in at.get("plotly_chart") if e.proto.id.endswith("-cross-step")).proto.spec)
    assert spec["data"][0]["type"] == "image"
    caps = " ".join(c.value for c in at.caption)
    assert re.search(r"“red” \d+%", caps) and re.search(r"“top” \d+%", caps)
    assert "Position is carried elsewhere" in caps and "position vector" in caps


def test_every_quality_column_has_a_tooltip_and_a_line_in_models_md():
    at = app("pages/skips.py")
    frames = [d for d in at.dataframe if "model" in d.value.columns]
    assert frames
    cols = list(frames[0].value.columns)
    config = json.loads(frames[0].proto.columns)
    for c in cols:
        assert config.get(c, {}).get("help"), c
        assert quality.HELP[c]
    models_md = (ROOT / "MODELS.md").read_text()
    for term in ("**label accuracy**", "**FD**", "**FD ÷ floor**", "**memorised**", "drawn exactly"):
        assert term in models_md
