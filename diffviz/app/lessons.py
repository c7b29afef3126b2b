"""The guided path: lessons from lessons/*.yaml, drawn above the page, with predict-then-reveal questions.

The whole state lives in the link: ``lesson`` (a lesson's id), ``lstep`` (1-based), ``answer`` (the
learner's guess) and ``revealed`` (1 once the guess is locked in), next to the page's own parameters.
"Open this link" therefore puts a class on the same step, and the browser's Back goes to the step before
(Streamlit pushes every change of the query string to the history; `follow` re-enters the step the
address names). A step's view is applied by writing its parameters into the address and forgetting
those widgets' state, so the page's widgets read them back from the address as on a fresh link.
"""

from __future__ import annotations

import html

import streamlit as st

from diffviz.app import lesson_files, lesson_questions, presenter
from diffviz.app.notices import notice, plain

WIDGET_KEYS = {"step": ("p_step", "p_unet_step"), "block": ("p_block", "p_film_block"),
               "model": ("p_model", "p_guidance")}      # a new model starts from its own default guidance
KEEP = lesson_files.SIDEBAR + ("present",)


@st.cache_resource(show_spinner=False)
def _load():
    return lesson_files.load()


def lessons() -> list[lesson_files.Lesson]:
    """Every lesson in path order (read once per process); [] with an error shown when a file is broken."""
    try:
        return _load()
    except lesson_files.LessonError as e:
        st.error(f"The lessons cannot be used: {plain(e, 400)}")
        return []


def where_now() -> tuple[int, int] | None:
    """(lesson index, step index) the address names, or None (an unusable value gets a notice)."""
    raw = st.query_params.get("lesson")
    if raw is None:
        return None
    ids = [les.id for les in lessons()]
    if raw not in ids:
        notice(f"The link's lesson “{plain(raw, 30)}” is not one of {', '.join(ids)}; no lesson is shown.")
        return None
    li = ids.index(raw)
    n = len(lessons()[li].steps)
    try:
        si = int(st.query_params.get("lstep", "1")) - 1
    except ValueError:
        notice(f"The link's lstep “{plain(st.query_params.get('lstep'), 20)}” is not a whole number; step 1 is shown.")
        si = 0
    if not 0 <= si < n:
        notice(f"The link's lstep is outside 1..{n}; clamped.")
        si = min(max(si, 0), n - 1)
    return li, si


def _forget(names) -> None:
    for name in names:
        for key in WIDGET_KEYS.get(name, (f"p_{name}",)):
            st.session_state.pop(key, None)


def go(li: int, si: int) -> None:
    """Ask for lesson ``li``'s step ``si`` (a callback; `follow` moves there before the sidebar is drawn)."""
    st.session_state["_lesson_go"] = (li, si)


def leave() -> None:
    """End the lesson (a callback): drop the lesson's parameters from the address."""
    st.query_params.from_dict({k: v for k, v in st.query_params.to_dict().items()
                               if k not in lesson_files.LESSON_PARAMS})
    st.session_state.pop("_lesson_at", None)


def address(li: int, si: int) -> dict[str, str]:
    """The query parameters of lesson ``li``'s step ``si``: the sidebar's settings, the step's view, no answer."""
    les = lessons()[li]
    kept = {k: v for k, v in st.query_params.to_dict().items() if k in KEEP}
    return _drop_default_model({**kept, **les.steps[si].params(), "lesson": les.id, "lstep": str(si + 1)})


def _drop_default_model(params: dict) -> dict:
    """The sidebar leaves its default model out of the address: so does a step (no extra history entry)."""
    from diffviz.model import zoo
    names = zoo.available()
    default = "mnist" if "mnist" in names else (names[0] if names else None)
    return {k: v for k, v in params.items() if not (k == "model" and v == default)}


def page_name(page) -> str:
    """A navigation page's name in lesson files: its url_path ("" for the default page, the overview)."""
    return page.url_path or lesson_files.DEFAULT_PAGE


def follow(page, groups: dict) -> None:
    """Before the sidebar: move to the step asked for (Next, Back, a key), or to the step the address names
    when this session is not on it yet (a shared link, the browser's Back), and apply its view.

    Next writes a fresh address (the sidebar's settings, the step's view, no answer) in ONE change, so
    the browser's history holds one entry per step; a link keeps the values it gives and fills the rest.
    """
    pages = _pages(groups)
    ls = lessons()
    target = st.session_state.pop("_lesson_go", None)
    if target is not None and ls:
        step = ls[target[0]].steps[target[1]]
        new = address(*target)
    else:
        target = where_now()
        if target is None or st.session_state.get("_lesson_at") == target:
            return
        step = ls[target[0]].steps[target[1]]
        new = {**_drop_default_model(step.params()), **st.query_params.to_dict()}
    _forget(step.params())
    st.session_state["_lesson_at"] = target
    if page_name(page) != step.page and step.page in pages:
        st.switch_page(pages[step.page], query_params=new)
    if new != st.query_params.to_dict():
        st.query_params.from_dict(new)


def _pages(groups: dict) -> dict:
    return {page_name(p): p for group in groups.values() for p in group}


LINK_CSS = """<style>
.st-key-lesson-panel a.lesson-link { display: block; text-align: center; padding: 0.45rem 0.8rem; border-radius: 0.5rem;
  border: 1px solid rgba(49, 51, 63, 0.3); text-decoration: none; color: inherit; font-weight: 600; }
.st-key-lesson-panel a.lesson-link.next { background: #0072B2; border-color: #0072B2; color: #ffffff; }
.st-key-lesson-panel a.lesson-link:focus-visible { outline: 3px solid #E69F00; outline-offset: 3px; }
.st-key-lesson-panel span.lesson-link { display: block; text-align: center; padding: 0.45rem 0.8rem;
  border-radius: 0.5rem; border: 1px dashed rgba(49, 51, 63, 0.3); }
</style>"""


def _href(page: str, params: dict) -> str:
    """A relative address of a step (the default page is served at the app's root)."""
    from urllib.parse import urlencode
    path = "" if page == lesson_files.DEFAULT_PAGE else page
    return html.escape(f"./{path}?{urlencode(params)}", quote=True)


def _link(where, key: str, label: str, target, css: str) -> None:
    """A Back / Next link to a step: a plain link, so the browser's history holds exactly one entry per
    step (Back goes to the step before) and the address is the one a teacher would share."""
    with where.container(key=key):
        if target is None:
            st.html(f'<span class="lesson-link" aria-disabled="true">{html.escape(label)} (none)</span>')
        else:
            step = lessons()[target[0]].steps[target[1]]
            st.html(f'<a class="lesson-link {css}" href="{_href(step.page, address(*target))}">{html.escape(label)}</a>')


def _neighbours(li: int, si: int):
    ls = lessons()
    prev = (li, si - 1) if si > 0 else (li - 1, len(ls[li - 1].steps) - 1) if li > 0 else None
    nxt = (li, si + 1) if si + 1 < len(ls[li].steps) else (li + 1, 0) if li + 1 < len(ls) else None
    return prev, nxt


def step_by(delta: int) -> None:
    """→ / ← in presenter mode: the next or previous step (nothing at the ends of the path)."""
    at = where_now()
    if at is None:
        if delta > 0 and lessons():
            go(0, 0)
        return
    target = _neighbours(*at)[0 if delta < 0 else 1]
    if target is not None:
        go(*target)


def panel(s, page, groups: dict) -> None:
    """The lesson box at the top of the page (or, with no lesson, a start button), and presenter mode."""
    ls = lessons()
    present = presenter.setup(on_key=step_by)
    _start_menu(ls)
    at = where_now()
    if at is None or not ls:
        return
    li, si = at
    les, step = ls[li], ls[li].steps[si]
    presenter.highlight(step.highlight)
    box = st.container(border=True, key="lesson-panel")
    box.markdown(f"**Lesson {li + 1} of {len(ls)} · {plain(les.title)}** — step {si + 1} of {len(les.steps)}")
    box.markdown(step.look)
    if step.question is not None:
        with box:
            lesson_questions.question(s, les, si, step.question)
    prev, nxt = _neighbours(li, si)
    c1, c2, c3, _ = box.columns([1, 1, 1, 3] if not present else [1, 1, 1.4, 2.6])
    st.html(LINK_CSS)
    _link(c1, "lesson-back", "◀ Back", prev, "back")
    _link(c2, "lesson-next", "Next ▶", nxt, "next")
    if present:
        c3.button("Leave presenter mode", key="lesson-unpresent", on_click=presenter.turn_off, width="stretch")
    else:
        c3.button("End the lesson", key="lesson-end", on_click=leave, width="stretch")
    if nxt is None:
        box.success("This is the end of the guided path.")


def _start_menu(ls) -> None:
    sb = st.sidebar.container(key="lesson-menu")
    sb.markdown("**Guided lessons**")
    if not ls:
        return
    i = sb.selectbox("Lesson", range(len(ls)), format_func=lambda k: f"{k + 1} · {ls[k].title}", key="lesson-pick")
    sb.button("Start this lesson", key="lesson-start", on_click=go, args=(i, 0))
    presenter.toggle(sb)


_options, _range = lesson_questions.options, lesson_questions.value_range     # class mode's adapter uses them
