"""Putting figures on the page: plotly charts and images (with their text alternatives), shared across sessions.
"""

from __future__ import annotations

import streamlit as st

from diffviz.app.cache import BoundedCache
from diffviz.figures import numbers as numbers_mod
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
        return frozen(fig)
    fig = FIGURES.get_or_compute(("chart", colour) + tuple(cache_key), themed)
    text = FIGURES.get_or_compute(("numbers",) + tuple(cache_key), lambda: numbers_mod.figure_text(fig))
    chart(fig, key=key, where=where, themed=True, numbers=text, **kw)


def shared_plot(cache_key: tuple, build, key: str | None = None, where=None) -> None:
    """`plot` of the figure ``build()`` makes, built once per ``cache_key`` and shared by all sessions."""
    fig = FIGURES.get_or_compute(("plot",) + tuple(cache_key), lambda: frozen(build()))
    text = FIGURES.get_or_compute(("numbers",) + tuple(cache_key), lambda: numbers_mod.figure_text(fig))
    plot(fig, key=key, where=where, numbers=text)


def frozen(fig):
    """A shared figure (never changed once built) whose dict is made once, not once per session.

    ``st.plotly_chart`` asks the figure for its dict (``to_dict``: a deep copy of every trace and the
    layout, arrays encoded) on every page run: 2-10 ms a chart, most of a cached page's own work.
    Nothing changes that dict (Streamlit only encodes it as JSON), so every session gets the same one.
    """
    d = fig.to_dict()
    fig.to_dict = lambda: d                    # plotly allows it: an existing attribute of the figure
    return fig


def numbers_expander(fig_or_text, where=None, label: str = "The numbers", key: str | None = None) -> None:
    """The text alternative of the figure just above: an expander with the values a sighted reader reads
    off it (``fig_or_text``: the figure itself, a {column: values} table, or Markdown). With the chart's
    ``key`` it sits in a container keyed ``<key>-numbers`` (a lesson hides both until its reveal)."""
    if isinstance(fig_or_text, dict):
        text = numbers_mod.columns_text(fig_or_text)
    elif isinstance(fig_or_text, str):
        text = fig_or_text
    else:
        text = numbers_mod.figure_text(fig_or_text)
    where = (where or st).container(key=f"{key}-numbers") if key else (where or st)
    with where.expander(label, icon=":material/table:"):
        st.markdown(text or "This figure draws no numbers: the text beside it says what it shows.")


def chart(fig, key: str | None = None, where=None, themed: bool = False, numbers=None, **kw):
    """Show a plotly figure in the app's theme, without the toolbar, with full-contrast text, and its
    numbers in an expander below (``numbers``: a table or Markdown to show instead of the figure's values).

    Streamlit's plotly theme draws text in a faded grey; when the browser has told us whether the
    theme is light or dark we use the theme's own text colour instead (a projector needs contrast).
    ``themed``: the figure has it already (a shared figure, never changed once built). Returns what
    ``st.plotly_chart`` returns (a selection event when ``on_select`` is given).
    """
    colour = _colour()
    if colour and not themed:
        fig.update_layout(font_color=colour)
    config = {"displayModeBar": False, **kw.pop("config", {})}
    out = (where or st).plotly_chart(fig, key=key, config=config, **kw)
    numbers_expander(fig if numbers is None else numbers, where, key=key)
    return out


def image(x, caption: str | None = None, width: int = 224, where=None, alt: str | None = None) -> None:
    """Show a (C, H, W) image in [-1, 1], scaled up with nearest neighbours (never blurred), with a text
    alternative (``alt``, else the caption)."""
    (where or st).image(upscale(x, width), caption=caption, width=width, alt=alt or caption or "an image")


def plot(fig, key: str | None = None, where=None, numbers=None) -> None:
    """Show a plotly figure in Streamlit's light/dark theme, without plotly's logo: at full width, or at
    its own pixel width when it has one (rows of images keep their panels together and square); its
    numbers in an expander below (``numbers`` as in `chart`)."""
    fixed = fig.layout.width is not None
    (where or st).plotly_chart(fig, width="content" if fixed else "stretch", key=key,
                               config={"displaylogo": False, "responsive": not fixed})
    numbers_expander(fig if numbers is None else numbers, where, key=key)
