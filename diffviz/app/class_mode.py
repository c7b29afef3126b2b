"""Class mode on the lesson pages: the class follows the teacher through a guided lesson's pages.

A guided lesson's step is a page and its view (`class_lessons`). While a class runs one, a class
member's own link (``?class=CODE&key=KEY`` or ``?class=CODE&me=TOKEN``) works on every page:

    follow(page, groups)   before the sidebar: the teacher's page, and a student's while *Follow the
                           teacher* is on, moves to the class's step: its page, the class's settings and
                           the step's view (written into the address, the widgets' state forgotten)
    panel(page)            above the page: the class box (it takes the lesson box's place and presenter
                           styling): the teacher's Back / Next, live answers and Reveal; a student's
                           answer box, and after the reveal their answer, the class's and the truth

The class page (/class) keeps the rest: start, join, the QR code, the CSV export and Close. A student's
page polls the class every `POLL_S` seconds (`_follow`) and reloads when the teacher moves on or reveals.
"""

from __future__ import annotations

import time

import streamlit as st

from diffviz.app import class_lessons as lesson
from diffviz.app import class_panels as panels
from diffviz.app import lesson_files, lessons, params, presenter
from diffviz.app.classroom import POLL_S, attempt, session_id, store
from diffviz.app.notices import plain
from diffviz.classroom import codes
from diffviz.classroom.store import ClassInfo

CLASS_PAGE = "pages/class.py"
OVER = {"closed": "This class has been closed by its teacher: it takes no more answers.",
        "expired": "This class has expired: it takes no more answers."}


def identity() -> dict[str, str]:
    """Who the address says is looking: ``class`` and the teacher's ``key`` or the student's ``me``."""
    return {k: st.query_params[k] for k in ("class", "key", "me") if k in st.query_params}


def following() -> bool:
    """The teacher always follows the class's step; a student unless *Follow the teacher* is off."""
    if "key" in st.query_params:
        return True
    v = st.session_state.get("p_follow")
    return bool(v) if v is not None else st.query_params.get("follow", "true") not in ("0", "false", "no", "off")


def page_of(name: str):
    """The navigation page a lesson file names (remembered by `follow` from app.py's groups)."""
    return st.session_state.get("_class_pages", {}).get(name, CLASS_PAGE)


def address(info: ClassInfo, step, who: dict) -> dict[str, str]:
    """A step's link: the class's settings (with the step's own), the step's view and the viewer's identity."""
    s = lesson.step_settings(info.settings, step.view)
    side = {"model": s.model, "seed": str(s.seed), "sampler": s.sampler, "steps": str(s.steps),
            "guidance": f"{s.guidance:g}"}
    side.update({"prompt": s.prompt} if s.kind == "text" else {"label": str(s.label)})
    view = lesson_files.Step(view=step.view, look="").params()
    kept = {k: v for k, v in st.query_params.to_dict().items() if k == "present"}
    return {**side, **view, **kept, **who}


def _forget(page: str) -> None:
    for name in lesson_files.SIDEBAR + lesson_files.VIEW_PARAMS.get(page, ()):
        for key in lessons.WIDGET_KEYS.get(name, (f"p_{name}",)):
            st.session_state.pop(key, None)


def follow(page, groups: dict) -> None:
    """Before the sidebar: a join link opens the class page; a class member's page follows the class's step."""
    st.session_state["_class_pages"] = {lessons.page_name(p): p for g in groups.values() for p in g}
    who, name = identity(), lessons.page_name(page)
    if "class" not in who:
        return
    if "key" not in who and "me" not in who:                     # a join link: the app's URL + ?class=CODE
        if name != "class":
            st.switch_page(CLASS_PAGE, query_params=st.query_params.to_dict())
        return
    code = codes.normalise_code(who["class"])
    try:
        info = store().info(code) if code else None
    except Exception:                                            # noqa: BLE001 (the class page says why)
        info = None
    steps = lesson.steps(info.settings) if info else []
    i = min(info.step, len(steps) - 1) if info else 0
    if info is None or steps[i].view is None:                    # the built-in lesson lives on the class page
        if name != "class":
            st.switch_page(CLASS_PAGE, query_params=who)
        return
    if ("key" in who and name == "class") or not following() or st.session_state.get("_class_at") == (code, i):
        return
    st.session_state["_class_at"] = (code, i)
    target, new = steps[i].view["page"], address(info, steps[i], who)
    _forget(target)
    if name != target:
        st.switch_page(page_of(target), query_params=new)
    if new != st.query_params.to_dict():
        st.query_params.from_dict(new)


def _rejoin() -> None:
    st.session_state.pop("_class_at", None)                      # follow() moves to the teacher's step again


def panel(page) -> bool:
    """The class box above a lesson page; True when this is a class member's page (no lesson box then)."""
    who = identity()
    if "class" not in who or lessons.page_name(page) == "class":
        back = st.session_state.get("_class_link")
        if back and "class" not in who:
            st.sidebar.page_link(CLASS_PAGE, label=f"↩ Back to class {back['class']}", query_params=back)
        return "class" in who
    st.session_state["_class_link"] = who
    info = attempt(store().info, codes.normalise_code(who["class"]) or "")
    if info is None:
        return True
    with st.container(border=True, key="lesson-panel"):          # the lesson box's place and presenter styling
        if "key" in who:
            presenter.setup(on_key=lambda d: _move(info, who["key"], info.step + d))
            presenter.toggle(st.sidebar)
            teacher_step(info, who["key"], on_page=True)
        else:
            student_step(info, who["me"], on_page=True)
    return True


def _move(info: ClassInfo, key: str, i: int) -> None:
    n = len(lesson.steps(info.settings))
    attempt(store().set_step, info.code, key, min(max(i, 0), n - 1))


def _step_link(info: ClassInfo, step, who: dict, label: str) -> None:
    if step.view is not None:
        st.page_link(page_of(step.view["page"]), label=label, icon=":material/open_in_new:",
                     query_params=address(info, step, who))


def teacher_step(info: ClassInfo, key: str, on_page: bool) -> None:
    """The teacher's step: Back / Next (the students' pages follow), what to look at, the live answers, Reveal."""
    if not attempt(store().check_key, info.code, key):
        st.stop()
    steps = lesson.steps(info.settings)
    i = min(info.step, len(steps) - 1)
    step = steps[i]
    back, nxt, where = st.columns([1, 1, 4], vertical_alignment="center")
    if back.button("◀ Back", disabled=i == 0, key="t_back"):
        _move(info, key, i - 1)
        st.rerun()
    if nxt.button("Next ▶", disabled=i >= len(steps) - 1, key="t_next", type="primary"):
        _move(info, key, i + 1)
        st.rerun()
    where.markdown(f"**Class {info.code} · step {i + 1} of {len(steps)}: {plain(step.title, 80)}** · the students' "
                   "pages follow")
    st.markdown(step.text)
    if on_page:
        st.page_link(CLASS_PAGE, label="The class page: QR code, answers as CSV, close", query_params=identity())
    else:
        _step_link(info, step, identity(), "Show this step's page (to project it)")
    q = step.question
    if q is None:
        panels.picture(info, step, False)
        return
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


@st.fragment(run_every=POLL_S)
def _live(code: str, key: str, i: int) -> None:
    """How many answered and their spread, refreshed every couple of seconds."""
    info = attempt(store().info, code)
    step = lesson.steps(info.settings)[i] if info else None
    q = step.question if step else None
    tally = attempt(store().tally, code, key, q.id) if q else None
    if tally is None:
        return
    st.markdown(f"**{tally.n} of {info.students}** students answered.")
    t = {}
    if q.id in info.revealed:
        t = lesson.revealed(info.settings, q, tally)
        st.markdown(f"**Revealed.** Measured: **{plain(t.get('shown', t.get('unavailable', '—')), 300)}**.")
    panels.spread(info, step, tally, t.get("value"), None, key=f"live_{q.id}")
    if t:
        panels.measured(q, t)


def student_step(info: ClassInfo, token: str, on_page: bool) -> None:
    """A student's step: their name, the teacher's step (or their own, exploring), the question and the reveal."""
    over = info.over(time.time())
    me = attempt(store().student, info.code, token)
    if me is None:
        if not over and st.button("Join as a new student", key="s_rejoin"):
            from diffviz.app.classroom import join_class
            join_class(info.code)
        return
    name, pop = st.columns([3, 1], vertical_alignment="center")
    name.markdown(f"Class **{info.code}**. You are **{plain(me.name, 40)}**. Keep this page's address to come "
                  "back as yourself.")
    with pop.popover("Change my name"):
        new = st.text_input("Your name", value=me.name, max_chars=30, key="s_name")
        if st.button("Save", key="s_save") and new != me.name \
                and attempt(store().rename, info.code, token, new, session=session_id()):
            st.rerun()
    if over:
        st.warning(OVER[over], icon=":material/lock:")
    steps = lesson.steps(info.settings)
    follow = params.toggle_param("follow", "Follow the teacher", True, on_change=_rejoin,
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
    if not (on_page and follow):
        _step_link(info, step, identity(), "Open this step's page")
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
