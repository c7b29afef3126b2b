"""A lesson step's question in the lesson box: predict first (a slider, a choice or a click on the image),
then the truth measured live on the learner's settings, beside the guess.

The guess travels in the link (``answer``: a number, an option, or a click as "x,y" in image pixels) with
``revealed=1`` once it is locked in. A click question is answered by clicking the image or, from the
keyboard, by typing x and y into two number boxes: both fill the same guess.
"""

from __future__ import annotations

import streamlit as st

from diffviz.app import lesson_answers, render
from diffviz.app.notices import notice, plain
from diffviz.evaluation import answers as A
from diffviz.figures import answers as answer_figs
from diffviz.figures import reveal

MARKS = {"right": "### ✓ right", "close": "### ≈ close", "off": "### ✗ off"}


def options(s, q) -> list:
    """A choice question's options on settings ``s`` (fixed, or built from the model)."""
    if q.options:
        return list(q.options)
    return list(lesson_answers.OPTIONS[q.options_from](s))


def value_range(s, q) -> tuple[int, int, int]:
    """A slider question's (lo, hi, step) on settings ``s`` (hi may be named: the run's last step, ...)."""
    lo, hi, step = q.range
    named = {"steps": lambda: s.steps - 1,
             "bottleneck_channels": lambda: lesson_answers.runs.load_model(s.model)[0].config.channels[-1]}
    hi = named[hi]() if isinstance(hi, str) else hi
    return int(lo), int(hi), int(step)


def parse_answer(s, q, raw):
    """The link's answer as a guess for question ``q``, or None (with a notice) when it is not one."""
    if q.kind == "slider":
        lo, hi, _ = value_range(s, q)
        try:
            v = int(float(raw))
        except ValueError:
            v = None
        if v is not None and lo <= v <= hi:
            return v
    elif q.kind == "click":
        xy = A.parse_click(raw, q.width, q.height)
        if xy is not None:
            return xy
    elif raw in options(s, q):
        return raw
    notice(f"The link's answer “{plain(raw, 30)}” does not fit this question; answer it again.")
    return None


def shown(q, guess) -> str:
    """A guess as a learner reads it ("x 13, y 20" for a click)."""
    return f"x {guess[0]:g}, y {guess[1]:g}" if q.kind == "click" else str(guess)


def canvas(s, q) -> lesson_answers.Canvas:
    """The image a click question is answered on; `Unavailable` when this model's images are another size."""
    c = lesson_answers.CANVASES[q.reveals](s, q.args)
    H, W = c.image.shape[-2:]
    if (W, H) != (q.width, q.height):
        raise lesson_answers.Unavailable(f"This question is asked on a {q.width}×{q.height} image, and “{s.model}” "
                                         f"makes {W}×{H} images: press Back and Next to return to the step's model.")
    return c


def question(s, les, si: int, q) -> None:
    """Predict (a slider, a choice or a click), then reveal the measured truth beside the guess."""
    key = f"lq-{les.id}-{si}"
    raw = st.query_params.get("answer")
    guess = parse_answer(s, q, raw) if raw is not None else None
    revealed = st.query_params.get("revealed") in ("1", "true") and guess is not None
    st.markdown(f"**Predict first:** {q.ask}")
    try:
        value = _answer(s, q, key, guess if revealed else None)
    except lesson_answers.Unavailable as e:
        st.info(f"{plain(e, 300)}", icon=":material/info:")
        return
    if not revealed:
        hide_until_reveal(q.hides)
        st.button("Lock in my guess and reveal the measured answer", key="lesson-reveal", disabled=value is None,
                  on_click=_reveal, args=(A.click_text(*value) if q.kind == "click" and value else value,))
        if value is None:
            st.caption("Choose an answer first: the measurement is shown only after you have committed to one.")
        return
    try:
        with st.spinner("Measuring on your settings…"):
            truth = lesson_answers.MEASURES[q.reveals](s, {"level": q.level, **q.args})
            pic = canvas(s, q) if q.kind == "click" else None
    except lesson_answers.Unavailable as e:
        st.info(f"{plain(e, 300)}", icon=":material/info:")
        return
    mark = A.grade(q.kind, guess, truth, q.tolerance)
    c1, c2, c3 = st.columns([2, 3, 1])
    c1.metric("Your guess", shown(q, guess))
    c2.metric("Measured now", truth.shown)
    c3.markdown(MARKS[mark])
    st.markdown(f"{truth.why} {q.why}")
    if pic is not None:
        spot = truth.spot
        st.markdown(f"**Right** means your click falls inside the outlined cells, those given at least {q.level:.0%} "
                    f"of the peak weight; **close** means within {q.tolerance:g} pixels of them. Your click is "
                    f"{spot.distance(*guess):.1f} pixels from them.")
        render.plot(reveal.click_figure(pic.image, spot.weights, spot.hot, truth.value, guess, pic.box, q.level,
                                        title="Measured on your settings: the map, its peak (✕) and your click (○)"),
                    key="lesson-truth-chart")
    elif truth.series:
        render.plot(reveal.reveal_figure(truth.series, truth.value, guess, numeric=q.kind == "slider"),
                    key="lesson-truth-chart")
    st.button("Answer again", key="lesson-again", on_click=_unreveal)


def hide_until_reveal(keys) -> None:
    """Hide the page's panels that would give the answer away (and their numbers) until the reveal."""
    if keys:
        css = ", ".join(f".st-key-{k}, .st-key-{k}-numbers" for k in keys)
        st.html(f"<style>{css} {{ display: none !important; }}</style>")
        st.markdown("*The panel that shows the answer is hidden until you reveal it.*")


def _answer(s, q, key: str, locked):
    """The answer control for ``q``'s kind, locked to ``locked`` once revealed; returns the guess or None."""
    if locked is not None and q.kind != "click":
        st.session_state[key] = locked
    if q.kind == "slider":
        lo, hi, step = value_range(s, q)
        now = st.session_state.get(key)
        st.session_state[key] = min(max(int(now if now is not None else lo + (hi - lo) // 2 // step * step), lo), hi)
        return st.slider("Your guess", lo, hi, step=step, key=key, disabled=locked is not None)
    if q.kind == "choice":
        opts = options(s, q)
        if st.session_state.get(key) not in opts:
            st.session_state.pop(key, None)
        return st.radio("Your guess", opts, index=None, key=key, disabled=locked is not None, horizontal=True)
    return _click(s, q, key, locked)


def _click(s, q, key: str, locked):
    """Click the image, or type x and y: either way the guess is a pixel (x, y) of the question's image."""
    pic = canvas(s, q)
    kx, ky = f"{key}-x", f"{key}-y"
    if locked is not None:
        st.session_state[kx], st.session_state[ky] = int(round(locked[0])), int(round(locked[1]))
    now = (st.session_state.get(kx), st.session_state.get(ky))
    mine = now if None not in now else None
    left, right = st.columns([3, 2]) if locked is None else (None, st.container())
    if locked is None:                                                  # once revealed, the reveal draws the image
        fig = answer_figs.clicks_figure(pic.image, mine=mine, title=pic.title, clickable=True, box=pic.box, height=380)
        ev = render.chart(fig, key=f"{key}-image", where=left, on_select="rerun", selection_mode="points")
        pts = [p for p in (ev.selection.points if ev else []) if "x" in p and "y" in p]
        if pts:
            xy = (int(round(pts[-1]["x"])), int(round(pts[-1]["y"])))
            if st.session_state.get(f"_{key}-clicked") != xy:           # a selection stays: apply it once
                st.session_state[f"_{key}-clicked"] = xy
                st.session_state[kx], st.session_state[ky] = xy
                st.rerun()                                              # redraw with the click ringed
    with right:
        if locked is None:
            st.markdown("Click a pixel of the image, or type its position:")
        for col, (k, label, hi) in zip(st.columns(2) if locked is not None else (st, st),
                                       ((kx, "x (column, 0 = left)", q.width - 1), (ky, "y (row, 0 = top)", q.height - 1))):
            col.number_input(label, min_value=0, max_value=hi, step=1, key=k, disabled=locked is not None,
                             **({} if k in st.session_state else {"value": None}))
    x, y = st.session_state.get(kx), st.session_state.get(ky)
    return (x, y) if x is not None and y is not None else None


def _reveal(value) -> None:
    st.query_params.from_dict({**st.query_params.to_dict(), "answer": str(value), "revealed": "1"})


def _unreveal() -> None:
    st.query_params.from_dict({k: v for k, v in st.query_params.to_dict().items() if k not in ("answer", "revealed")})
