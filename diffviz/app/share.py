"""The "Copy link" button: puts the current permalink (the address bar, which holds the whole view) on
the clipboard, the teacher's way to share a view. A tiny components-v2 element: it runs in the page
itself (no iframe), so ``location.href`` is the app's own address."""

from __future__ import annotations

import streamlit as st

_HTML = """<button type="button" class="copy-link" aria-live="polite">Copy link to this view</button>"""
_CSS = """
.copy-link { font: inherit; font-size: 0.95rem; padding: 0.35rem 0.8rem; border-radius: 0.5rem; cursor: pointer;
             border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.3)); background: transparent;
             color: var(--st-text-color, inherit); width: 100%; text-align: left; }
.copy-link:hover, .copy-link:focus-visible { border-color: var(--st-primary-color); color: var(--st-primary-color); }
"""
_JS = """
export default function (component) {
    const button = component.parentElement.querySelector("button.copy-link");
    const label = button.textContent;
    const done = (text) => { button.textContent = text; setTimeout(() => { button.textContent = label; }, 2500); };
    button.onclick = async () => {
        const url = window.location.href;
        try {
            await navigator.clipboard.writeText(url);
            done("✓ Link copied");
        } catch (e) {                       // no clipboard permission: show the link to copy by hand
            window.prompt("Copy this link:", url);
        }
        component.setTriggerValue("copied", url);
    };
}
"""

_component = None


def copy_link_button(where=None) -> None:
    """Draw the "Copy link" button (in ``where``, default the sidebar)."""
    global _component
    if _component is None:
        _component = st.components.v2.component("diffviz_copy_link", html=_HTML, css=_CSS, js=_JS)
    with where if where is not None else st.sidebar:
        _component(key="copy_link")
