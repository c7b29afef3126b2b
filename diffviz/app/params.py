"""Widgets bound to URL parameters of the same name, so the address bar always holds the whole view.

A teacher copies it, a student opening it sees the same images. Values from the address are parsed,
validated and clamped; a bad one gives a short notice and falls back to its default. Nothing from the
address is ever rendered as HTML.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from diffviz.app.notices import notice, plain

# ---------------------------------------------------------------- permalink-bound widgets

def _init_from_url(name: str, key: str, default, parse) -> None:
    if key in st.session_state:
        return
    raw = st.query_params.get(name)
    value = default
    if raw is not None:
        try:
            value = parse(raw)
        except (ValueError, TypeError) as e:
            notice(f"The link's value for “{name}” was not usable ({e}); using {plain(default)} instead.")
    st.session_state[key] = value


def _sync_url(name: str, value, default, text: str | None = None) -> None:
    """Write the widget's value back to the address bar (removed when it is the default)."""
    text = _fmt(value) if text is None else text
    if value == default:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != text:
        st.query_params[name] = text


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _snap(v: int, lo: int, step: int) -> int:
    return lo + round((v - lo) / step) * step


def _clamped_int(name, lo, hi, step=1):
    def parse(raw):
        text = str(raw).strip()
        try:
            f = float(text)
        except ValueError:
            raise ValueError(f"“{plain(raw, 20)}” is not a whole number") from None
        if not np.isfinite(f) or f != int(f):
            raise ValueError(f"“{plain(raw, 20)}” is not a whole number")
        v = int(f)
        if not lo <= v <= hi:
            notice(f"The link's “{name}” = {v} is outside {lo}..{hi}; clamped.")
        v = min(max(v, lo), hi)
        return min(_snap(v, lo, step), hi) if step > 1 else v
    return parse


def _clamped_float(name, lo, hi, step):
    def parse(raw):
        try:
            v = float(raw)
        except ValueError:
            raise ValueError(f"“{plain(raw, 20)}” is not a number") from None
        if not np.isfinite(v):
            raise ValueError("not a finite number")
        if not lo <= v <= hi:
            notice(f"The link's “{name}” = {v:g} is outside {lo:g}..{hi:g}; clamped.")
        v = min(max(v, lo), hi)
        return round(round((v - lo) / step) * step + lo, 6)
    return parse


def int_param(name: str, label: str, lo: int, hi: int, default: int, where=None, kind="slider",
              step: int = 1, **kw) -> int:
    """An integer widget bound to query parameter ``name`` (validated, clamped, snapped to ``step``)."""
    where = where or st
    key = f"p_{name}"
    default = min(max(default, lo), hi)
    if step > 1:
        default = min(_snap(default, lo, step), hi)
    _init_from_url(name, key, default, _clamped_int(name, lo, hi, step))
    v = min(max(int(st.session_state[key]), lo), hi)          # ranges can move (e.g. steps)
    st.session_state[key] = min(_snap(v, lo, step), hi) if step > 1 else v
    if hi <= lo:
        value = lo
    elif kind == "number":
        value = where.number_input(label, min_value=lo, max_value=hi, step=step, key=key, **kw)
    else:
        value = where.slider(label, min_value=lo, max_value=hi, step=step, key=key, **kw)
    _sync_url(name, int(value), default)
    return int(value)


def float_param(name: str, label: str, lo: float, hi: float, default: float, step: float, where=None, **kw) -> float:
    """A float slider bound to query parameter ``name``."""
    where = where or st
    key = f"p_{name}"
    _init_from_url(name, key, default, _clamped_float(name, lo, hi, step))
    value = where.slider(label, min_value=lo, max_value=hi, step=step, key=key, **kw)
    _sync_url(name, float(value), default)
    return float(value)


def _follow_labels(key: str, options: list, format_func) -> None:
    """Re-send a choice widget's value when its option labels changed since the last run.

    A keyed widget keeps its identity when its options' labels change (another model: "7×7" becomes
    "8×8"), and the browser would go on showing the old label of the selected option. Setting the
    value from code makes Streamlit send it again, with the new label.
    """
    labels = tuple(str(format_func(o)) for o in options)
    tag = f"_labels_{key}"
    if st.session_state.get(tag) not in (None, labels) and key in st.session_state:
        st.session_state[key] = st.session_state[key]
    st.session_state[tag] = labels


def _bind_options(name: str, key: str, options: list, default, format_func=str) -> None:
    """Seed widget ``key`` from query parameter ``name`` (an option by its text; anything else: the
    default, with a message naming the choices) and keep its state one of ``options``."""
    by_text = {_fmt(o): o for o in options}

    def parse(raw):
        if raw not in by_text:
            shown = ", ".join(list(by_text)[:12]) + (", …" if len(by_text) > 12 else "")
            raise ValueError(f"“{plain(raw, 30)}” is not one of {plain(shown, 200)}")
        return by_text[raw]
    _init_from_url(name, key, default, parse)
    if st.session_state[key] not in options:
        st.session_state[key] = default
    _follow_labels(key, options, format_func)


def choice_param(name: str, label: str, options: list, default, where=None, format_func=str,
                 widget: str = "select", **kw):
    """A choice bound to query parameter ``name`` (an unknown value falls back to the default).

    widget: "select" (a select box), "radio" (horizontal buttons) or "segmented" (a segmented
    control that always keeps one option selected).
    """
    where = where or st
    key = f"p_{name}"
    _bind_options(name, key, options, default, format_func)
    if widget == "radio":
        value = where.radio(label, options, key=key, format_func=format_func, horizontal=True, **kw)
    elif widget == "segmented":
        value = where.segmented_control(label, options, key=key, format_func=format_func, required=True, **kw)
    else:
        value = where.selectbox(label, options, key=key, format_func=format_func, **kw)
    if value is None:                                         # defensive: never leave the page without a choice
        value = default
    _sync_url(name, value, default)
    return value


def text_param(name: str, label: str, default: str, validate, where=None, **kw) -> str:
    """A text box bound to ``name``; an invalid text shows ``validate``'s message and uses the default."""
    where = where or st
    key = f"p_{name}"
    _init_from_url(name, key, default, lambda raw: str(raw)[:300])
    value = where.text_input(label, key=key, max_chars=300, **kw)
    problem = validate(value)
    _sync_url(name, value, default)
    if problem:
        where.warning(f"{plain(problem, 400)} Using “{plain(default)}” instead.")
        return default
    return value


def toggle_param(name: str, label: str, default: bool = False, where=None, **kw) -> bool:
    """A toggle bound to query parameter ``name`` (values true / false)."""
    where = where or st
    key = f"p_{name}"

    def parse(raw):
        v = str(raw).strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"“{plain(raw, 20)}” is not true or false")
    _init_from_url(name, key, bool(default), parse)
    value = bool(where.toggle(label, key=key, **kw))
    _sync_url(name, value, default, "true" if value else "false")
    return value


def select_slider_param(name: str, label: str, options: list, default, where=None, format_func=str, **kw):
    """A select-slider over ``options`` bound to query parameter ``name`` (unknown values: the default)."""
    where = where or st
    key = f"p_{name}"
    _bind_options(name, key, options, default, format_func)
    value = where.select_slider(label, options=options, key=key, format_func=format_func, **kw)
    _sync_url(name, value, default)
    return value


def keyed_choice(name: str, key: str, label: str, options: list, default, where=None, format_func=str, **kw):
    """A select box bound to query parameter ``name`` like `choice_param`, under widget key ``key``
    (for a name another page uses for a different widget, e.g. "block")."""
    where = where or st
    _bind_options(name, key, options, default, format_func)
    value = where.selectbox(label, options, key=key, format_func=format_func, **kw)
    _sync_url(name, value, default)
    return value
