"""Putting figures on the page: plotly charts and images (with their text alternatives), shared across sessions.
"""

from __future__ import annotations

import streamlit as st

from diffviz.app.cache import BoundedCache
from diffviz.figures.images import upscale
from diffviz.figures.palette import THEME_TEXT

# Figures shared by every session: thirty students on one link see the same figure, built once.
# A cached figure is never changed after it is built (the theme's text colour is part of its key).
FIGURES = BoundedCache(max_entries=600, max_bytes=96 * 2**20, size=lambda fig: _FIGURE_BYTES)
_FIGURE_BYTES = 48 * 2**10                     # a rough size: a heat map or a grid of small maps

# ---------------------------------------------------------------- figures and images

_TEXT = THEME_TEXT


def _colour() -> str | None:
    return _TEXT.get(getattr(st.context.theme, "type", None) or "")


def shared_chart(cache_key: tuple, build, key: str | None = None, where=None, **kw) -> None:
    """`chart` of the figure ``build()`` makes, built once per ``cache_key`` and theme for all sessions.

    ``cache_key`` must name everything the figure shows (run, step, panel, scale), in plain values.
    """
    colour = _colour()

    def themed():
        fig = build()
        if colour:
            fig.update_layout(font_color=colour)
        return fig
    chart(FIGURES.get_or_compute(("chart", colour) + tuple(cache_key), themed), key=key, where=where,
          themed=True, **kw)


def shared_plot(cache_key: tuple, build, key: str | None = None, where=None) -> None:
    """`plot` of the figure ``build()`` makes, built once per ``cache_key`` and shared by all sessions."""
    plot(FIGURES.get_or_compute(("plot",) + tuple(cache_key), build), key=key, where=where)


def chart(fig, key: str | None = None, where=None, themed: bool = False, **kw) -> None:
    """Show a plotly figure in the app's theme, without the toolbar, with full-contrast text.

    Streamlit's plotly theme draws text in a faded grey; when the browser has told us whether the
    theme is light or dark we use the theme's own text colour instead (a projector needs contrast).
    ``themed``: the figure has it already (a shared figure, never changed once built).
    """
    colour = _colour()
    if colour and not themed:
        fig.update_layout(font_color=colour)
    config = {"displayModeBar": False, **kw.pop("config", {})}
    (where or st).plotly_chart(fig, key=key, config=config, **kw)


def image(x, caption: str | None = None, width: int = 224, where=None, alt: str | None = None) -> None:
    """Show a (C, H, W) image in [-1, 1], scaled up with nearest neighbours (never blurred), with a text
    alternative (``alt``, else the caption)."""
    (where or st).image(upscale(x, width), caption=caption, width=width, alt=alt or caption or "an image")


def plot(fig, key: str | None = None, where=None) -> None:
    """Show a plotly figure in Streamlit's light/dark theme, without plotly's logo: at full width, or at
    its own pixel width when it has one (rows of images keep their panels together and square)."""
    fixed = fig.layout.width is not None
    (where or st).plotly_chart(fig, width="content" if fixed else "stretch", key=key,
                               config={"displaylogo": False, "responsive": not fixed})
