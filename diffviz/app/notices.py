"""Messages to the learner: notices (a bad link value, a broken model), page intros with their
"try this" box, and the "show the code" expander. Text from a link is escaped before it reaches Markdown.
"""

from __future__ import annotations

import streamlit as st

_MD_SPECIAL = "\\`*_{}[]()<>#+-.!|$~:"


# ---------------------------------------------------------------- notices and explanations

def plain(text, limit: int = 80) -> str:
    """Text from outside (the address, an upload's name) made safe for Markdown: cut and escaped."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def notice(msg: str) -> None:
    """A short notice (e.g. a bad link value) at the top of the page.

    Before `show_notices` has run in this script run, notices are queued; afterwards (the page's
    own parameters) they go straight into the box `show_notices` left at the top.
    """
    box = st.session_state.get("_notice_box")
    if box is not None:
        box.warning(msg, icon=":material/link:")
        return
    st.session_state.setdefault("_notices", [])
    if msg not in st.session_state["_notices"]:
        st.session_state["_notices"].append(msg)


def show_notices() -> None:
    """Show and clear the queued notices; keep a box at this spot for the page's later notices."""
    box = st.container()
    for msg in st.session_state.pop("_notices", []):
        box.warning(msg, icon=":material/link:")
    st.session_state["_notice_box"] = box


def intro(title: str, what: str, try_this: str | None = None):
    """Page title, two or three plain sentences, and a "try this — you should see" prompt.

    Without ``try_this`` the prompt's place is kept (returned) for `you_should_see`, so a page can
    measure first and phrase the prompt from what it measured.
    """
    st.title(title)
    st.markdown(what)
    box = st.empty()
    if try_this:
        you_should_see(box, try_this)
    return box


def you_should_see(box, text: str) -> None:
    """Fill the prompt `intro` kept with a sentence phrased from the page's measurements."""
    box.info("**Try this — you should see:** " + text, icon=":material/science:")


def show_code(code: str) -> None:
    """A "show the code" expander with the few lines of diffviz behind the view."""
    with st.expander("Show the code"):
        st.code(code.strip(), language="python")


def scoped(owner: str, *names: str) -> None:
    """Forget these parameters' widget values when another page set them last.

    Pages may use one name for different widgets ("level" is a stage on one page and an attention
    block on another); Streamlit would hand the new widget a stale value or none at all. Call at the
    top of a page: a name last drawn by a different ``owner`` starts again from the link or its default.
    Pages that share ``owner`` (e.g. the same step slider) keep sharing the value.
    """
    for name in names:
        key, tag = f"p_{name}", f"_owner_p_{name}"
        if st.session_state.get(tag) != owner:
            st.session_state.pop(key, None)
            st.session_state[tag] = owner
