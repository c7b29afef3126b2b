"""Presenter mode (``?present=1`` or the sidebar's toggle): a lesson on a projector.

The sidebar and the page's own controls are hidden (the lesson's Back / Next and its question stay),
body text is 24 px and the page uses the whole width. → / PageDown and ← / PageUp step through the
lesson (by following its Back / Next links), space plays (or stops) the denoising animation. The keys are read by a tiny custom component
(Streamlit's components v2: JavaScript in the page itself, no iframe) that listens on the document and
reports each key as a trigger; keys typed into a text box or pressed on a slider are left alone.
"""

from __future__ import annotations

import streamlit as st

from diffviz.app.params import toggle_param

# Widgets the page keeps in presenter mode: the lesson's box and the denoising page's play toggle.
_WIDGETS = ("stSlider", "stSelectSlider", "stSelectbox", "stRadio", "stButtonGroup", "stNumberInput",
            "stTextInput", "stCheckbox", "stFileUploader", "stDownloadButton", "stExpander", "stButton")
_KEEP = ":not(.st-key-lesson-panel *):not(.st-key-play)"

CSS = """
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarCollapseButton"], header[data-testid="stHeader"] { display: none !important; }
[data-testid="stMain"] .block-container { max-width: 100% !important; padding: 1rem 2.5rem 3rem !important; }
[data-testid="stMain"] :is(p, li, label, [data-testid="stCaptionContainer"], [data-testid="stMetricLabel"]) {
  font-size: 24px !important; line-height: 1.4 !important; }
[data-testid="stMain"] [data-testid="stMetricValue"] { font-size: 34px !important; }
[data-testid="stMain"] h1 { font-size: 46px !important; }
[data-testid="stMain"] .st-key-lesson-panel :is(a, span).lesson-link { font-size: 24px !important; }
[data-testid="stMain"] [data-testid="stAlert"]:has([data-testid="stAlertContentInfo"]):not(.st-key-lesson-panel *) {
  display: none !important; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 34px !important; }
[data-testid="stMain"] [data-testid="stImage"] img { min-width: 60%; image-rendering: pixelated; }
""" + ",\n".join(f'[data-testid="stMain"] [data-testid="{w}"]{_KEEP}' for w in _WIDGETS) + \
    " { display: none !important; }\n"

KEYS_JS = """
export default function (component) {
  const { setTriggerValue } = component;
  const onKey = (e) => {
    const t = e.target || {};
    const tag = (t.tagName || "").toLowerCase();
    if (e.altKey || e.ctrlKey || e.metaKey || ["input", "textarea", "select"].includes(tag) || t.isContentEditable
        || (t.getAttribute && t.getAttribute("role") === "slider")) return;
    const key = {ArrowRight: "next", PageDown: "next", ArrowLeft: "back", PageUp: "back", " ": "play"}[e.key];
    if (!key) return;
    e.preventDefault();
    const link = document.querySelector(`.st-key-lesson-${key} a`);   // Back / Next are plain links
    if (link) link.click(); else setTriggerValue("key", key);
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
"""

_component = []


def _keys(**kw):
    """Mount the key listener (registered once per process, on first use inside a running app)."""
    if not _component:
        _component.append(st.components.v2.component("diffviz_presenter_keys", js=KEYS_JS))
    return _component[0](**kw)


def is_on() -> bool:
    """Whether presenter mode is on (the sidebar's toggle, bound to ``present``)."""
    return bool(st.session_state.get("p_present", st.query_params.get("present") in ("1", "true", "yes", "on")))


def toggle(where) -> bool:
    """The sidebar's presenter-mode toggle (query parameter ``present``)."""
    return toggle_param("present", "Presenter mode (→ ← step, space plays)", False, where=where,
                        help="For a projector: hides the sidebar and the page's controls, large text. "
                             "Leave it with the button in the lesson box or by removing present=1 from the link.")


def turn_off() -> None:
    """Leave presenter mode (a callback)."""
    st.session_state["p_present"] = False
    if "present" in st.query_params:
        del st.query_params["present"]


def setup(on_key) -> bool:
    """Style the page for a projector and listen for → ← and space when presenter mode is on.

    ``on_key(+1 | -1)`` moves through the lesson; space toggles the denoising page's animation.
    """
    if not is_on():
        return False
    st.html(f"<style>{CSS}</style>")
    res = _keys(key="presenter-keys", on_key_change=lambda: None)
    key = getattr(res, "key", None)
    if key in ("next", "back"):
        on_key(1 if key == "next" else -1)
        st.rerun()
    elif key == "play":
        st.session_state["play"] = not st.session_state.get("play", False)
    return True


def highlight(key: str) -> None:
    """Outline the panel a lesson step talks about (its element key), in the colour of the guess marks."""
    if key:
        safe = "".join(c for c in key if c.isalnum() or c in "-_")
        st.html(f"<style>.st-key-{safe} {{ outline: 4px solid #E69F00; outline-offset: 6px; border-radius: 4px; }}</style>")
