"""Class mode's page side: who is looking (teacher, student, nobody yet) and the views for each.

The address decides the role, so identity survives reloads and dropped Wi-Fi (Streamlit starts a
new session on every reconnect; the address stays):

    /class                          start a class (a teacher) or type a code (a student)
    ?class=CODE                     a student's join link (the app's URL + ?class=CODE) → joins, then
    ?class=CODE&me=TOKEN            that student's own link: their name and answers
    ?class=CODE&key=KEY             the teacher's own link: steer, reveal, export, close

The store (`diffviz.classroom`) decides what each may do; this module opens it and starts or joins
classes. The views (and the routing by address) are in `class_views`, one step's panels in
`class_panels`, the built-in lesson and its measured truths in `class_lesson`, a guided lesson's in
`class_lessons`; a class member's lesson pages in `class_mode`.
"""

from __future__ import annotations

import os

import streamlit as st

from diffviz.app import class_lesson as lesson
from diffviz.app.notices import plain
from diffviz.classroom.config import open_store
from diffviz.classroom.store import ClassError, ClassStore

POLL_S = 2.0                      # the students' pages follow the teacher within about this long


@st.cache_resource(show_spinner=False)
def _open(url: str, data_dir: str) -> ClassStore:
    return open_store(url, data_dir or None)


def store() -> ClassStore:
    """The configured class store (one per server process), or an error message and stop."""
    url, data = os.environ.get("DIFFVIZ_DB_URL", "").strip(), os.environ.get("DIFFVIZ_DATA", "")
    try:
        return _open(url, data)
    except Exception as e:                                      # noqa: BLE001 (any driver's error, shown)
        st.error(f"The class database cannot be opened ({'PostgreSQL' if url else 'SQLite'}): {plain(e, 300)}")
        st.stop()


def session_id() -> str | None:
    """This browser tab's Streamlit session (what the rate limits count per)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def attempt(fn, *args, where=None, **kw):
    """Call a store method; a refusal or a database failure becomes a clear message (and None)."""
    try:
        return fn(*args, **kw)
    except ClassError as e:
        (where or st).error(str(e), icon=":material/block:")
    except Exception as e:                                      # noqa: BLE001 (the database did not answer)
        (where or st).error(f"The class database did not answer: {plain(e, 300)}. Try again in a moment.")
    return None


def app_url() -> str:
    """The app's address as the browser sees it, without this page's path ($DIFFVIZ_PUBLIC_URL wins)."""
    url = os.environ.get("DIFFVIZ_PUBLIC_URL") or st.context.url or "http://localhost:8501"
    url = url.split("?")[0].rstrip("/")
    return url.removesuffix("/class")


def join_link(code: str) -> str:
    """The link students open: the app's address with ``?class=CODE`` (no key, no token)."""
    return f"{app_url()}/?class={code}"


def start_class(s, title: str = "", lesson_id: str = "") -> None:
    """Create a class on a lesson and the sidebar's settings; its code and teacher key go into this (the
    teacher's) address. A guided lesson's truths are measured now, once, and stored with the class."""
    from diffviz.app import class_lessons
    c = class_lessons.settings(s, lesson_id)
    truths = None
    with st.spinner("Measuring the lesson's answers on the class's settings…"):
        if lesson_id:
            truths = class_lessons.measure(c)
        else:
            lesson.truth(c)                               # computed once now (cached): every reveal is instant
    new = attempt(store().create, class_lessons.questions(c), settings=c, title=title, session=session_id(),
                  truths=truths)
    if new is not None:
        st.query_params["class"] = new.code
        st.query_params["key"] = new.key
        st.rerun()


def join_class(code: str) -> None:
    """Join ``code`` as a new anonymous student; the token goes into this (the student's) address."""
    new = attempt(store().join, code, session=session_id())
    if new is not None:
        st.query_params["class"] = code
        st.query_params["me"] = new.token
        st.query_params.pop("key", None)
        st.rerun()


def csv_text(rows: list[dict]) -> str:
    """Export rows as CSV text (a header even when nobody answered)."""
    import csv
    import io
    buf = io.StringIO()
    fields = ["class", "student", "name", "question", "answer", "answered_utc"]
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def qr_png(url: str) -> bytes:
    """A QR code of ``url`` as PNG bytes (black on white, big modules: readable from a projector)."""
    import io

    import segno
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=2)
    return buf.getvalue()
