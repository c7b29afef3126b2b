"""The app's frame: the shared sidebar, permalinks (read, validated, clamped), notices, broken models, sessions.

AppTest runs app.py in this process. Because app.py sits beside a ``pages/`` folder, AppTest would
otherwise run a non-default page's script on its own (Streamlit's old pages-folder mode, which a
fresh server also uses for its very first request); `as_served` makes app.py run every time, as
the server does once st.navigation has been called. One test covers the page-alone mode too.
"""

import re
import shutil
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

from streamlit.testing.v1 import AppTest  # noqa: E402

from diffviz.diffusion import defaults
from diffviz.model import zoo

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")




def app(page: str = "pages/overview.py", **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = str(v)
    at.switch_page(page)
    return at.run()


def sidebar_values(at) -> dict:
    sb = at.sidebar
    out = {"model": sb.selectbox(key="p_model").value, "seed": sb.number_input(key="p_seed").value,
           "sampler": sb.radio(key="p_sampler").value, "steps": sb.slider(key="p_steps").value,
           "guidance": sb.slider(key="p_guidance").value}
    if any(w.key == "p_label" for w in sb.selectbox):
        out["label"] = sb.selectbox(key="p_label").value
    return out


def markdown_of_warnings(at) -> str:
    return " | ".join(w.value for w in at.warning)


def warnings(at) -> str:
    """The warnings as a reader sees them (Markdown escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown_of_warnings(at))


def test_defaults_no_notice_and_clean_link(as_served):
    at = app()
    assert not at.exception and len(at.error) == 0 and len(at.warning) == 0
    v = sidebar_values(at)
    assert v == {"model": "mnist", "seed": defaults.SEED, "sampler": defaults.SAMPLER, "steps": defaults.STEPS,
                 "guidance": zoo.MODELS["mnist"].default_guidance, "label": defaults.LABEL}
    assert dict(at.query_params) == {}                            # defaults are not written into the link


def test_good_link_values_are_read_and_kept(as_served):
    at = app(seed=42, sampler="ddpm", steps=120, label=3, guidance=3.5)
    assert not at.exception and len(at.warning) == 0
    assert sidebar_values(at) == {"model": "mnist", "seed": 42, "sampler": "ddpm", "steps": 120, "guidance": 3.5,
                                  "label": 3}
    qp = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert qp["seed"] == "42" and qp["sampler"] == "ddpm" and qp["steps"] == "120" and qp["guidance"] == "3.5"


@pytest.mark.parametrize("params, expect, words", [
    ({"model": "nope"}, {"model": "mnist"}, "“model”"),
    ({"seed": "-3"}, {"seed": 0}, "outside 0..9999"),
    ({"seed": "abc"}, {"seed": defaults.SEED}, "not a whole number"),
    ({"steps": "5000"}, {"steps": 100}, "clamped"),
    ({"steps": "2.5"}, {"steps": defaults.STEPS}, "not a whole number"),
    ({"sampler": "euler"}, {"sampler": "ddim"}, "not one of ddim, ddpm"),
    ({"guidance": "99"}, {"guidance": 6.0}, "outside 1..6"),
    ({"guidance": "nan"}, {"guidance": 2.0}, "not a finite number"),
    ({"label": "12"}, {"label": defaults.LABEL}, "not one of"),
])
def test_bad_link_values_give_a_notice_and_fall_back(as_served, params, expect, words):
    at = app(**params)
    assert not at.exception and len(at.error) == 0
    assert words in warnings(at)
    got = sidebar_values(at)
    assert {k: got[k] for k in expect} == expect
    at.run()                                                       # the notice is shown once, not forever
    assert len(at.warning) == 0 and not at.exception


@pytest.mark.parametrize("raw, escaped", [("[click](https://e.com)", "\\[click\\]\\(https\\://e\\.com\\)"),
                                         ("![x](https://e.com/x.png)", "\\!\\[x\\]"),
                                         ("<b>hi</b>", "\\<b\\>hi\\</b\\>"),
                                         (":red[big] $x$", "\\:red\\[big\\] \\$x\\$")])
def test_link_text_is_never_markup(as_served, raw, escaped):
    at = app(model=raw)
    assert escaped in markdown_of_warnings(at)                     # shown as typed, never as a link/image/HTML
    assert sidebar_values(at)["model"] == "mnist"


def test_no_unsafe_html_anywhere():
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "diffviz" / "app").glob("*.py"))]:
        assert "unsafe_allow_html" not in path.read_text(), path


def test_unknown_caption_word_shows_the_tokenizers_message():
    def script():
        import streamlit as st

        from diffviz.app import params
        from diffviz.data import text
        st.session_state["caption"] = params.text_param("prompt", "Caption", "a large red circle at the top left",
                                                    text.validate_caption)
    at = AppTest.from_function(script, default_timeout=30)
    at.query_params["prompt"] = "a purple circle"
    at.run()
    assert not at.exception
    msg = warnings(at)
    assert "Unknown word(s)" in msg and "purple" in msg and "Known words" in msg
    assert at.session_state["caption"] == "a large red circle at the top left"   # falls back to the default
    at.text_input(key="p_prompt").input("a small blue square in the centre").run()
    assert len(at.warning) == 0 and at.session_state["caption"] == "a small blue square in the centre"


def test_corrupted_checkpoint_shows_an_error_and_stops(as_served, tmp_path, monkeypatch):
    bad = tmp_path / "mnist"
    shutil.copy(ROOT / "models" / "mnist.json", bad.with_suffix(".json"))
    bad.with_suffix(".safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + b"\0" * 64)
    entry = zoo.Entry("mnist", "a corrupted copy", "class", 2.0, prefix=bad)
    monkeypatch.setattr(zoo, "MODELS", {"mnist": entry})
    for page in ("pages/overview.py", "pages/forward.py", "pages/denoise.py"):
        at = app(page)
        assert not at.exception, page
        assert len(at.error) == 1 and "cannot be used" in at.error[0].value and "corrupted" in at.error[0].value
        assert len(at.get("plotly_chart")) == 0                   # the page stopped before drawing


def test_missing_checkpoints_say_how_to_get_one(as_served, tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "MODELS", {"mnist": zoo.Entry("mnist", "gone", "class", 2.0, prefix=tmp_path / "x")})
    at = app()
    assert not at.exception and len(at.error) == 1 and "No trained model" in at.error[0].value


def test_two_sessions_do_not_share_widget_state(as_served):
    a, b = app(), app()
    a.sidebar.number_input(key="p_seed").set_value(5).run()
    a.main.segmented_control(key="p_block").set_value("bottleneck").run()
    b.run()
    assert a.sidebar.number_input(key="p_seed").value == 5
    assert a.main.segmented_control(key="p_block").value == "bottleneck"
    assert b.sidebar.number_input(key="p_seed").value == 0
    assert b.main.segmented_control(key="p_block").value == "encoder.0"
    assert "seed" in a.query_params and "seed" not in b.query_params
    assert not a.exception and not b.exception


def test_page_alone_keeps_its_sidebar_and_notices():
    """Old pages-folder mode (no app.py): the page draws the sidebar itself, on every run."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["seed"] = "-3"
    at.switch_page("pages/overview.py")
    at.run()
    assert not at.exception and "outside 0..9999" in warnings(at)
    assert at.sidebar.number_input(key="p_seed").value == 0
    at.sidebar.number_input(key="p_seed").set_value(7).run()
    assert not at.exception and at.sidebar.number_input(key="p_seed").value == 7
    assert len(at.warning) == 0
