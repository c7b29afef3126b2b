"""Images and feature maps as plotly figures that never blur: image figures, channel grids, panels in a
row, and heat maps overlaid on an image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from diffviz.data.pixels import to_uint8
from diffviz.figures.palette import (
    DIFF,
    DIM_GREYS,
    DIVERGING,
    GREY,
    HEAT,
    QUERY,
)
from diffviz.figures.style import (
    _HIDE,
    BAR_PX,
    COLORBAR,
    FONT,
    FONT_SIZE,
    GAP_PX,
    TITLE_FONT,
    TITLE_PX,
    _finish,
    _image_axes,
    _style,
)


def image_figure(x, title: str | None = None, signed: bool = False, limit: float = 1.0, height: int = 330,
                 colorbar: bool = True, hover_name: str = "value", channels: bool = False) -> go.Figure:
    """One (C, H, W) or (H, W) tensor as a plotly figure that never blurs.

    signed=False: an image, grey -1 (black) … +1 (white), values beyond are clipped on screen.
    signed=True: the diverging map, symmetric ±limit (pass one limit for a whole trajectory).
    RGB images are shown as colours. A signed RGB tensor (noise) is shown as colour too, each channel
    scaled from ±limit to 0…255 (mid-grey = 0 in every channel, red = more red than average); with
    ``channels`` as three channel heatmaps instead.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    C, H, W = x.shape
    if C == 3 and signed and not channels:
        x = np.clip(x / (limit or 1.0), -1, 1)
        signed = False
        hover_name = f"value ÷ {limit:.2f}"
    if C == 3 and signed:
        fig = make_subplots(1, 3, subplot_titles=("R", "G", "B"), horizontal_spacing=0.03)
        hover = f"x %{{x}}, y %{{y}}<br>{hover_name} %{{z:.3f}}<extra></extra>"
        for c in range(3):
            fig.add_trace(go.Heatmap(z=x[c], colorscale=DIVERGING, zmin=-limit, zmax=limit, zmid=0,
                                     showscale=colorbar and c == 2, colorbar=COLORBAR, hovertemplate=hover),
                          1, c + 1)
            _image_axes(fig, 1, c + 1, show_labels=False)
            fig.update_yaxes(scaleanchor=f"x{c + 1 if c else ''}", row=1, col=c + 1)
        return _style(fig, height, title, tight=True)
    if C == 3:
        f = max(1, 256 // max(H, W))                   # repeat pixels so the browser has nothing to smooth
        rgb = np.repeat(np.repeat(to_uint8(np.clip(x, -1, 1)), f, 0), f, 1)
        trace = dict(type="image", z=rgb, x0=-0.5 + 0.5 / f, dx=1 / f, y0=-0.5 + 0.5 / f, dy=1 / f,
                     hovertemplate="x %{x:.0f}, y %{y:.0f}<br>RGB %{z}<extra></extra>")
    else:
        lo, hi = (-limit, limit) if signed else (-1.0, 1.0)
        trace = dict(type="heatmap", z=x[0], colorscale=DIVERGING if signed else GREY, zmin=lo, zmax=hi,
                     showscale=colorbar, colorbar=COLORBAR,
                     hovertemplate=f"x %{{x}}, y %{{y}}<br>{hover_name} %{{z:.3f}}<extra></extra>")
        if signed:
            trace["zmid"] = 0
    # Built from plain dicts in ONE constructor call (one validation pass): the same figure as
    # `_image_axes` and `_style` make, in a fifth of the time (a page shows four per step, per run).
    small = dict(font=dict(size=12), standoff=0)
    axes = dict(showgrid=False, zeroline=False, constrain="domain", ticks="", showticklabels=False)
    layout = dict(xaxis=dict(**axes, side="top", title=dict(text="x (pixels) →", **small)),
                  yaxis=dict(**axes, autorange="reversed", scaleanchor="x", title=dict(text="← y (pixels)", **small)),
                  height=height, margin=dict(l=22, r=4, t=62 if title else 24, b=8), font=dict(size=FONT_SIZE),
                  title=dict(text=title, font=dict(size=FONT_SIZE + 3)) if title else None)
    fig = go.Figure(data=[trace], layout=layout)
    return fig if title else fig.update_layout(title=None)     # an empty title object, as `_style` leaves it


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
        data=[dict(type="heatmap", z=z, customdata=chan, colorscale=DIVERGING, zmin=-zmax, zmax=zmax, zsmooth=False,
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


_SCALES = {"signed": DIVERGING, "diff": DIFF}
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
    return dict(type="heatmap", z=g, colorscale=GREY, zmin=-1, zmax=1, showscale=False, zsmooth=False,
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
    """Attention maps over a dimmed x̂0, each map cell stretched (nearest) over the pixels it covers.

    base: (H, W) grey or (3, H, W) colour, in [-1, 1] (a colour image stays in colour, dimmed, so a
    colour word's map can be checked against the colour under it); heats: (K, h, w) with h divides H;
    ONE scale 0..zmax for all maps. query: the (qy, qx) cell of the query pixel (in map cells).
    """
    base = np.asarray(base, np.float32)
    heats = np.asarray(heats, np.float32)
    k, h, w = heats.shape
    colour = base.ndim == 3 and base.shape[0] == 3
    if colour:
        dim = np.clip((np.moveaxis(base, 0, -1) + 1) * 127.5 * 0.7 + 0.5, 0, 255).astype(np.uint8)   # (H, W, 3)
    elif base.ndim == 3:
        base = base[0]
    H, W = base.shape[-2:]
    sy, sx = H / h, W / w
    ncol = ncol or k
    layout, _ = _grid(k, ncol, titles, size, [(H, W)] * k, {ncol - 1}, bool(title))
    data, shapes = [], []
    for i in range(k):
        ax = _axes(i)
        if colour:
            data.append(dict(type="image", z=dim, hoverinfo="skip", **ax))
        else:
            data.append(dict(type="heatmap", z=base, colorscale=DIM_GREYS, zmin=-1, zmax=1, showscale=False,
                             zsmooth=False, hoverinfo="skip", **ax))
        data.append(dict(type="heatmap", z=heats[i], x0=(sx - 1) / 2, dx=sx, y0=(sy - 1) / 2, dy=sy,
                         coloraxis="coloraxis", zsmooth=False, hovertemplate="weight %{z:.3f}<extra></extra>", **ax))
        if query is not None:
            qy, qx = query
            shapes.append(dict(type="rect", xref=ax["xaxis"], yref=ax["yaxis"], x0=qx * sx - 0.5,
                               x1=(qx + 1) * sx - 0.5, y0=qy * sy - 0.5, y1=(qy + 1) * sy - 0.5,
                               line=dict(color=QUERY, width=3)))
    layout.update(shapes=shapes, coloraxis=dict(colorscale=HEAT, cmin=0, cmax=zmax if zmax > 0 else 1.0,
                                                colorbar=dict(title=dict(text=bar, side="right"), thickness=12, xpad=6,
                                                              x=1 + 8 / layout["width"], xanchor="left")))
    return _titled(go.Figure(data=data, layout=layout), title)
