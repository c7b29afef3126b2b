"""The lesson box in the real app (AppTest): a link puts a class on its step, the answer comes first,
and only then is the measured truth revealed, beside the guess."""

from __future__ import annotations

import pytest
from apptest import app, untold_figures

pytestmark = pytest.mark.usefixtures("as_served")
OVERVIEW = "pages/overview.py"


def texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def hidden(at) -> str:
    """The style rules a question uses to hide the panels that show its answer (empty: nothing hidden)."""
    return " ".join(e.proto.body for e in at.get("html") if "display: none" in e.proto.body)


def measured(at):
    return {m.label: m.value for m in at.metric}.get("Measured now")


def test_no_reveal_before_an_answer():
    at = app(OVERVIEW, lesson="parity", lstep=1)
    assert not at.exception
    assert "Lesson 3 of 8" in texts(at) and "step 1 of 2" in texts(at)
    guess = at.radio(key="lq-parity-0")
    assert guess.value is None
    assert at.button(key="lesson-reveal").disabled
    assert measured(at) is None
    at.run()
    assert measured(at) is None and "revealed" not in at.query_params


def test_answer_then_reveal_shows_the_measured_value():
    at = app(OVERVIEW, lesson="parity", lstep=1)
    at.radio(key="lq-parity-0").set_value("1 × 28 × 28").run()
    assert measured(at) is None                                      # choosing is not revealing
    at.button(key="lesson-reveal").click().run()
    assert not at.exception
    assert at.query_params["answer"] == "1 × 28 × 28" and at.query_params["revealed"] == "1"
    assert measured(at) == "1 × 28 × 28"                             # read from a real forward pass
    assert {m.label: m.value for m in at.metric}["Your guess"] == "1 × 28 × 28"
    assert "✓ right" in texts(at)
    assert at.radio(key="lq-parity-0").disabled                     # the guess is locked in


def test_the_truth_follows_the_model_in_the_link():
    at = app(OVERVIEW, lesson="parity", lstep=1, model="shapes", answer="3 × 32 × 32", revealed=1)
    assert not at.exception
    assert measured(at) == "3 × 32 × 32"


def test_a_revealed_link_without_an_answer_reveals_nothing():
    at = app(OVERVIEW, lesson="parity", lstep=1, revealed=1)
    assert measured(at) is None and at.button(key="lesson-reveal").disabled


def test_a_link_puts_the_class_on_the_same_step_and_view():
    at = app(OVERVIEW, lesson="parity", lstep=2)
    assert "step 2 of 2" in texts(at)
    assert at.query_params["block"] == "bottleneck"


@pytest.mark.parametrize("params, words", [
    ({"lesson": "nope"}, "not one of"),
    ({"lesson": "parity", "lstep": "9"}, "outside 1..2"),
    ({"lesson": "parity", "lstep": "x"}, "not a whole number"),
    ({"lesson": "parity", "lstep": "1", "answer": "7 × 7", "revealed": "1"}, "does not fit"),
])
def test_odd_lesson_links_get_a_clear_message(params, words):
    at = app(OVERVIEW, **params)
    assert not at.exception
    assert any(words in w.value for w in at.warning), [w.value for w in at.warning]
    assert measured(at) is None


def test_a_slider_question_reveals_the_judges_reading_on_the_links_seed():
    shown = []
    for seed in (0, 5):
        at = app("pages/denoise.py", lesson="denoise", lstep=1, steps=10, seed=seed, answer=3, revealed=1)
        assert not at.exception
        assert {m.label: m.value for m in at.metric}["Your guess"] == "3"
        shown.append(measured(at))
    assert all(s and s.startswith("step ") for s in shown) and shown[0] != shown[1], shown


def test_presenter_mode_keeps_only_the_lessons_controls():
    at = app(OVERVIEW, lesson="parity", lstep=1, present=1)
    assert not at.exception
    assert at.button(key="lesson-unpresent").label == "Leave presenter mode"
    at.button(key="lesson-unpresent").click().run()
    assert "present" not in at.query_params
    assert not [b for b in at.button if b.key == "lesson-unpresent"]


def test_a_link_opens_its_steps_page_with_its_view():
    at = app(OVERVIEW, lesson="forward", lstep=3, steps=5)            # a hand-written link, on another page
    assert not at.exception
    assert [t.value for t in at.title] == ["Forward process: from image to noise"]
    assert at.slider(key="p_t").value == 500 and at.query_params["t"] == "500"
    assert "step 3 of 3" in texts(at)


def test_a_click_question_is_answered_by_typing_x_and_y_and_reveals_the_map_of_the_links_query():
    at = app("pages/attention.py", lesson="attention", lstep=1, steps=5)
    assert not at.exception and at.button(key="lesson-reveal").disabled
    assert ".st-key-attn-main," in hidden(at) and ".st-key-attn-main-numbers" in hidden(at)   # the map waits
    at.number_input(key="lq-attention-0-x").set_value(20).run()
    assert at.button(key="lesson-reveal").disabled and measured(at) is None     # x alone is no answer
    at.number_input(key="lq-attention-0-y").set_value(6).run()
    at.button(key="lesson-reveal").click().run()
    assert not at.exception and at.query_params["answer"] == "20,6"
    assert {m.label: m.value for m in at.metric}["Your guess"] == "x 20, y 6"
    assert any(w in texts(at) for w in ("✓ right", "≈ close", "✗ off")) and "pixels from them" in texts(at)
    assert untold_figures(at) == []                                  # the reveal's map has its numbers
    assert hidden(at) == ""                                          # revealed: the page's map shows again
    shown = {measured(at)}
    for qx, qy in ((5, 1), (3, 3)):                                  # another query pixel, another truth
        shown.add(measured(app("pages/attention.py", lesson="attention", lstep=1, steps=5, qx=qx, qy=qy,
                               answer="20,6", revealed=1)))
    assert len(shown) >= 2 and all(v.startswith("x ") for v in shown), shown


def test_a_click_off_the_image_in_the_link_is_refused():
    at = app("pages/attention.py", lesson="attention", lstep=1, steps=5, answer="40,6", revealed=1)
    assert any("does not fit" in w.value for w in at.warning) and measured(at) is None


def test_the_text_alternative_check_catches_a_bare_chart_and_an_image_without_alt():
    from streamlit.testing.v1 import AppTest

    def page():
        import numpy as np
        import plotly.graph_objects as go
        import streamlit as st

        from diffviz.app import render
        render.chart(go.Figure(go.Heatmap(z=np.eye(3))), key="told")          # with its numbers
        st.plotly_chart(go.Figure(go.Heatmap(z=np.eye(3))), key="bare")      # without
        st.image(np.zeros((4, 4)), caption="c")                                # no alt text

    at = AppTest.from_function(page).run()
    bad = untold_figures(at)
    assert len(bad) == 2 and "bare" in bad[0] and "alt" in bad[1], bad
