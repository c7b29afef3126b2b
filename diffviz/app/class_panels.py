"""What one lesson step shows in class mode: its picture, the question, the answers and the truth.

Shared by the teacher's presenter view and the students' pages. Before the reveal a student sees
their own answer only; the class's spread and the measured truth come with the reveal.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from diffviz.app import class_lesson as lesson
from diffviz.app import class_lessons as lessons
from diffviz.app import render
from diffviz.app.class_lessons import shown  # noqa: F401 (the views' too)
from diffviz.app.classroom import attempt, session_id, store
from diffviz.app.notices import plain
from diffviz.classroom.store import ClassInfo, Tally
from diffviz.figures import answers, images, maps, reveal


def picture(info: ClassInfo, step: lesson.LessonStep, revealed: bool) -> None:
    """The step's image: the starting noise, or after a reveal what the truth was read from (a guided
    lesson's step shows its own page instead: nothing here)."""
    c = info.settings
    q = step.question
    if step.view is not None:
        return
    if not revealed or q is None or q.kind == "click":
        if q is None or q.kind != "click":
            render.chart(maps.image_figure(lesson.noise(c), "the starting noise x_T", height=360,
                                           colorbar=False), key=f"pic_{q.id if q else 'intro'}")
        return
    tr = lesson.run(c)
    t = lesson.truth(c)
    if q.id == "first-read":
        render.chart(maps.image_figure(tr.pred_x0[0, 0].astype(np.float32), f"the first guess x̂0: the judge reads "
                                       f"{t.reads[0]}", height=360, colorbar=False), key=f"pic_{q.id}_truth")
        return
    S = len(t.reads)
    shown = sorted({0, S // 4, S // 2, (3 * S) // 4, S - 1} | ({t.settle} if t.settle is not None else set()))
    imgs = [tr.pred_x0[i, 0].astype(np.float32) for i in shown]
    st.image(images.panel_image(imgs, [f"step {i}: {t.reads[i]}" for i in shown], scale=6,
                                title="the guess at each step, and the digit the judge reads in it"),
             width="content", alt="The guess x̂0 at several steps of the class's run, each titled with the step "
                                   "and the digit the judge reads in it.")


def question(info: ClassInfo, step: lesson.LessonStep, token: str | None, can_answer: bool) -> None:
    """A student's side of the question: answer (until the reveal), then their answer, the class's and the truth."""
    q = step.question
    st.markdown(f"#### :material/quiz: {q.prompt}")
    mine = attempt(store().mine, info.code, token, q.id) if token else None
    if q.id in info.revealed:
        tally = attempt(store().result, info.code, token, q.id)
        if tally is not None:
            result(info, step, tally, mine)
        return
    if can_answer:
        answer_widget(info, step, token, mine)
        mine = attempt(store().mine, info.code, token, q.id)
    if mine is None:
        st.info("You have not answered yet." if can_answer else "You did not answer this question.")
    else:
        st.success(f"✓ You answered **{plain(shown(q, mine), 30)}**. You can change it until the teacher reveals "
                   "the answers.")


def answer_widget(info: ClassInfo, step: lesson.LessonStep, token: str, mine: str | None) -> None:
    """The answer control for the step's question; a sent answer is recorded at once (refusals are shown)."""
    q = step.question
    if q.kind == "click":
        fig = answers.clicks_figure(lessons.click_image(info.settings, step, False), mine=q.value(mine) if mine else None,
                                    title="the starting noise x_T: click a pixel", clickable=True)
        ev = render.chart(fig, key=f"click_{q.id}", on_select="rerun", selection_mode="points")  # + its numbers
        pts = [p for p in (ev.selection.points if ev else []) if "x" in p and "y" in p]
        if pts:
            value = (float(pts[-1]["x"]), float(pts[-1]["y"]))
            new = st.session_state.get(f"_sent_{q.id}") != value           # a selection stays: send it once
            if new and attempt(store().answer, info.code, token, q.id, value, session=session_id()) is not None:
                st.session_state[f"_sent_{q.id}"] = value
                st.rerun()                                                 # redraw with the new answer ringed
        return
    with st.form(f"answer_{q.id}", border=True):
        if q.kind == "choice":
            idx = q.options.index(mine) if mine in q.options else None
            value = st.radio("Your answer", q.options, index=idx, horizontal=True, key=f"a_{q.id}")
        else:
            whole = all(float(v).is_integer() for v in (q.lo, q.hi, q.step))   # whole numbers: an int slider
            kind = int if whole else float
            start = float(mine) if mine is not None else q.lo
            value = st.slider("Your answer", min_value=kind(q.lo), max_value=kind(q.hi), value=kind(start),
                              step=kind(q.step), key=f"a_{q.id}")
        if st.form_submit_button("Send my answer", type="primary"):
            if value is None:
                st.error("Pick an answer first.")
            else:
                attempt(store().answer, info.code, token, q.id, value, session=session_id())


def result(info: ClassInfo, step: lesson.LessonStep, tally: Tally, mine: str | None) -> None:
    """After the reveal: the viewer's answer (if any), the class's spread and the measured truth."""
    q = step.question
    t = lessons.revealed(info.settings, q, tally)
    if "unavailable" in t:
        st.info(f"This question could not be measured on the class's settings: {plain(t['unavailable'], 300)}")
    cols = st.columns(3)
    cols[0].metric("Your answer", shown(q, mine) if mine is not None else "—")
    cols[1].metric("The class", f"{tally.n} answered", help="How many students answered before the reveal.")
    cols[2].metric("Measured", t.get("shown", "—"), help="Measured on the class's settings when the class started.")
    spread(info, step, tally, t.get("value"), mine, key=f"res_{q.id}")
    if mine is not None and "tolerance" in q.extra and t.get("value") is not None:     # a guided lesson's mark
        from diffviz.evaluation.answers import Truth, grade
        value = float(t["value"]) if q.kind == "slider" else t["value"]
        mark = grade(q.kind, float(mine) if q.kind == "slider" else mine, Truth(value, "", ""), q.extra["tolerance"])
        st.markdown({"right": "**✓ Your answer is right**", "close": "**≈ Your answer is close**",
                     "off": "**✗ Your answer is off**"}[mark] + (f" (within {q.extra['tolerance']:g} counts as right)."
                                                                if q.kind == "slider" else "."))
    measured(q, t, mine)


def measured(q, t: dict, mine: str | None = None) -> None:
    """Why the truth is what it is, and (a guided lesson's question) the series it was read from."""
    if t.get("why"):
        st.markdown(t["why"])
    if t.get("series"):
        guess = (float(mine) if q.kind == "slider" else mine) if mine is not None else None
        value = float(t["value"]) if t.get("numeric") else t["value"]
        fig = reveal.reveal_figure(t["series"], value, guess, numeric=bool(t.get("numeric")))
        fig.update_layout(title_text="Measured on the class's settings when the class started" +
                          ("" if t.get("numeric") else " (green: the answer; orange outline: yours)"))
        render.plot(fig, key=f"truth_{q.id}")


def spread(info: ClassInfo, step: lesson.LessonStep, tally: Tally, truth: str | None, mine: str | None,
           key: str) -> None:
    """The class's answers: bars for choices and numbers, dots on the image for clicks."""
    q = step.question
    if q.kind == "click":
        fig = answers.clicks_figure(lessons.click_image(info.settings, step, truth is not None), tally.points,
                                    truth=q.value(truth) if truth else None, mine=q.value(mine) if mine else None,
                                    title="the finished image" if truth is not None and step.view is None else
                                    "the class's clicks")
    else:
        fig = answers.spread_figure(tally.counts, truth=truth, mine=mine)
    render.chart(fig, key=key)
