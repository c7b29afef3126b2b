"""Pages 4–8 (inside, skips, attention, timestep, ablation lab) run on the drawing from the link:
its SDEdit repair (``source=drawing``, ``from=t``) or its DDIM inversion (``source=inversion``),
with a label (mnist) or a caption (shapes), and fall back with a message on a bad drawing."""

import json

import numpy as np
import pytest
from apptest import app
from test_app_your_digit import three

from diffviz.app import render, runs
from diffviz.data import drawing

pytestmark = pytest.mark.usefixtures("as_served")   # conftest: every run goes through app.py

PAGES = ["pages/inside.py", "pages/skips.py", "pages/attention.py", "pages/timestep.py", "pages/ablation.py"]
FIRST = {"pages/inside.py": "inputs", "pages/skips.py": "skip-grid", "pages/attention.py": "attn-main",
         "pages/timestep.py": "wrong-t", "pages/ablation.py": "ablation-result"}   # each page's first run picture
CODE = drawing.encode(three())


def clean(at, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert not at.error, f"{where}: {[e.value for e in at.error]}"


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def picture(at, key: str) -> str:
    """The data of the plotly figure with this key, as the JSON the browser gets."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith("-" + key):
            return json.dumps(json.loads(el.proto.spec)["data"], sort_keys=True)
    raise KeyError(f"no figure {key!r}; have {[e.proto.id for e in at.get('plotly_chart')]}")


def forget_runs() -> None:
    """Empty the shared caches, so that a second run computes its pictures again."""
    for cache in (runs.RUNS, runs.DERIVED, runs.PASSES, render.FIGURES):
        cache.clear()


@pytest.mark.parametrize("page", PAGES)
def test_the_page_runs_on_the_drawings_sdedit_and_repeats_it(page):
    at = app(page, source="drawing", drawing=CODE, steps="10", seeds="1", **{"from": "300"})
    clean(at, page)
    assert "SDEdit repair of your drawing from t = 300 (4 DDIM steps, told the label 7" in captions(at), captions(at)
    assert at.slider(key="p_unet_step").max == 3                       # the repair's 4 steps, not the sidebar's 10
    assert "noised to t = 300" in at.slider(key="p_unet_step").label
    assert CODE in " ".join(c.value for c in at.code)                   # the code shown starts from the drawing
    shown = picture(at, FIRST[page])
    forget_runs()
    again = app(page, source="drawing", drawing=CODE, steps="10", seeds="1", **{"from": "300"})
    assert picture(again, FIRST[page]) == shown                        # same drawing + seed: the same pictures
    other = app(page, source="drawing", drawing=CODE, steps="10", seeds="1", seed="1", **{"from": "300"})
    assert picture(other, FIRST[page]) != shown                        # another seed's noise: other pictures


@pytest.mark.parametrize("page", PAGES)
def test_the_page_runs_on_the_inversion_and_a_tampered_drawing_falls_back(page):
    at = app(page, source="inversion", drawing="eJzz$$$", steps="5", seeds="1")
    clean(at, page)
    assert any("drawing cannot be used" in w.value for w in at.warning), [w.value for w in at.warning]
    text = captions(at)
    assert "the DDIM inversion of the default drawing" in text and "5 deterministic DDIM steps" in text, text
    assert at.slider(key="p_unet_step").max == 4 and "inverted noise x_T" in at.slider(key="p_unet_step").label
    assert "drawing" not in at.query_params                             # the bad value is gone from the link


def test_an_empty_drawing_runs_the_pages_on_pure_noise():
    at = app("pages/skips.py", source="drawing", drawing=drawing.encode(drawing.blank(1, 28)), steps="10")
    clean(at, "skips")
    assert "pure noise instead" in " ".join(w.value for w in at.warning)
    assert at.slider(key="p_unet_step").max == 9 and "SDEdit" not in captions(at)


def runs_of(kind: str) -> list:
    """The cached runs of this kind ("sdedit", "inversion") as (key, trajectory)."""
    return [(k, v) for k, (v, _) in list(runs.RUNS._data.items()) if k[0] == kind]


def test_the_inversion_decoded_as_trained_returns_the_drawing():
    forget_runs()
    at = app("pages/inside.py", source="inversion", drawing=CODE, steps="10")
    clean(at, "inside")
    db = float(captions(at).split(" dB PSNR")[0].split()[-1])
    (_, tr), = runs_of("inversion")
    x0 = drawing.model_input(three(), 1, 28).x
    back = float(10 * np.log10(4 / np.mean((np.clip(tr.final[0].astype(np.float32), -1, 1) - x0) ** 2)))
    assert db > 20 and abs(back - db) < 0.1, (db, back)                 # the sentence is measured on the run shown


def test_the_ablation_lab_starts_a_and_b_from_the_same_noised_drawing():
    forget_runs()
    at = app("pages/ablation.py", source="drawing", drawing=CODE, steps="10", b_skip0="0", **{"from": "600"})
    clean(at, "ablation")
    assert "Both runs start from the same drawing, noised to t = 600" in captions(at)
    (ka, a), (kb, b) = runs_of("sdedit")                                # A as trained, B ablated
    assert a.x_t.shape[:2] == (7, 2) and ka[-1] is None and kb[-1] is not None
    assert np.array_equal(a.x_t[0], b.x_t[0])                           # the very same noised drawing, both seeds
    assert not np.array_equal(a.final, b.final)                         # and the ablation's doing after it


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("source", ["drawing", "inversion"])
def test_the_shapes_model_runs_on_the_drawing_told_the_caption(page, source):
    g = drawing.blank(3, 32)
    g[0, 4:16, 4:16] = 15                                              # a red square, top left
    at = app(page, model="shapes", source=source, drawing=drawing.encode(g), steps="5", seeds="1",
             **{"from": "300"})
    clean(at, f"{page} on shapes")
    assert not at.warning, [w.value for w in at.warning]
    text = captions(at)
    assert ("SDEdit repair of your drawing" if source == "drawing" else "inversion of your drawing") in text, text
    assert "told the caption “a large red circle at the top left”" in text, text
    assert picture(at, FIRST[page])                                    # the page went on to its pictures


@pytest.mark.parametrize("page, source", [("pages/timestep.py", "inversion"), ("pages/skips.py", "drawing")])
def test_the_code_shown_makes_the_run_shown(page, source):
    forget_runs()
    at = app(page, source=source, drawing=CODE, steps="5", **{"from": "300"})
    clean(at, page)
    namespace = {}
    exec(at.code[-1].value, namespace)                                  # the lines as shown, the drawing inside
    (_, shown), *_ = runs_of("sdedit" if source == "drawing" else "inversion")
    np.testing.assert_allclose(namespace["traj"].final, shown.final, atol=2e-3)
