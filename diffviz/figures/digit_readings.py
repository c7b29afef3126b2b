"""Figures for "bring your own digit": the inverted noise, the zero-shot reading, the bottleneck map.

Plotly figures, no Streamlit; arrays in (numpy), figures out.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from diffviz.figures import palette
from diffviz.figures.palette import COLOURS
from diffviz.figures.style import _finish, _vline

# Ten labels: six Okabe–Ito colours (their yellow is kept for the placed digit), then black, grey, a
# wine red and a brown; each cluster is also named by its digit, so no reading depends on colour alone.
LABEL_COLOURS = palette.LABEL_COLOURS


def noise_histogram(latents: dict, bins: int = 60, title: str | None = None, height: int = 340) -> go.Figure:
    """Histograms (as densities) of inverted noise arrays {name: array}, against the N(0, 1) density."""
    fig = go.Figure()
    edges = np.linspace(-4.5, 4.5, bins + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    for i, (name, x) in enumerate(latents.items()):
        x = np.asarray(x, np.float64).ravel()
        dens, _ = np.histogram(np.clip(x, -4.5, 4.5), bins=edges, density=True)
        fig.add_trace(go.Bar(x=mid, y=dens, name=f"{name} (std {x.std():.2f})", opacity=0.55,
                             marker_color=COLOURS[i % len(COLOURS)], width=edges[1] - edges[0]))
    z = np.linspace(-4.5, 4.5, 200)
    fig.add_trace(go.Scatter(x=z, y=np.exp(-z ** 2 / 2) / np.sqrt(2 * np.pi), name="N(0, 1)",
                             line=dict(color=palette.OUTLINE, width=2, dash="dash")))
    fig.update_layout(barmode="overlay", xaxis_title="value of x_T", yaxis_title="density",
                      legend=dict(orientation="h", y=-0.25))
    return _finish(fig, title, height, bottom=70)


def label_errors(errors, reading: int, judge: int | None = None, asked=None, title: str | None = None,
                 height: int = 340) -> go.Figure:
    """One bar per label: the U-Net's mean noise-prediction error told that label (lower = more likely).

    errors: (K,) means of the error relative to each level's average over the labels (1 = average); asked: (K,) bool, False for labels dropped after the first round (drawn pale).
    """
    e = np.asarray(errors, np.float64)
    asked = np.ones(len(e), bool) if asked is None else np.asarray(asked, bool)
    colour = [COLOURS[5] if k == reading else (COLOURS[0] if asked[k] else palette.NOT_ASKED) for k in range(len(e))]
    text = ["reading" if k == reading else ("" if asked[k] else "dropped") for k in range(len(e))]
    fig = go.Figure(go.Bar(x=[str(k) for k in range(len(e))], y=e, marker_color=colour, text=text,
                           textposition="outside", hovertemplate="label %{x}<br>relative error %{y:.4f}<extra></extra>"))
    lo, hi = float(np.nanmin(e)), float(np.nanmax(e))
    fig.update_layout(xaxis_title="label the U-Net is told", xaxis_type="category",     # every label ticked
                      yaxis_title="error ÷ the level's average",
                      yaxis_range=[max(0.0, lo - 0.35 * (hi - lo + 1e-9)), hi + 0.25 * (hi - lo + 1e-9)])
    if judge is not None:
        fig.add_annotation(text=f"judge reads {judge}", x=str(judge), y=1.0, yref="paper", showarrow=False,
                           yanchor="bottom", font=dict(color=COLOURS[2], size=14))
    return _finish(fig, title, height)


def deciding_levels(ts, margin, title: str | None = None, height: int = 300) -> go.Figure:
    """Per noise level t: runner-up's error − reading's error, mean over the level's draws (> 0: this level votes for the reading)."""
    m = np.asarray(margin, np.float64)
    colour = [COLOURS[2] if v > 0 else COLOURS[5] for v in np.nan_to_num(m)]
    fig = go.Figure(go.Bar(x=np.asarray(ts), y=m, marker_color=colour,
                           hovertemplate="t %{x}<br>margin %{y:.4f}<extra></extra>"))
    fig.update_layout(xaxis_title="noise level t", yaxis_title="runner-up − reading")
    return _finish(fig, title, height)


def bottleneck_scatter(points, labels, placed=None, placed_name: str = "your digit", title: str | None = None,
                       height: int = 520) -> go.Figure:
    """The digits' 2-D bottleneck map coloured by label, each cluster named at its centre, ``placed`` as a star."""
    p, y = np.asarray(points, np.float64), np.asarray(labels)
    fig = go.Figure()
    for k in np.unique(y):
        pk = p[y == k]
        c = LABEL_COLOURS[int(k) % len(LABEL_COLOURS)]
        fig.add_trace(go.Scatter(x=pk[:, 0], y=pk[:, 1], mode="markers", name=str(k),
                                 marker=dict(color=c, size=7, opacity=0.7),
                                 hovertemplate=f"digit {k}<extra></extra>"))
        cx, cy = np.median(pk, axis=0)
        fig.add_annotation(x=cx, y=cy, text=f"<b>{k}</b>", showarrow=False, font=dict(size=20, color=c),
                           bgcolor=palette.LEGEND_BACKGROUND)
    if placed is not None:
        q = np.asarray(placed, np.float64).reshape(-1, 2)
        fig.add_trace(go.Scatter(x=q[:, 0], y=q[:, 1], mode="markers", name=placed_name,
                                 marker=dict(symbol="star", size=22, color=palette.HIGHLIGHT,
                                             line=dict(color=palette.OUTLINE, width=2)),
                                 hovertemplate=f"{placed_name}<extra></extra>"))
    fig.update_layout(xaxis_title="1st principal component", yaxis_title="2nd principal component",
                      legend=dict(title="label"))
    return _finish(fig, title, height)


def separation_curve(ts, accuracy, accuracy_2d=None, t: int | None = None, title: str | None = None,
                     height: int = 300) -> go.Figure:
    """Nearest-neighbour label accuracy in the bottleneck (and in the 2-D map) against t."""
    fig = go.Figure(go.Scatter(x=np.asarray(ts), y=np.asarray(accuracy) * 100, mode="lines+markers",
                               name="in the bottleneck", line=dict(color=COLOURS[3], width=3)))
    if accuracy_2d is not None:
        fig.add_trace(go.Scatter(x=np.asarray(ts), y=np.asarray(accuracy_2d) * 100, mode="lines+markers",
                                 name="in the 2-D map", line=dict(color=COLOURS[0], width=2, dash="dot")))
    fig.add_hline(y=10, line=dict(color=palette.REFERENCE, dash="dot"), annotation_text="chance (10%)")
    if t is not None:
        shape, note = _vline(t, f"t = {t}")
        fig.add_shape(shape)
        fig.add_annotation(note)
    fig.update_layout(xaxis_title="noise level t", yaxis_title="same-label neighbour (%)",
                      yaxis_range=[0, 105], legend=dict(orientation="h", y=-0.3))
    return _finish(fig, title, height, bottom=70)
