"""AppTest of page 9 · Your digit: the default drawing, a drawing from a link, and bad link values."""

import numpy as np
import pytest
from apptest import app, untold_figures

from diffviz.data import drawing

PAGE = "pages/your-digit.py"


def three() -> np.ndarray:
    """A sloppy "3" on the 28×28 grid (0..15)."""
    g = np.zeros((1, 28, 28), np.uint8)
    g[0, 5:7, 8:19] = 15
    g[0, 13:15, 11:19] = 15
    g[0, 21:23, 8:19] = 15
    g[0, 5:23, 18:20] = 15
    return g


def texts(at):
    return " ".join(str(e.value) for kind in (at.warning, at.info, at.caption, at.markdown) for e in kind)


def test_default_drawing_repairs(as_served):
    at = app(PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert "Your digit" in at.title[0].value
    assert "Measured now" in texts(at) and len(at.table) >= 1
    assert "Invert it:" not in texts(at)                          # the model-heavy panels only on request


def test_inversion_reading_and_map_on_request(as_served):
    at = app(PAGE, deep="true")
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert all(w in shown for w in ("Invert it:", "Read it:", "Place it:"))   # inversion, zero-shot, bottleneck map
    assert untold_figures(at) == []                                # every chart has its numbers


def test_a_drawing_from_the_link_is_used_and_kept(as_served):
    code = drawing.encode(three())
    at = app(PAGE, drawing=code, **{"from": "300", "as": "8"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["drawing"] == [code] or at.query_params["drawing"] == code
    assert "cannot be used" not in texts(at)
    assert "told “8”" in texts(at) or "told 8" in texts(at)
    links = {el.proto.page: el.proto.query_string for el in at.get("page_link")}     # pages 4–8 on this repair
    assert set(links) == {"inside", "skips", "attention", "timestep", "ablation"}
    assert all(q == f"source=drawing&from=300&drawing={code}" for q in links.values()), links


@pytest.mark.parametrize("value, words", [
    pytest.param("x" * 5000, "too long", id="oversized"),
    pytest.param("eJzz$$$", "characters", id="bad-characters"),
    pytest.param("eJzLSM3JyQcABiwCFQ", "version", id="not-a-drawing"),      # valid zlib ("hello")
])
def test_bad_link_values_fall_back_with_a_message(as_served, value, words):
    at = app(PAGE, drawing=value)
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(w.value for w in at.warning)
    assert "drawing cannot be used" in warnings and words in warnings
    assert "Measured now" in texts(at)                  # the default digit's views still come


def test_a_cut_link_value_and_an_empty_canvas(as_served):
    code = drawing.encode(three())
    at = app(PAGE, drawing=code[: len(code) // 2])
    assert not at.exception and "drawing cannot be used" in " ".join(w.value for w in at.warning)
    at = app(PAGE, drawing=drawing.encode(drawing.blank(1, 28)))
    assert not at.exception
    assert "empty" in " ".join(w.value for w in at.warning) and "Measured now" not in texts(at)


@pytest.mark.parametrize("page, extra", [("pages/forward.py", {}), ("pages/denoise.py", {"mode": "real"})])
def test_draw_is_a_picture_source_on_the_forward_and_denoising_pages(as_served, page, extra):
    code = drawing.encode(three())
    at = app(page, drawing=code, **extra)
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["p_picture"] == "draw"                     # a link with a drawing opens on it
    assert any("your drawing" in c.value for c in at.caption), [c.value for c in at.caption]
    at = app(page, picture="draw", drawing=drawing.encode(drawing.blank(1, 28)), **extra)
    assert not at.exception and "empty" in " ".join(w.value for w in at.warning)
    assert any("held-out digit" in c.value for c in at.caption)        # the usual picture meanwhile


def test_the_shapes_model_draws_in_colour_and_repairs_with_the_caption(as_served):
    g = drawing.blank(3, 32)
    g[2, 18:30, 18:30] = 15                                            # a blue square, bottom right
    at = app(PAGE, model="shapes", drawing=drawing.encode(g), steps="5")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    assert "Your scene" in at.title[0].value and "Measured now" in texts(at)
    assert any("told “a large red circle" in c.value for c in at.caption), [c.value for c in at.caption]
    at = app(PAGE, model="shapes", drawing=drawing.encode(three()))    # a digit's drawing: refused, default scene
    assert "digit model" in " ".join(w.value for w in at.warning) and not at.exception
