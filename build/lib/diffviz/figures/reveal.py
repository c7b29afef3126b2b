"""The reveal of a lesson question: the measured series, the truth and the learner's guess side by side."""

from __future__ import annotations

import plotly.graph_objects as go

from diffviz.figures.palette import COLOURS
from diffviz.figures.style import _finish, _vline

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
