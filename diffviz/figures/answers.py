"""A class's answers as figures: the spread of choices or numbers, and clicks drawn on the image.

Plain data in (counts, points, the measured truth, one student's own answer), plotly figures out.
The truth is marked in the Okabe–Ito green, the viewer's own answer in orange, so both read for
every common colour-vision deficiency; each is also named in the legend or on the axis.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from diffviz.figures import palette
from diffviz.figures.maps import image_figure
from diffviz.figures.palette import COLOURS

TRUTH, MINE, CLASS = COLOURS[2], COLOURS[1], COLOURS[0]


def spread_figure(counts: dict, truth: str | None = None, mine: str | None = None, title: str | None = None,
                  height: int = 300) -> go.Figure:
    """Bars: how many answered each value (``counts``: answer text -> count, in display order).

    The bar of the measured truth is green, the viewer's own answer has an orange outline.
    """
    keys = list(counts)
    for extra in (truth, mine):                      # the truth or one's answer may be a value nobody chose
        if extra is not None and extra not in counts:
            keys.append(extra)
    if keys and all(_is_number(k) for k in keys):
        keys.sort(key=float)
    ys = [counts.get(k, 0) for k in keys]
    colours = [TRUTH if k == truth else CLASS for k in keys]
    lines = [4 if k == mine else 0 for k in keys]
    names = [k + (" ✓ truth" if k == truth else "") + (" · you" if k == mine else "") for k in keys]
    fig = go.Figure(go.Bar(x=names, y=ys, marker={"color": colours, "line": {"color": MINE, "width": lines}},
                           text=ys, textposition="outside",
                           hovertemplate="%{x}: %{y} answers<extra></extra>"))
    top = max(ys) if ys else 0
    fig.update_layout(height=height, title=title, margin={"l": 40, "r": 10, "t": 40 if title else 10, "b": 40},
                      yaxis={"title": "answers", "range": [0, top * 1.25 + 1], "dtick": max(1, top // 5)},
                      xaxis={"type": "category", "title": None}, showlegend=False, bargap=0.25)
    return fig


def clicks_figure(image, points=(), truth: tuple | None = None, mine: tuple | None = None,
                  title: str | None = None, height: int = 420, clickable: bool = False,
                  box: tuple | None = None) -> go.Figure:
    """The (C, H, W) image with the class's clicks as blue dots, the truth as a green ✕ and the viewer's
    own click as an orange ring. ``clickable``: an invisible dot on every pixel, so a click selects one.
    ``box``: (x0, y0, x1, y1) in pixels, outlined (e.g. an attention query's cell)."""
    x = np.asarray(image, dtype=np.float32)
    fig = image_figure(x, title, height=height, colorbar=False)
    H, W = x.shape[-2:]
    if box is not None:
        fig.add_shape(type="rect", x0=box[0], y0=box[1], x1=box[2], y1=box[3], line={"color": palette.QUERY, "width": 3})
    if clickable:
        ys, xs = np.mgrid[0:H, 0:W]
        fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", name="pixels",
                                 marker={"size": max(4, int(height / H * 0.9)), "color": palette.ALMOST_CLEAR,
                                         "symbol": "square"},
                                 hovertemplate="x %{x}, y %{y}: click to answer<extra></extra>", showlegend=False))
    return marks(fig, points, truth, mine)


def marks(fig: go.Figure, points=(), truth: tuple | None = None, mine: tuple | None = None) -> go.Figure:
    """Add the class's clicks (blue dots), the viewer's own (an orange ring) and the truth (a green ✕)."""
    if len(points):
        p = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name=f"the class ({len(p)})",
                                 marker={"size": 11, "color": CLASS, "opacity": 0.75,
                                         "line": {"color": "white", "width": 1}},
                                 hovertemplate="a click at x %{x:.1f}, y %{y:.1f}<extra></extra>"))
    if mine is not None:
        fig.add_trace(go.Scatter(x=[mine[0]], y=[mine[1]], mode="markers", name="you",
                                 marker={"size": 20, "color": palette.CLEAR, "line": {"color": MINE, "width": 4}},
                                 hovertemplate="your click: x %{x:.1f}, y %{y:.1f}<extra></extra>"))
    if truth is not None:
        fig.add_trace(go.Scatter(x=[truth[0]], y=[truth[1]], mode="markers", name="truth",
                                 marker={"size": 22, "color": TRUTH, "symbol": "x-thin",
                                         "line": {"color": TRUTH, "width": 5}},
                                 hovertemplate="measured: x %{x:.1f}, y %{y:.1f}<extra></extra>"))
    fig.update_layout(showlegend=bool(len(points) or mine is not None or truth is not None),
                      legend={"orientation": "h", "y": -0.02, "yanchor": "top"})
    return fig


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
