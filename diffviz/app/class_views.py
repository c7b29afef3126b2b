"""The three views of the "Teach a class" page: the start page, the teacher's and a student's.

The start page: a lesson picker (the built-in lesson or a guided one) and Start; the join box. The
teacher's view: the code, the join link and its QR code to project, the class's step (`class_mode`:
Back / Next, the students' pages follow within about two seconds; how many answered and their live
spread; Reveal, Ask again), the CSV export and Close. A student's view: their anonymous name
(changeable), the teacher's step (or their own, while exploring freely), the question and, after the
reveal, their answer beside the class's and the measured truth. In a guided lesson the students'
pages leave this page for the step's own page (`class_mode.follow`).
"""

from __future__ import annotations

import time

import streamlit as st

from diffviz.app import class_lesson, class_mode, render
from diffviz.app import class_lessons as lesson
from diffviz.app.classroom import attempt, csv_text, join_class, join_link, qr_png, start_class, store
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


def landing(s) -> None:
    """Start a class on a lesson (the sidebar's settings), or join one by its code."""
    st.title("Teach a class")
    st.markdown("Run a lesson with a whole class: everyone predicts, you show the spread of the class's "
                "answers, then reveal what the model really does, measured. Students need no account: they "
                "scan a QR code or type a code and get an anonymous name.")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Start a class")
        choices = lesson.picker()
        lid = st.selectbox("The class's lesson", list(choices), format_func=choices.get, key="class_lesson",
                           help="A guided lesson takes the class through its pages; the built-in one stays here.")
        c = lesson.settings(s, lid)
        if not lid and c["model"] != s.model:
            st.info(f"The built-in lesson's questions are read by the digit judge, so it runs on a digit model: "
                    f"{lesson.describe(c)}.", icon=":material/info:")
        st.markdown(f"The class is fixed to **{lesson.describe(c)}** (the sidebar's settings when you start; a "
                    "step may name its own model). Every question's truth is measured once, on these settings and "
                    "the step's view, so it is the same for every student. The steps:")
        try:
            steps = lesson.steps(c)
        except Exception as e:                                  # noqa: BLE001 (a lesson file class mode cannot run)
            st.error(f"This lesson cannot run as a class on these settings: {plain(e, 300)}")
            steps = []
        st.markdown("\n".join(f"{i + 1}. {plain(st_.title, 80)}" + (" — a question" if st_.question else "")
                              for i, st_ in enumerate(steps)))
        title = st.text_input("Name of the class (optional)", max_chars=60, key="class_title")
        if st.button("Start a class", type="primary", key="class_start", disabled=not steps):
            start_class(s, title, lid)
        st.markdown("You get a code, a join link and a QR code to project. Your own page's address holds your "
                   "teacher key: keep it to yourself (bookmark it to come back).")
    with right:
        join_box()
        if not lid:
            render.chart(maps.image_figure(class_lesson.noise(c), "the class's starting noise x_T",
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
        st.warning(class_mode.OVER[over] + " You can still export the answers.", icon=":material/lock:")
    class_mode.teacher_step(info, key, on_page=False)
    st.divider()
    d, c, _ = st.columns([1, 1, 2])
    rows = attempt(store().export_rows, info.code, key) or []          # eager: a page reached by a link keeps it
    d.download_button("⬇ Answers as CSV", data=csv_text(rows),
                      file_name=f"diffviz-class-{info.code}.csv", mime="text/csv", key="t_csv")
    with c.popover("Close the class", disabled=info.closed is not None):
        st.markdown("Students can no longer join or answer. You can still export the answers.")
        if st.button("Yes, close it", key="t_close"):
            attempt(store().close, info.code, key)
            st.rerun()


# ---------------------------------------------------------------- a student

def student(info: ClassInfo) -> None:
    """A student's page: joins on the first visit, then follows the teacher (or explores)."""
    over = info.over(time.time())
    if st.query_params.get("me") is None:
        if over:
            st.warning(class_mode.OVER[over], icon=":material/lock:")
        else:
            join_class(info.code)
        return
    st.title(f"Class {info.code}")
    class_mode.student_step(info, st.query_params["me"], on_page=False)
