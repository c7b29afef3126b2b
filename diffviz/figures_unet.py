"""Plotly figures for the "Open the U-Net" pages (no Streamlit; unit-tested without a browser).

Conventions, so every page reads the same on a projector:
  * images (x_t, x̂0, x_0) are grey heat maps on a fixed [-1, 1] scale, one cell per pixel (never
    smoothed); RGB images are shown as they are;
  * signed tensors (activations, ε̂, FiLM) use the diverging "RdBu" map, reversed so red = positive,
    symmetric around 0; differences use "PuOr" (also colour-blind safe), symmetric too;
  * attention weights use a sequential, see-through map (viridis' colours) from 0 to the largest value;
  * the caller passes the colour limits, so one limit can be shared by every step of a run;
  * fonts are large and lines thick; colours come from the Okabe–Ito palette.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

SIGNED = "RdBu_r"
DIFF = "PuOr"
FONT = dict(size=15)
TITLE_FONT = dict(size=17)
# Okabe–Ito: distinguishable with every common colour-vision deficiency, on light and dark themes.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
GREYS = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]]
DIM_GREYS = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(150,150,150)"]]       # under an overlay: the heat stays visible
# Sequential, colour-blind safe (viridis' end points) and see-through where the weight is small.
HEAT = [[0.0, "rgba(68,1,84,0)"], [0.1, "rgba(68,1,84,0.12)"], [0.3, "rgba(59,82,139,0.3)"],
        [0.55, "rgba(33,145,140,0.55)"], [0.8, "rgba(94,201,98,0.8)"], [1.0, "rgba(253,231,37,0.95)"]]
TITLE_PX, GAP_PX, BAR_PX = 30, 18, 110            # pixels: a panel's title, between panels, a colour bar


def _finish(fig: go.Figure, title: str | None = None, height: int | None = None, right: int = 10,
            bottom: int = 10) -> go.Figure:
    """Fonts, margins, title and height in ONE layout update (every update is a validation pass)."""
    lay = dict(font=FONT, margin=dict(l=10, r=right, t=70 if title else 30, b=bottom))
    if title:
        lay["title"] = dict(text=title, font=TITLE_FONT, x=0, xanchor="left")
    if height:
        lay["height"] = height
    fig.update_layout(lay)
    return fig


_HIDE = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")


def _vline(x: float, text: str, colour: str = "#888", dash: str = "dot", width: int = 2,
           anchor: str = "center") -> tuple[dict, dict]:
    """A vertical line across the plot at data x, and its label above it: (shape, annotation)."""
    shape = dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                 line=dict(color=colour, width=width, dash=dash))
    note = dict(text=text, x=x, y=1, xref="x", yref="paper", yanchor="bottom", xanchor=anchor, showarrow=False,
                font=dict(size=14, color=colour if colour != "#888" else None))
    return shape, note


# ---------------------------------------------------------------- channel grids

def mosaic(maps: np.ndarray, ncol: int, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) maps -> one (rows·(H+pad)−pad, ncol·(W+pad)−pad) array with NaN gaps, and an
    index array of the same shape telling which map (−1 = gap) each cell belongs to."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    ncol = max(1, min(ncol, n))
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + pad) - pad, ncol * (w + pad) - pad), np.nan, np.float32)
    which = np.full(out.shape, -1, np.int32)
    for i in range(n):
        r, c = divmod(i, ncol)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = maps[i]
        which[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = i
    return out, which


def channel_grid(maps, channels, zmax: float, ncol: int = 8, title: str | None = None,
                 colorbar: str = "activation", width: int = 440) -> go.Figure:
    """Feature-map channels side by side on ONE diverging scale [−zmax, zmax], ``width`` pixels wide
    (plus the colour bar), every cell square.

    maps: (N, H, W) the channels to show, in order; channels: their channel numbers (for hover).
    """
    maps = np.asarray(maps, dtype=np.float32)
    z, which = mosaic(maps, ncol, pad=max(1, maps.shape[-1] // 7))
    chan = np.where(which >= 0, np.asarray(channels)[np.clip(which, 0, None)], -1)
    top = 70 if title else 10
    height = int(round(width * z.shape[0] / z.shape[1])) + top + 10
    fig = go.Figure(
        data=[dict(type="heatmap", z=z, customdata=chan, colorscale=SIGNED, zmin=-zmax, zmax=zmax, zsmooth=False,
                   hoverongaps=False, colorbar=dict(title=dict(text=colorbar, side="right"), thickness=14, xpad=6),
                   hovertemplate="channel %{customdata}<br>value %{z:.3f}<extra></extra>")],
        layout=dict(xaxis=dict(constrain="domain", range=[-0.5, z.shape[1] - 0.5], fixedrange=True, **_HIDE),
                    yaxis=dict(scaleanchor="x", scaleratio=1, constrain="domain", range=[z.shape[0] - 0.5, -0.5],
                               fixedrange=True, **_HIDE),
                    width=width + 10 + BAR_PX, autosize=False))
    return _finish(fig, title, height, right=BAR_PX)


# ---------------------------------------------------------------- panels side by side

@dataclass
class Panel:
    """One map in a row of maps. scale: "image" (grey, fixed [-1, 1]; RGB as it is), "signed" (RdBu ±lim)
    or "diff" (PuOr ±lim). Panels with the same scale share one colour scale and one colour bar."""

    title: str
    z: np.ndarray                 # (H, W) or (C, H, W): an image for "image", else averaged over C
    scale: str = "image"
    lim: float = 1.0


_SCALES = {"signed": SIGNED, "diff": DIFF}
_BAR_TITLE = {"signed": "value", "diff": "difference"}


def as_map(z) -> np.ndarray:
    """A 2-D float32 map from (H, W) or (C, H, W); several channels are averaged (e.g. an RGB difference)."""
    z = np.asarray(z, np.float32)
    return z.mean(axis=0) if z.ndim == 3 else z


def _image_trace(img: np.ndarray) -> dict:
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] == 3:                             # RGB: as it is
        rgb = np.clip((np.moveaxis(img, 0, -1) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        return dict(type="image", z=rgb, hovertemplate="(%{x}, %{y})<extra></extra>")
    g = np.clip(img[0] if img.ndim == 3 else img, -1, 1)
    return dict(type="heatmap", z=g, colorscale=GREYS, zmin=-1, zmax=1, showscale=False, zsmooth=False,
                hovertemplate="x %{x}, y %{y}<br>value %{z:.2f}<extra></extra>")


def _grid(n: int, ncol: int, titles, size: int, images: list, bars: set, title: bool) -> tuple[dict, list]:
    """A fixed-size figure of n square panels of ``size`` pixels in rows of ``ncol``, laid out in pixels
    (so panels sit next to each other, never stretched apart), as plain dicts: one validation pass.

    images: each panel's (H, W) (its axis ranges); bars: the columns with a colour bar on their right
    (room is left for it). Returns the layout (width, height, margins, xaxisN / yaxisN, panel titles)
    and each panel's paper domain (x0, x1, y0, y1).
    """
    nrow = -(-n // ncol)
    gaps = [BAR_PX if c in bars else GAP_PX for c in range(ncol - 1)]
    lefts = [sum(gaps[:c]) + c * size for c in range(ncol)]
    left, right, top, bottom = 10, (BAR_PX if ncol - 1 in bars else 10), (70 if title else 10), 10
    pw = ncol * size + sum(gaps)                                          # plot area, pixels
    ph = nrow * (size + TITLE_PX) + (nrow - 1) * GAP_PX
    layout = dict(width=pw + left + right, height=ph + top + bottom, autosize=False,
                  margin=dict(l=left, r=right, t=top, b=bottom))
    doms, notes = [], []
    hide = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", fixedrange=True)
    for i in range(n):
        r, c = divmod(i, ncol)
        H, W = images[i]
        x0 = lefts[c] / pw
        y1 = 1 - (r * (size + TITLE_PX + GAP_PX) + TITLE_PX) / ph
        x1, y0 = min(1.0, x0 + size / pw), max(0.0, y1 - size / ph)
        s = "" if i == 0 else str(i + 1)
        layout[f"xaxis{s}"] = dict(domain=[x0, x1], anchor=f"y{s}", range=[-0.5, W - 0.5], constrain="domain", **hide)
        layout[f"yaxis{s}"] = dict(domain=[y0, y1], anchor=f"x{s}", range=[H - 0.5, -0.5], scaleanchor=f"x{s}",
                                   scaleratio=1, constrain="domain", **hide)
        doms.append((x0, x1, y0, y1))
        if titles is not None:
            notes.append(dict(text=titles[i], x=(x0 + x1) / 2, y=y1, xref="paper", yref="paper", xanchor="center",
                              yanchor="bottom", showarrow=False, font=FONT))
    layout["annotations"] = notes
    return layout, doms


def _axes(i: int) -> dict:
    s = "" if i == 0 else str(i + 1)
    return dict(xaxis=f"x{s}", yaxis=f"y{s}")


def _titled(fig: go.Figure, title: str | None) -> go.Figure:
    fig.update_layout(font=FONT, **({"title": dict(text=title, font=TITLE_FONT, x=0, xanchor="left")} if title else {}))
    return fig


def panel_row(panels: list[Panel], title: str | None = None, size: int = 240, ncol: int | None = None) -> go.Figure:
    """Square maps of ``size`` pixels side by side (rows of ``ncol``); same-scale panels share one colour
    scale (the largest ``lim`` among them) and one colour bar, drawn right of the last such panel."""
    n = len(panels)
    ncol = ncol or n
    lims: dict = {}
    for p in panels:
        if p.scale != "image":
            lims[p.scale] = max(lims.get(p.scale, 0.0), float(p.lim))
    last = {p.scale: i for i, p in enumerate(panels)}
    bars = {last[k] % ncol for k in lims}
    images = [np.asarray(p.z).shape[-2:] for p in panels]
    layout, doms = _grid(n, ncol, [p.title for p in panels], size, images, bars, bool(title))
    data = []
    for i, p in enumerate(panels):
        if p.scale == "image":
            tr = _image_trace(p.z)
        else:
            lim = lims[p.scale] or 1.0
            x0, x1, y0, y1 = doms[i]
            tr = dict(type="heatmap", z=as_map(p.z), colorscale=_SCALES[p.scale], zsmooth=False,
                      zmin=-lim, zmax=lim, showscale=last[p.scale] == i,
                      colorbar=dict(title=dict(text=_BAR_TITLE[p.scale], side="right"), thickness=12, xpad=6,
                                    x=x1 + 8 / layout["width"], xanchor="left", len=y1 - y0, y=(y0 + y1) / 2,
                                    yanchor="middle", lenmode="fraction"),
                      hovertemplate="x %{x}, y %{y}<br>%{z:.3f}<extra></extra>")
        data.append({**tr, **_axes(i)})
    return _titled(go.Figure(data=data, layout=layout), title)


# ---------------------------------------------------------------- overlays (attention on x̂0)

def overlay_grid(base, heats, titles: list[str], zmax: float, query: tuple[int, int] | None = None,
                 ncol: int | None = None, title: str | None = None, size: int = 220,
                 bar: str = "attention weight") -> go.Figure:
    """Attention maps over a dimmed grey x̂0, each map cell stretched (nearest) over the pixels it covers.

    base: (H, W) grey in [-1, 1]; heats: (K, h, w) with h divides H; ONE scale 0..zmax for all maps.
    query: the (qy, qx) cell of the query pixel (in map cells), outlined on every panel.
    """
    base = np.asarray(base, np.float32)
    heats = np.asarray(heats, np.float32)
    k, h, w = heats.shape
    H, W = base.shape
    sy, sx = H / h, W / w
    ncol = ncol or k
    layout, _ = _grid(k, ncol, titles, size, [(H, W)] * k, {ncol - 1}, bool(title))
    data, shapes = [], []
    for i in range(k):
        ax = _axes(i)
        data.append(dict(type="heatmap", z=base, colorscale=DIM_GREYS, zmin=-1, zmax=1, showscale=False,
                         zsmooth=False, hoverinfo="skip", **ax))
        data.append(dict(type="heatmap", z=heats[i], x0=(sx - 1) / 2, dx=sx, y0=(sy - 1) / 2, dy=sy,
                         coloraxis="coloraxis", zsmooth=False, hovertemplate="weight %{z:.3f}<extra></extra>", **ax))
        if query is not None:
            qy, qx = query
            shapes.append(dict(type="rect", xref=ax["xaxis"], yref=ax["yaxis"], x0=qx * sx - 0.5,
                               x1=(qx + 1) * sx - 0.5, y0=qy * sy - 0.5, y1=(qy + 1) * sy - 0.5,
                               line=dict(color="#D55E00", width=3)))
    layout.update(shapes=shapes, coloraxis=dict(colorscale=HEAT, cmin=0, cmax=zmax if zmax > 0 else 1.0,
                                                colorbar=dict(title=dict(text=bar, side="right"), thickness=12, xpad=6,
                                                              x=1 + 8 / layout["width"], xanchor="left")))
    return _titled(go.Figure(data=data, layout=layout), title)


# ---------------------------------------------------------------- curves

T_AXIS = "timestep t  (sampling runs left to right: 999 → 0)"


def lines_vs_t(ts, series: dict, ytitle: str, current_t: int | None = None, title: str | None = None,
               dashed: set | None = None, height: int = 360, xtitle: str = T_AXIS, percent: bool = False,
               reverse: bool = True) -> go.Figure:
    """One line per series over the timesteps ``ts``; a dotted vertical line marks the current step's t."""
    ts = np.asarray(ts)
    data = [dict(type="scatter", x=ts, y=np.asarray(y, dtype=np.float64), name=name, mode="lines",
                 line=dict(color=COLOURS[i % len(COLOURS)], width=3,
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
                 height: int = 340, percent: bool = False) -> go.Figure:
    """Bars per category, one colour per group (e.g. skip vs backbone per decoder level)."""
    data = []
    for i, (name, vals) in enumerate(groups.items()):
        vals = np.asarray(vals, dtype=np.float64)
        data.append(dict(type="bar", x=list(categories), y=vals, name=name,
                         marker=dict(color=COLOURS[i % len(COLOURS)]),
                         text=[f"{v:.0%}" if percent else f"{v:.3g}" for v in vals], textposition="outside"))
    yaxis = dict(title=dict(text=ytitle), rangemode="tozero", tickformat=".0%" if percent else None)
    if percent:
        top = max([float(np.max(v)) for v in groups.values()] + [0.0])
        yaxis["range"] = [0, min(1.05, top * 1.25 + 0.02)]
    fig = go.Figure(data=data, layout=dict(barmode="group", yaxis=yaxis,
                                           xaxis=dict(type="category", title=dict(text=xtitle)),
                                           legend=dict(orientation="h", yanchor="top", y=-0.15, x=0)))
    return _finish(fig, title, height, bottom=50)


def architecture(rows: list[dict], title: str | None = None, height: int = 330) -> go.Figure:
    """Channels per stage in data-flow order (bars), each labelled with its resolution."""
    colour = {"enc": COLOURS[0], "bot": COLOURS[1], "dec": COLOURS[2]}
    top = max(r["channels"] for r in rows)
    fig = go.Figure(
        data=[dict(type="bar", x=[r["stage"] for r in rows], y=[r["channels"] for r in rows],
                   marker=dict(color=[colour[r["stage"][:3]] for r in rows]),
                   text=[f"{r['resolution']}×{r['resolution']}" for r in rows], textposition="outside",
                   hovertemplate="%{x}: %{y} channels<extra></extra>")],
        layout=dict(yaxis=dict(title=dict(text="channels"), range=[0, top * 1.25]),
                    xaxis=dict(type="category", title=dict(text="stage, in the order data flows (label: resolution)"))))
    return _finish(fig, title, height)


def energy_ranking(energy, channels, title: str | None = None, mass: float = 0.9, height: int = 320) -> go.Figure:
    """Each channel's share of a level's energy, strongest first (bars), and the running total (line)."""
    e = np.asarray(energy, np.float64)
    share = e / e.sum() if e.sum() > 0 else np.zeros_like(e)
    cum = np.cumsum(share)
    rank = np.arange(1, len(e) + 1)
    k = int(np.searchsorted(cum, mass - 1e-9) + 1)
    sh, no = _vline(k, f"{k} channels: {mass:.0%}", anchor="left")
    fig = go.Figure(
        data=[dict(type="bar", x=rank, y=share, customdata=np.asarray(channels), name="share of energy",
                   marker=dict(color=COLOURS[0]),
                   hovertemplate="rank %{x}: channel %{customdata}<br>%{y:.1%} of the energy<extra></extra>"),
              dict(type="scatter", x=rank, y=cum, yaxis="y2", name="running total", mode="lines",
                   line=dict(color=COLOURS[1], width=3), hovertemplate="top %{x}: %{y:.0%}<extra></extra>")],
        layout=dict(xaxis=dict(title=dict(text="channels, strongest first")),
                    yaxis=dict(title=dict(text="share of energy"), tickformat=".0%", rangemode="tozero"),
                    yaxis2=dict(title=dict(text="running total"), tickformat=".0%", range=[0, 1.05], dtick=0.25,
                                overlaying="y", side="right", showgrid=False),
                    legend=dict(orientation="h", yanchor="top", y=-0.38, x=0), bargap=0.1,
                    shapes=[sh], annotations=[no]))
    return _finish(fig, title, height + 30, right=60, bottom=90)


def heat_over_t(values, ts, title: str | None = None, ytitle: str = "channel", lim: float | None = None,
                height: int = 360, colorbar: str = "value", colorscale: str = SIGNED) -> go.Figure:
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
    sh, no = _vline(int(true_t), f"true t = {int(true_t)}", COLOURS[2], "solid", 3, "right")
    shapes.append(sh), notes.append(no)
    if wrong_t is not None and int(wrong_t) != int(true_t):
        sh, no = _vline(int(wrong_t), f"told t = {int(wrong_t)}", COLOURS[5], "dash", 3, "left")
        shapes.append(sh), notes.append(no)
    fig = go.Figure(
        data=[dict(type="scatter", x=np.asarray(told), y=np.asarray(err), mode="lines+markers", name="x̂0 error",
                   line=dict(color=COLOURS[0], width=3), marker=dict(size=6),
                   hovertemplate="told t %{x}<br>error %{y:.3f}<extra></extra>")],
        layout=dict(xaxis=dict(title=dict(text="the t the model is told"), range=[-10, 1009]),
                    yaxis=dict(title=dict(text=ytitle), rangemode="tozero"), shapes=shapes, annotations=notes))
    return _finish(fig, title, height)
