"""The guided path: lessons from lessons/*.yaml, drawn above the page, with predict-then-reveal questions.

The whole state lives in the link: ``lesson`` (a lesson's id), ``lstep`` (1-based), ``answer`` (the
learner's guess) and ``revealed`` (1 once the guess is locked in), next to the page's own parameters.
"Open this link" therefore puts a class on the same step, and the browser's Back goes to the step before
(Streamlit pushes every change of the query string to the history; `follow` re-enters the step the
address names). A step's view is applied by writing its parameters into the address and forgetting
those widgets' state, so the page's widgets read them back from the address as on a fresh link.
"""

from __future__ import annotations

import streamlit as st

from diffviz.app import lesson_answers, lesson_files, presenter, render
from diffviz.app.notices import notice, plain
from diffviz.evaluation.answers import grade
from diffviz.figures import reveal

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
    """Move to lesson ``li``'s step ``si`` (a callback): a fresh address with the step's view, no answer."""
    les = lessons()[li]
    step = les.steps[si]
    kept = {k: st.query_params[k] for k in KEEP if k in st.query_params}
    st.query_params.clear()
    st.query_params.update({**kept, **step.params(), "lesson": les.id, "lstep": str(si + 1)})
    _forget(step.params())
    st.session_state.pop("_lesson_at", None)


def leave() -> None:
    """End the lesson (a callback): drop the lesson's parameters from the address."""
    for k in lesson_files.LESSON_PARAMS:
        if k in st.query_params:
            del st.query_params[k]
    st.session_state.pop("_lesson_at", None)


def follow(page, pages: dict) -> None:
    """Before the sidebar: when the address names a step this session is not on yet (a shared link, the
    browser's Back, Next), apply its view (keeping values the address already gives) and open its page."""
    at = where_now()
    if at is None or st.session_state.get("_lesson_at") == at:
        return
    step = lessons()[at[0]].steps[at[1]]
    for k, v in step.params().items():
        if k not in st.query_params:
            st.query_params[k] = v
    _forget(step.params())
    st.session_state["_lesson_at"] = at
    if page.url_path != step.page and step.page in pages:
        st.switch_page(pages[step.page], query_params=dict(st.query_params))


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


def panel(s) -> None:
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
            _question(s, les, si, step.question)
    prev, nxt = _neighbours(li, si)
    c1, c2, c3, _ = box.columns([1, 1, 1, 3] if not present else [1, 1, 1.4, 2.6])
    c1.button("◀ Back", key="lesson-back", disabled=prev is None, on_click=go, args=prev or (0, 0), width="stretch")
    c2.button("Next ▶", key="lesson-next", disabled=nxt is None, on_click=go, args=nxt or (0, 0),
              type="primary", width="stretch")
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


def _options(s, q) -> list:
    if q.options:
        return list(q.options)
    return list(lesson_answers.OPTIONS[q.options_from](s))


def _range(s, q) -> tuple[int, int, int]:
    lo, hi, step = q.range
    named = {"steps": lambda: s.steps - 1,
             "bottleneck_channels": lambda: lesson_answers.runs.load_model(s.model)[0].config.channels[-1]}
    hi = named[hi]() if isinstance(hi, str) else hi
    return int(lo), int(hi), int(step)


def _parse_answer(s, q, raw):
    """The link's answer as a guess for question ``q``, or None (with a notice) when it is not one."""
    if q.kind == "slider":
        lo, hi, _ = _range(s, q)
        try:
            v = int(float(raw))
        except ValueError:
            v = None
        if v is not None and lo <= v <= hi:
            return v
    elif raw in _options(s, q):
        return raw
    notice(f"The link's answer “{plain(raw, 30)}” does not fit this question; answer it again.")
    return None


def _question(s, les, si: int, q) -> None:
    """Predict (a slider or a choice), then reveal the measured truth beside the guess."""
    key = f"lq-{les.id}-{si}"
    raw = st.query_params.get("answer")
    guess = _parse_answer(s, q, raw) if raw is not None else None
    revealed = st.query_params.get("revealed") in ("1", "true") and guess is not None
    if revealed:
        st.session_state[key] = guess
    st.markdown(f"**Predict first:** {q.ask}")
    if q.kind == "slider":
        lo, hi, step = _range(s, q)
        now = st.session_state.get(key)
        st.session_state[key] = min(max(int(now if now is not None else lo + (hi - lo) // 2 // step * step), lo), hi)
        value = st.slider("Your guess", lo, hi, step=step, key=key, disabled=revealed)
    else:
        opts = _options(s, q)
        if st.session_state.get(key) not in opts:
            st.session_state.pop(key, None)
        value = st.radio("Your guess", opts, index=None, key=key, disabled=revealed, horizontal=True)
    if not revealed:
        st.button("Lock in my guess and reveal the measured answer", key="lesson-reveal", disabled=value is None,
                  on_click=_reveal, args=(value,))
        if value is None:
            st.caption("Choose an answer first: the measurement is shown only after you have committed to one.")
        return
    try:
        with st.spinner("Measuring on your settings…"):
            truth = lesson_answers.MEASURES[q.reveals](s, q.args)
    except lesson_answers.Unavailable as e:
        st.info(f"{plain(e, 300)}", icon=":material/info:")
        return
    mark = grade(q.kind, guess, truth, q.tolerance)
    c1, c2, c3 = st.columns([2, 3, 1])
    c1.metric("Your guess", str(guess))
    c2.metric("Measured now", truth.shown)
    c3.markdown({"right": "### ✅ right", "close": "### ≈ close", "off": "### ✗ off"}[mark])
    st.markdown(f"{truth.why} {q.why}")
    if truth.series:
        render.plot(reveal.reveal_figure(truth.series, truth.value, guess, numeric=q.kind == "slider"),
                    key="lesson-truth-chart")
    st.button("Answer again", key="lesson-again", on_click=_unreveal)


def _reveal(value) -> None:
    st.query_params["answer"] = str(value)
    st.query_params["revealed"] = "1"


def _unreveal() -> None:
    for k in ("answer", "revealed"):
        if k in st.query_params:
            del st.query_params[k]
