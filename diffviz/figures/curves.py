"""Curves and bars: schedules over t, error curves, per-level statistics over a run, parameter counts.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from diffviz.figures.palette import (
    DIVERGING,
    NEUTRAL,
    OUTLINE,
    SCHEDULE_COLOURS,
    SERIES,
    TOLD_T,
    TRUE_T,
    part_colour,
)
from diffviz.figures.style import FONT_SIZE, _finish, _style, _vline

# ---------------------------------------------------------------- plotly: curves

def schedule_figure(t: int, schedules=("linear", "cosine"), trained: str | None = "linear", T: int = 1000) -> go.Figure:
    """β_t, ᾱ_t and SNR_t = ᾱ_t / (1 − ᾱ_t) (log scale) against t, for each schedule; t marked."""
    from diffviz.diffusion.schedulers import NoiseSchedule
    fig = make_subplots(1, 3, subplot_titles=("β_t: noise added at step t", "ᾱ_t: signal kept in x_t",
                                              "SNR_t = ᾱ_t / (1 − ᾱ_t)"), horizontal_spacing=0.08)
    ts = np.arange(T)
    for name in schedules:
        sch = NoiseSchedule(name, T)
        curves = (sch.betas.numpy(), sch.alphas_cumprod.numpy(), sch.snr().numpy())
        label = name + (" (this model)" if name == trained else "")
        colour = SCHEDULE_COLOURS.get(name)
        for j, y in enumerate(curves):
            fig.add_trace(go.Scatter(x=ts, y=y, mode="lines", name=label, legendgroup=name, showlegend=j == 0,
                                     line=dict(color=colour, width=3, dash=None if name == trained else "dash"),
                                     hovertemplate=f"{name}: t %{{x}}<br>%{{y:.4g}}<extra></extra>"), 1, j + 1)
            fig.add_trace(go.Scatter(x=[t], y=[float(y[t])], mode="markers", showlegend=False, legendgroup=name,
                                     marker=dict(color=colour, size=13, line=dict(width=2, color=OUTLINE)),
                                     hovertemplate=f"{name} at t = {t}: %{{y:.4g}}<extra></extra>"), 1, j + 1)
    for j in range(3):
        fig.add_vline(x=t, line=dict(color=NEUTRAL, width=2, dash="dot"), row=1, col=j + 1)
        fig.update_xaxes(title_text="t", range=[0, T - 1], row=1, col=j + 1)
    fig.update_yaxes(title_text="β_t (log scale)", type="log", exponentformat="power", dtick=1, row=1, col=1)
    fig.update_yaxes(title_text="ᾱ_t", range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(title_text="SNR (log scale)", type="log", exponentformat="power", dtick=2, row=1, col=3)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.14, x=0))
    fig.update_annotations(font_size=FONT_SIZE)
    return _style(fig, 400)


def error_curve_figure(ts, mse, t: int, baseline: float | None = 1.0) -> go.Figure:
    """MSE(ε̂, ε) against t (one point per noise level), the current t marked."""
    ts, mse = np.asarray(ts), np.asarray(mse, dtype=np.float64)
    fig = go.Figure(go.Scatter(x=ts, y=mse, mode="lines+markers", name="MSE(ε̂, ε)",
                               line=dict(color=SERIES[0], width=3), marker=dict(size=7),
                               hovertemplate="t %{x}<br>MSE %{y:.4f}<extra></extra>"))
    i = int(np.argmin(np.abs(ts - t)))
    fig.add_trace(go.Scatter(x=[ts[i]], y=[mse[i]], mode="markers", name=f"current t = {int(ts[i])}",
                             marker=dict(color=TOLD_T, size=16, line=dict(width=2, color=OUTLINE)),
                             hovertemplate="t %{x}<br>MSE %{y:.4f}<extra></extra>"))
    fig.add_vline(x=int(ts[i]), line=dict(color=NEUTRAL, width=2, dash="dot"))
    if baseline is not None:
        fig.add_hline(y=baseline, line=dict(color=NEUTRAL, width=2, dash="dash"))
        fig.add_annotation(x=0, y=np.log10(baseline), xanchor="left", yanchor="bottom", showarrow=False,
                           text="guessing ε̂ = 0 (MSE ≈ 1)", font=dict(size=14, color=NEUTRAL))   # log axis: log10 y
    fig.update_xaxes(title_text="t (noise level)", range=[-10, 1010])
    top = max(float(mse.max()), baseline or 0.0) * 1.6
    fig.update_yaxes(title_text="mean squared error (log scale)", type="log", exponentformat="power", dtick=1,
                     range=[np.log10(max(float(mse.min()), 1e-6) / 1.6), np.log10(top)])
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return _style(fig, 380)


def parameter_figure(counts: dict) -> go.Figure:
    """Trainable parameters per part of the U-Net, as horizontal bars (data order top to bottom)."""
    names, values = list(counts), [int(v) for v in counts.values()]
    total = max(sum(values), 1)
    colours = [part_colour(n) for n in names]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:,} ({100 * v / total:.1f}%)" for v in values], textposition="outside",
                           cliponaxis=False, hovertemplate="%{y}: %{x:,} parameters<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text=None)
    fig.update_xaxes(title_text="trainable parameters", range=[0, max(values) * 1.35 if values else 1])
    return _style(fig, 60 + 34 * len(names))


# ---------------------------------------------------------------- curves

T_AXIS = "timestep t  (sampling runs left to right: 999 → 0)"


def lines_vs_t(ts, series: dict, ytitle: str, current_t: int | None = None, title: str | None = None,
               dashed: set | None = None, height: int = 360, xtitle: str = T_AXIS, percent: bool = False,
               reverse: bool = True, colours: dict | None = None) -> go.Figure:
    """One line per series over the timesteps ``ts``; a dotted vertical line marks the current step's t.

    colours: series name -> colour (parts of the U-Net: `palette.part_colour`); others cycle `SERIES`.
    """
    ts = np.asarray(ts)
    colours = colours or {}
    data = [dict(type="scatter", x=ts, y=np.asarray(y, dtype=np.float64), name=name, mode="lines",
                 line=dict(color=colours.get(name, SERIES[i % len(SERIES)]), width=3,
                           dash="dash" if dashed and name in dashed else "solid"))
            for i, (name, y) in enumerate(series.items())]
    shapes, notes = [], []
    if current_t is not None:
        sh, no = _vline(int(current_t), f"t = {int(current_t)}")
        shapes.append(sh), notes.append(no)
    rows = -(-len(series) // 4)
    layout = dict(xaxis=dict(title=dict(text=xtitle), autorange="reversed" if reverse else True),
                  yaxis=dict(title=dict(text=ytitle), rangemode="tozero", tickformat=".0%" if percent else None),
                  legend=dict(orientation="h", yanchor="top", y=-0.3, x=0), hovermode="x unified",
                  shapes=shapes, annotations=notes)
    fig = go.Figure(data=data, layout=layout)
    return _finish(fig, title, height + 26 * rows, bottom=40 + 26 * rows)


def grouped_bars(categories: list[str], groups: dict, ytitle: str, xtitle: str, title: str | None = None,
                 height: int = 340, percent: bool = False, colours: dict | None = None) -> go.Figure:
    """Bars per category, one colour per group (e.g. skip vs backbone per decoder level); ``colours``:
    group name -> colour (default: the `SERIES` cycle)."""
    colours = colours or {}
    data = []
    for i, (name, vals) in enumerate(groups.items()):
        vals = np.asarray(vals, dtype=np.float64)
        data.append(dict(type="bar", x=list(categories), y=vals, name=name,
                         marker=dict(color=colours.get(name, SERIES[i % len(SERIES)])),
                         text=[f"{v:.0%}" if percent else f"{v:.3g}" for v in vals], textposition="outside"))
    yaxis = dict(title=dict(text=ytitle), rangemode="tozero", tickformat=".0%" if percent else None)
    if percent:
        top = max([float(np.max(v)) for v in groups.values()] + [0.0])
        yaxis["range"] = [0, min(1.05, top * 1.25 + 0.02)]
    fig = go.Figure(data=data, layout=dict(barmode="group", yaxis=yaxis,
                                           xaxis=dict(type="category", title=dict(text=xtitle)),
                                           legend=dict(orientation="h", yanchor="top", y=-0.15, x=0)))
    return _finish(fig, title, height, bottom=50)


def energy_ranking(energy, channels, title: str | None = None, mass: float = 0.9, height: int = 320,
                   colour: str = SERIES[0]) -> go.Figure:
    """Each channel's share of a level's energy, strongest first (bars, in the level's ``colour``), and the
    running total (line)."""
    e = np.asarray(energy, np.float64)
    share = e / e.sum() if e.sum() > 0 else np.zeros_like(e)
    cum = np.cumsum(share)
    rank = np.arange(1, len(e) + 1)
    k = int(np.searchsorted(cum, mass - 1e-9) + 1)
    sh, no = _vline(k, f"{k} channels: {mass:.0%}", anchor="left")
    fig = go.Figure(
        data=[dict(type="bar", x=rank, y=share, customdata=np.asarray(channels), name="share of energy",
                   marker=dict(color=colour),
                   hovertemplate="rank %{x}: channel %{customdata}<br>%{y:.1%} of the energy<extra></extra>"),
              dict(type="scatter", x=rank, y=cum, yaxis="y2", name="running total", mode="lines",
                   line=dict(color=NEUTRAL, width=3), hovertemplate="top %{x}: %{y:.0%}<extra></extra>")],
        layout=dict(xaxis=dict(title=dict(text="channels, strongest first")),
                    yaxis=dict(title=dict(text="share of energy"), tickformat=".0%", rangemode="tozero"),
                    yaxis2=dict(title=dict(text="running total"), tickformat=".0%", range=[0, 1.05], dtick=0.25,
                                overlaying="y", side="right", showgrid=False),
                    legend=dict(orientation="h", yanchor="top", y=-0.38, x=0), bargap=0.1,
                    shapes=[sh], annotations=[no]))
    return _finish(fig, title, height + 30, right=60, bottom=90)


def heat_over_t(values, ts, title: str | None = None, ytitle: str = "channel", lim: float | None = None,
                height: int = 360, colorbar: str = "value", colorscale: str = DIVERGING) -> go.Figure:
    """A (T, C) array as a channel × t heat map, diverging and symmetric around 0."""
    v = np.asarray(values, np.float32)
    lim = lim or float(np.abs(v).max()) or 1.0
    fig = go.Figure(
        data=[dict(type="heatmap", z=v.T, x=np.asarray(ts), colorscale=colorscale, zmin=-lim, zmax=lim, zsmooth=False,
                   colorbar=dict(title=dict(text=colorbar, side="right"), thickness=14),
                   hovertemplate="t %{x}<br>" + ytitle + " %{y}<br>%{z:.3f}<extra></extra>")],
        layout=dict(xaxis=dict(title=dict(text="timestep t")),
                    yaxis=dict(title=dict(text=ytitle), autorange="reversed")))
    return _finish(fig, title, height)


def error_curve(told, err, true_t: int, wrong_t: int | None = None, title: str | None = None,
                ytitle: str = "RMS error of x̂0", height: int = 360) -> go.Figure:
    """Error of x̂0 against the t the model was told; the true t and the chosen wrong t marked."""
    shapes, notes = [], []
    sh, no = _vline(int(true_t), f"true t = {int(true_t)}", TRUE_T, "solid", 3, "right")
    shapes.append(sh), notes.append(no)
    if wrong_t is not None and int(wrong_t) != int(true_t):
        sh, no = _vline(int(wrong_t), f"told t = {int(wrong_t)}", TOLD_T, "dash", 3, "left")
        shapes.append(sh), notes.append(no)
    fig = go.Figure(
        data=[dict(type="scatter", x=np.asarray(told), y=np.asarray(err), mode="lines+markers", name="x̂0 error",
                   line=dict(color=SERIES[0], width=3), marker=dict(size=6),
                   hovertemplate="told t %{x}<br>error %{y:.3f}<extra></extra>")],
        layout=dict(xaxis=dict(title=dict(text="the t the model is told"), range=[-10, 1009]),
                    yaxis=dict(title=dict(text=ytitle), rangemode="tozero"), shapes=shapes, annotations=notes))
    return _finish(fig, title, height)
