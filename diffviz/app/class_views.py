"""The three views of the "Teach a class" page: the start page, the teacher's and a student's.

The teacher's presenter view: the code, the join link and its QR code to project, the lesson step
with Back / Next (the students' pages follow within about two seconds), how many answered and their
live spread, Reveal, Ask again, the CSV export and Close. A student's view: their anonymous name
(changeable), the teacher's step (or their own, while exploring freely), the question and, after the
reveal, their answer beside the class's and the measured truth.
"""

from __future__ import annotations

import time

import streamlit as st

from diffviz.app import class_lesson as lesson
from diffviz.app import class_panels as panels
from diffviz.app import params, render
from diffviz.app.classroom import (
    POLL_S,
    attempt,
    csv_text,
    join_class,
    join_link,
    qr_png,
    session_id,
    start_class,
    store,
)
from diffviz.app.notices import plain
from diffviz.classroom import codes
from diffviz.classroom.store import ClassInfo
from diffviz.figures import maps


def page(s) -> None:
    """The "Teach a class" page: route by the address (see `diffviz.app.classroom`'s docstring)."""
    raw = st.query_params.get("class")
    if raw is None:
        landing(s)
        return
    code = codes.normalise_code(raw)
    if code is None:
        st.error(f"“{plain(raw, 20)}” is not a class code: a code is 8 letters and digits, e.g. K7QM3XWP.")
        join_box()
        return
    info = attempt(store().info, code)
    if info is None:
        join_box()
        return
    if "key" in st.query_params:
        teacher(info, st.query_params["key"])
    else:
        student(info)


OVER = {"closed": "This class has been closed by its teacher: it takes no more answers.",
        "expired": "This class has expired: it takes no more answers."}


def landing(s) -> None:
    """Start a class on the sidebar's run, or join one by its code."""
    st.title("Teach a class")
    st.markdown("Run a short lesson with a whole class: everyone predicts, you show the spread of the "
                "class's answers, then reveal what the model really does, measured live. Students need "
                "no account: they scan a QR code or type a code and get an anonymous name.")
    c = lesson.class_settings(s)
    if c["model"] != s.model:
        st.info(f"The class questions are read by the digit judge, so a class runs on a digit model: "
                f"{lesson.describe(c)}.", icon=":material/info:")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Start a class")
        st.markdown(f"The class follows one sampling run: **{lesson.describe(c)}** (the sidebar's settings "
                    "when you start). The lesson's steps:")
        st.markdown("\n".join(f"{i + 1}. {st_.title}" + (" — a question" if st_.question else "")
                              for i, st_ in enumerate(lesson.steps(c))))
        title = st.text_input("Name of the class (optional)", max_chars=60, key="class_title")
        if st.button("Start a class", type="primary", key="class_start"):
            start_class(s, title)
        st.markdown("You get a code, a join link and a QR code to project. Your own page's address holds your "
                   "teacher key: keep it to yourself (bookmark it to come back).")
    with right:
        join_box()
        render.chart(maps.image_figure(lesson.noise(c), "the class's starting noise x_T",
                                       height=300, colorbar=False), key="class_preview")


def join_box() -> None:
    """A student types a class code."""
    st.subheader("Join a class")
    with st.form("class_join"):
        raw = st.text_input("Class code", max_chars=20, placeholder="e.g. K7QM3XWP", key="class_code")
        if st.form_submit_button("Join"):
            code = codes.normalise_code(raw)
            if code is None:
                st.error("A class code is 8 letters and digits, e.g. K7QM3XWP.")
            else:
                join_class(code)


# ---------------------------------------------------------------- the teacher

def teacher(info: ClassInfo, key: str) -> None:
    """The presenter view (only with the class's teacher key)."""
    if not attempt(store().check_key, info.code, key):
        st.stop()
    steps = lesson.steps(info.settings)
    i = min(info.step, len(steps) - 1)
    st.title(f"Class {info.code}" + (f" · {plain(info.title, 60)}" if info.title else ""))
    link = join_link(info.code)
    a, b = st.columns([1, 3])
    a.image(qr_png(link), caption="Scan to join", width=220)
    with b:
        st.markdown(f"### Join at `{link}`")
        st.markdown(f"or open **Teach a class** in the app and type the code **{info.code}**.")
        st.markdown(f"The class runs on {lesson.describe(info.settings)}. This page's address holds your "
                   "teacher key: do not project or share it (share the join link above).")
    over = info.over(time.time())
    if over:
        st.warning(OVER[over] + " You can still export the answers.", icon=":material/lock:")
    back, nxt, where = st.columns([1, 1, 4], vertical_alignment="center")
    if back.button("◀ Back", disabled=i == 0, key="t_back"):
        attempt(store().set_step, info.code, key, i - 1)
        st.rerun()
    if nxt.button("Next ▶", disabled=i >= len(steps) - 1, key="t_next", type="primary"):
        attempt(store().set_step, info.code, key, i + 1)
        st.rerun()
    step = steps[i]
    where.markdown(f"**Step {i + 1} of {len(steps)}: {step.title}** · the students' pages follow")
    st.markdown(step.text)
    q = step.question
    if q is None:
        panels.picture(info, step, False)
    else:
        revealed = q.id in info.revealed
        st.markdown(f"#### :material/quiz: {q.prompt}")
        panels.picture(info, step, revealed)
        _live(info.code, key, i)
        r, again, _ = st.columns([1, 1, 2])
        if not revealed and r.button("Reveal to everyone", type="primary", key="t_reveal"):
            attempt(store().reveal, info.code, key, q.id)
            st.rerun()
        if again.button("Ask again", key="t_reset", help="Forget this question's answers and hide it again."):
            attempt(store().reset, info.code, key, q.id)
            st.rerun()
    st.divider()
    d, c, _ = st.columns([1, 1, 2])
    d.download_button("⬇ Answers as CSV", data=lambda: csv_text(store().export_rows(info.code, key)),
                      file_name=f"diffviz-class-{info.code}.csv", mime="text/csv", key="t_csv")
    with c.popover("Close the class", disabled=info.closed is not None):
        st.markdown("Students can no longer join or answer. You can still export the answers.")
        if st.button("Yes, close it", key="t_close"):
            attempt(store().close, info.code, key)
            st.rerun()


@st.fragment(run_every=POLL_S)
def _live(code: str, key: str, i: int) -> None:
    """How many answered and their spread, refreshed every couple of seconds."""
    info = attempt(store().info, code)
    q = lesson.steps(info.settings)[i].question if info else None
    tally = attempt(store().tally, code, key, q.id) if q else None
    if tally is None:
        return
    st.markdown(f"**{tally.n} of {info.students}** students answered.")
    truth = None
    if q.id in info.revealed:
        t = lesson.truth(info.settings)
        truth = t.of(q.id)
        st.markdown(f"**Revealed.** Measured: **{panels.shown(q, truth) if truth is not None else 'never'}**. "
                    + lesson.explain(q.id, t, info.settings))
    panels.spread(info, q, tally, truth, None, key=f"live_{q.id}")


# ---------------------------------------------------------------- a student

def student(info: ClassInfo) -> None:
    """A student's page: joins on the first visit, then follows the teacher (or explores)."""
    over = info.over(time.time())
    token = st.query_params.get("me")
    if token is None:
        if over:
            st.warning(OVER[over], icon=":material/lock:")
        else:
            join_class(info.code)
        return
    me = attempt(store().student, info.code, token)
    if me is None:
        if not over and st.button("Join as a new student", key="s_rejoin"):
            join_class(info.code)
        return
    st.title(f"Class {info.code}")
    name, pop = st.columns([3, 1], vertical_alignment="center")
    name.markdown(f"You are **{plain(me.name, 40)}**. Keep this page's address to come back as yourself.")
    with pop.popover("Change my name"):
        new = st.text_input("Your name", value=me.name, max_chars=30, key="s_name")
        if st.button("Save", key="s_save") and new != me.name \
                and attempt(store().rename, info.code, token, new, session=session_id()):
            st.rerun()
    if over:
        st.warning(OVER[over], icon=":material/lock:")
    steps = lesson.steps(info.settings)
    follow = params.toggle_param("follow", "Follow the teacher", True,
                                 help="Off: look at any step on your own. On again: back to the teacher's step.")
    if follow:
        i = min(info.step, len(steps) - 1)
    else:
        i = params.select_slider_param("lstep", "Step", list(range(len(steps))), min(info.step, len(steps) - 1),
                                       format_func=lambda k: f"{k + 1}. {steps[k].title}")
    _follow(info.code, _seen(info, follow), follow)
    step = steps[i]
    st.subheader(f"Step {i + 1} of {len(steps)}: {step.title}")
    st.markdown(f"The class runs on {lesson.describe(info.settings)}, whatever the sidebar says.")
    st.markdown(step.text)
    q = step.question
    panels.picture(info, step, q is not None and q.id in info.revealed)
    if q is not None:
        panels.question(info, step, token, can_answer=not over)


def _seen(info: ClassInfo, follow: bool) -> tuple:
    return (info.step if follow else None, tuple(sorted(info.revealed)), info.closed is not None)


@st.fragment(run_every=POLL_S)
def _follow(code: str, seen: tuple, follow: bool) -> None:
    """Reload the student's page when the teacher moves on, reveals or closes."""
    try:
        info = store().info(code)
    except Exception:                                            # noqa: BLE001 (a blip: try again next time)
        return
    if _seen(info, follow) != seen:
        st.rerun(scope="app")
    st.markdown("● following the teacher" if follow else "exploring on your own: switch *Follow the teacher* "
               "on to rejoin")
