"""The reveal of a lesson question: the measured series (or, for a click, the measured map on its image), the
truth and the learner's guess side by side."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from diffviz.figures.answers import marks
from diffviz.figures.maps import image_figure
from diffviz.figures.palette import COLOURS, HEAT, QUERY
from diffviz.figures.style import COLORBAR, _finish, _vline

TRUTH, GUESS = COLOURS[2], COLOURS[1]                  # Okabe–Ito green (measured), orange (your guess)


def reveal_figure(series: dict, truth, guess=None, numeric: bool = True, height: int = 300) -> go.Figure:
    """A line (numeric x) or bars (named x) of ``series`` {"x", "y", "xtitle", "ytitle"}, with the
    measured ``truth`` and the learner's ``guess`` marked (a vertical line each, or a bar's colour)."""
    x, y = list(series["x"]), list(series["y"])
    fig = go.Figure()
    if numeric:
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", line={"color": COLOURS[0], "width": 3},
                                 name=series.get("ytitle", ""), showlegend=False))
        shapes, notes = [], []
        for value, text, colour, dash, anchor in ((truth, "measured", TRUTH, "solid", "left"),
                                                  (guess, "your guess", GUESS, "dash", "right")):
            if isinstance(value, (int, float)):
                s, n = _vline(float(value), f"{text}: {value:g}", colour, dash, 4, anchor)
                n["yshift"] = 22 if text == "your guess" else 0           # the two labels never overlap
                shapes.append(s)
                notes.append(n)
        fig.update_layout(shapes=shapes, annotations=notes)
    else:
        colours = [TRUTH if str(v) == str(truth) else COLOURS[0] for v in x]
        widths = [5 if guess is not None and str(v) == str(guess) else 0 for v in x]
        fig.add_trace(go.Bar(x=[str(v) for v in x], y=y, marker={"color": colours, "line": {"color": GUESS, "width": widths}},
                             showlegend=False))
    fig.update_xaxes(title_text=series.get("xtitle", ""))
    fig.update_yaxes(title_text=series.get("ytitle", ""))
    title = "Measured on your settings" + ("" if numeric else " (green: the answer; orange outline: your guess)")
    fig = _finish(fig, title, height)
    fig.update_layout(margin={"t": 100})
    return fig


def click_figure(image, weights, hot, truth: tuple, guess: tuple | None = None, box: tuple | None = None,
                 level: float = 0.5, title: str | None = None, height: int = 440) -> go.Figure:
    """A click question's reveal: the measured map ``weights`` (h, w) over the (C, H, W) ``image``, the hot
    region ``hot`` (h, w bool, cells with ≥ ``level`` × the peak) outlined, the measured peak ``truth`` (a green ✕) and the learner's click
    ``guess`` (an orange ring), in image pixels."""
    w = np.asarray(weights, np.float64)
    h_, w_ = w.shape
    H, W = np.asarray(image).shape[-2:]
    sy, sx = H / h_, W / w_
    fig = image_figure(np.asarray(image, np.float32), title, height=height, colorbar=False)
    fig.update_traces(name="the image", selector=0)
    fig.add_trace(go.Heatmap(z=w, x0=(sx - 1) / 2, dx=sx, y0=(sy - 1) / 2, dy=sy, colorscale=HEAT, zmin=0,
                             zmax=float(w.max()) or 1.0, zsmooth=False, name="share of the weight",
                             colorbar={**COLORBAR, "title": {"text": "share of the weight", "side": "top"}},
                             hovertemplate="x %{x:.0f}, y %{y:.0f}: %{z:.1%} of the weight<extra></extra>"))
    xs, ys = [], []
    hot = np.asarray(hot, bool)
    for r, c in zip(*np.nonzero(hot)):                 # the region's border: cell sides facing a cold cell
        x0, y0, x1, y1 = c * sx - 0.5, r * sy - 0.5, (c + 1) * sx - 0.5, (r + 1) * sy - 0.5
        for (dr, dc), seg in (((-1, 0), ((x0, y0), (x1, y0))), ((1, 0), ((x0, y1), (x1, y1))),
                              ((0, -1), ((x0, y0), (x0, y1))), ((0, 1), ((x1, y0), (x1, y1)))):
            rr, cc = r + dr, c + dc
            if not (0 <= rr < h_ and 0 <= cc < w_ and hot[rr, cc]):
                xs += [seg[0][0], seg[1][0], None]
                ys += [seg[0][1], seg[1][1], None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": TRUTH, "width": 3}, hoverinfo="skip",
                             name=f"cells with ≥ {level:.0%} of the peak"))
    if box is not None:
        fig.add_shape(type="rect", x0=box[0], y0=box[1], x1=box[2], y1=box[3], line={"color": QUERY, "width": 3})
    return marks(fig, truth=truth, mine=guess)
