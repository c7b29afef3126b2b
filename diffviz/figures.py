"""Figure builders (plotly / PIL), no Streamlit: the app's pages and the CLIs draw with these.

Conventions, so that every page reads the same way on a projector:
  * images (x_t, x̂0, x0) use a fixed grey scale, -1 = black … +1 = white, for every step;
  * signed tensors (noise ε, ε̂, differences) use one diverging colour-blind-safe map ("RdBu",
    blue < 0 < red), symmetric around 0, with one limit shared by all steps (`signed_limit`);
  * small images are never blurred: heatmaps draw one brick per pixel, PIL scales by nearest
    neighbour, RGB images are repeated pixel-by-pixel before plotly sees them;
  * no template is set: Streamlit applies its own light or dark theme; fonts are large.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image, ImageDraw, ImageFont

from diffviz.data import to_uint8

FONT_SIZE = 17
# Colour bars lie under the image: small images are limited by their width, so a bar at the side
# would shrink them; below, it costs only height.
COLORBAR = dict(orientation="h", thickness=10, len=1.0, y=-0.02, yanchor="top", tickfont=dict(size=13))
GREY = [[0.0, "#000000"], [1.0, "#ffffff"]]
DIVERGING = "RdBu_r"                       # blue = negative, white = 0, red = positive
SCHEDULE_COLOURS = {"linear": "#0072B2", "cosine": "#E69F00"}   # Okabe–Ito: colour-blind safe
PART_COLOURS = {"encoder": "#0072B2", "decoder": "#D55E00", "bottleneck": "#CC79A7", "stem": "#009E73",
                "out": "#009E73", "time": "#009E73", "text": "#E69F00", "io": "#999999"}


# ---------------------------------------------------------------- PIL images

def grid_image(x, ncol: int = 8, pad: int = 2, scale: int = 1) -> Image.Image:
    """Images (N, C, H, W) in [-1, 1] -> one PIL grid, nearest-neighbour scaled by ``scale``."""
    imgs = to_uint8(x)                                          # (N, H, W, C)
    n, h, w, c = imgs.shape
    nrow = -(-n // ncol)
    canvas = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 40, np.uint8)
    for i, im in enumerate(imgs):
        r, q = divmod(i, ncol)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = im
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def save_grid(x, path, ncol: int = 8, scale: int = 3) -> Path:
    """Write a sample grid as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(x, ncol, scale=scale).save(path)
    return path


def upscale(x, width: int = 224) -> Image.Image:
    """(C, H, W) in [-1, 1] -> a PIL image about ``width`` pixels wide, nearest-neighbour."""
    x = np.asarray(x, dtype=np.float32)
    im = to_uint8(x)
    im = im[..., 0] if im.shape[-1] == 1 else im
    img = Image.fromarray(im)
    s = max(1, width // img.width)
    return img.resize((img.width * s, img.height * s), Image.NEAREST)


def signed_limit(*arrays) -> float:
    """One symmetric colour limit for signed tensors: max |value| over everything given (≥ 1e-6).

    Pass a whole trajectory (all steps), not one frame, so the colours mean the same at every step.
    """
    m = max(float(np.max(np.abs(np.asarray(a, dtype=np.float32)))) for a in arrays)
    return max(m, 1e-6)


def _rgb_uint8(x, signed: bool, limit: float) -> np.ndarray:
    """(C, H, W) -> uint8 (H, W, 3): grey / RGB in [-1, 1], or the diverging map for signed 1-channel."""
    x = np.asarray(x, dtype=np.float32)
    if signed:
        from matplotlib import colormaps
        if x.shape[0] == 1:
            v = np.clip(x[0] / (2 * limit) + 0.5, 0, 1)
            return (colormaps["RdBu_r"](v)[..., :3] * 255 + 0.5).astype(np.uint8)
        return to_uint8(np.clip(x / limit, -1, 1))              # RGB noise: each channel ±limit
    im = to_uint8(np.clip(x, -1, 1))
    return np.repeat(im, 3, axis=-1) if im.shape[-1] == 1 else im


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                           # Pillow < 10.1
        return ImageFont.load_default()


def panel_image(images, labels, signed=None, limits=None, scale: int = 8, title: str | None = None) -> Image.Image:
    """A labelled row of (C, H, W) tensors as one PIL image (nearest-neighbour), e.g. the current view.

    signed[i]: use the diverging map with ±limits[i] (else grey -1..1).
    """
    n = len(images)
    signed = signed or [False] * n
    limits = limits or [1.0] * n
    tiles = [Image.fromarray(_rgb_uint8(x, s, lim)) for x, s, lim in zip(images, signed, limits)]
    tiles = [t.resize((t.width * scale, t.height * scale), Image.NEAREST) for t in tiles]
    w, h = tiles[0].size
    pad, label_h = 12, 34
    top = label_h + (label_h if title else 0)
    # a dark frame with light text: reads the same on a light or a dark page, and in a slide deck
    canvas = Image.new("RGB", (n * w + (n + 1) * pad, h + top + pad), (38, 39, 48))
    draw = ImageDraw.Draw(canvas)
    font = _font(22)
    if title:
        draw.text((pad, 6), title, fill=(250, 250, 250), font=font)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        x0 = pad + i * (w + pad)
        draw.text((x0, top - label_h + 4), label, fill=(250, 250, 250), font=font)
        canvas.paste(tile, (x0, top))
    return canvas


def png_bytes(img: Image.Image) -> bytes:
    """A PIL image as PNG bytes (for downloads)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def trajectory_gif(x_t, pred_x0, timesteps, final=None, scale: int = 6, ms: int = 90,
                   max_frames: int = 100) -> bytes:
    """An animated GIF of a sampling run: x_t (left) and x̂0 (right) at every step, then x0.

    x_t, pred_x0: (S, C, H, W) in about [-1, 1] (one sample). Each frame is captioned with its
    step and t. Runs longer than ``max_frames`` steps show evenly spaced steps (first and last
    included). The last frame (the finished image) is held for a second.
    """
    x_t, pred_x0 = np.asarray(x_t, np.float32), np.asarray(pred_x0, np.float32)
    S = len(timesteps)
    shown = np.unique(np.linspace(0, S - 1, min(S, max_frames)).round().astype(int))
    frames = []
    for i in shown:
        frames.append(panel_image([x_t[i], pred_x0[i]], ["x_t", "x0 guess"], scale=scale,
                                  title=f"step {i}/{S - 1}   t = {int(timesteps[i])}"))
    durations = [ms] * len(frames)
    if final is not None:
        f = np.asarray(final, np.float32)
        frames.append(panel_image([f, f], ["x0 (final)", "x0 (final)"], scale=scale, title=f"done: x0 after {S} steps"))
        durations.append(1200)
    frames = [f.convert("P", palette=Image.ADAPTIVE, colors=255) for f in frames]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   disposal=1, optimize=False)
    return buf.getvalue()


# ---------------------------------------------------------------- plotly: images

def _style(fig: go.Figure, height: int, title: str | None = None, tight: bool = False) -> go.Figure:
    m = dict(l=22, r=4, t=62 if title else 24, b=8) if tight else dict(l=10, r=10, t=60 if title else 20, b=10)
    fig.update_layout(height=height, margin=m,
                      font=dict(size=FONT_SIZE),
                      title=dict(text=title, font=dict(size=FONT_SIZE + 3)) if title else None)
    return fig


def _image_axes(fig, row=None, col=None, show_labels=True):
    kw = dict(row=row, col=col) if row is not None else {}
    small = dict(font=dict(size=12), standoff=0)
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain", ticks="", showticklabels=False, side="top",
                     title=dict(text="x (pixels) →", **small) if show_labels else None, **kw)
    fig.update_yaxes(showgrid=False, zeroline=False, autorange="reversed", scaleanchor="x" if row is None else None,
                     constrain="domain", ticks="", showticklabels=False,
                     title=dict(text="← y (pixels)", **small) if show_labels else None, **kw)


def image_figure(x, title: str | None = None, signed: bool = False, limit: float = 1.0, height: int = 330,
                 colorbar: bool = True, hover_name: str = "value") -> go.Figure:
    """One (C, H, W) or (H, W) tensor as a plotly figure that never blurs.

    signed=False: an image, grey -1 (black) … +1 (white), values beyond are clipped on screen.
    signed=True: the diverging map, symmetric ±limit (pass one limit for a whole trajectory).
    RGB images are shown as colours; signed RGB tensors as three channel heatmaps.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    C, H, W = x.shape
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
    fig = go.Figure()
    if C == 3:
        f = max(1, 256 // max(H, W))                   # repeat pixels so the browser has nothing to smooth
        rgb = np.repeat(np.repeat(to_uint8(np.clip(x, -1, 1)), f, 0), f, 1)
        fig.add_trace(go.Image(z=rgb, x0=-0.5 + 0.5 / f, dx=1 / f, y0=-0.5 + 0.5 / f, dy=1 / f,
                               hovertemplate="x %{x:.0f}, y %{y:.0f}<br>RGB %{z}<extra></extra>"))
    else:
        lo, hi = (-limit, limit) if signed else (-1.0, 1.0)
        fig.add_trace(go.Heatmap(z=x[0], colorscale=DIVERGING if signed else GREY, zmin=lo, zmax=hi,
                                 zmid=0 if signed else None, showscale=colorbar,
                                 colorbar=COLORBAR,
                                 hovertemplate=f"x %{{x}}, y %{{y}}<br>{hover_name} %{{z:.3f}}<extra></extra>"))
    _image_axes(fig)
    return _style(fig, height, title, tight=True)


# ---------------------------------------------------------------- plotly: curves

def schedule_figure(t: int, schedules=("linear", "cosine"), trained: str | None = "linear", T: int = 1000) -> go.Figure:
    """β_t, ᾱ_t and SNR_t = ᾱ_t / (1 − ᾱ_t) (log scale) against t, for each schedule; t marked."""
    from diffviz.schedulers import NoiseSchedule
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
                                     marker=dict(color=colour, size=13, line=dict(width=2, color="white")),
                                     hovertemplate=f"{name} at t = {t}: %{{y:.4g}}<extra></extra>"), 1, j + 1)
    for j in range(3):
        fig.add_vline(x=t, line=dict(color="#888888", width=2, dash="dot"), row=1, col=j + 1)
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
                               line=dict(color="#0072B2", width=3), marker=dict(size=7),
                               hovertemplate="t %{x}<br>MSE %{y:.4f}<extra></extra>"))
    i = int(np.argmin(np.abs(ts - t)))
    fig.add_trace(go.Scatter(x=[ts[i]], y=[mse[i]], mode="markers", name=f"current t = {int(ts[i])}",
                             marker=dict(color="#D55E00", size=16, line=dict(width=2, color="white")),
                             hovertemplate="t %{x}<br>MSE %{y:.4f}<extra></extra>"))
    fig.add_vline(x=int(ts[i]), line=dict(color="#888888", width=2, dash="dot"))
    if baseline is not None:
        fig.add_hline(y=baseline, line=dict(color="#999999", width=2, dash="dash"))
        fig.add_annotation(x=0, y=np.log10(baseline), xanchor="left", yanchor="bottom", showarrow=False,
                           text="guessing ε̂ = 0 (MSE ≈ 1)", font=dict(size=14, color="#999999"))   # log axis: log10 y
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
    colours = [PART_COLOURS.get(n.split(".")[0].split(" ")[0], "#999999") for n in names]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:,} ({100 * v / total:.1f}%)" for v in values], textposition="outside",
                           cliponaxis=False, hovertemplate="%{y}: %{x:,} parameters<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text=None)
    fig.update_xaxes(title_text="trainable parameters", range=[0, max(values) * 1.35 if values else 1])
    return _style(fig, 60 + 34 * len(names))


# ---------------------------------------------------------------- the U-Net diagram

def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")" if shape is not None else "?"


def unet_blocks(cfg) -> list[str]:
    """The diagram's selectable blocks, in the order data flows."""
    L = cfg.levels
    blocks = ["input", "stem"] + [f"encoder.{k}" for k in range(L)] + ["bottleneck"]
    blocks += [f"decoder.{k}" for k in reversed(range(L))] + ["skip connections", "out", "output", "time embedding"]
    if cfg.use_attention:
        blocks.append("attention")
    if cfg.conditioning == "text":
        blocks.append("text encoder")
    return blocks


class _Parts:
    """Collects layout shapes and annotations as plain dicts (add_shape one by one is O(n²) in plotly)."""

    def __init__(self):
        self.shapes, self.annotations = [], []

    def add_shape(self, **kw):
        self.shapes.append({"xref": "x", "yref": "y", **kw})

    def add_annotation(self, **kw):
        self.annotations.append({"xref": "x", "yref": "y", **kw})


def unet_diagram(cfg, shapes: dict, selected: str | None = None, t: int | None = None,
                 condition: str | None = None, height: int = 780) -> go.Figure:
    """The U-Net of ``cfg`` as a diagram with the live tensor shape at every point.

    shapes: capture key -> shape, plus "input" and "output" (e.g. from one real forward pass).
    Encoder levels go down the left, the bottleneck sits at the bottom, decoder levels come up
    the right; skip k runs across from encoder k to decoder k; the time embedding (top centre)
    feeds every residual block (dotted). ``selected`` (a name from `unet_blocks`) is outlined.
    """
    L = cfg.levels
    dx, dy, bw, bh = 1.5, 1.55, 2.9, 1.2             # level shift, row height, box width and height
    gap = 2.3                                         # room for the deepest skip arrow and its label
    x_enc = [1.6 + k * dx for k in range(L)]
    mid = x_enc[-1] + bw / 2 + gap / 2
    x_dec = [2 * mid - x for x in x_enc]
    y_lvl = [-k * dy for k in range(L)]
    y_bot = -L * dy
    y_stem, y_io = dy * 0.95, dy * 1.95
    fig = _Parts()                    # collect shapes and annotations, build the figure once
    text = cfg.conditioning == "text"
    attn_levels = set(cfg.attention_levels) if cfg.use_attention else set()          # self (+ cross) attention
    cross_only = (set(getattr(cfg, "cross_levels", ())) - attn_levels) if cfg.use_attention and text else set()
    sel = selected or ""
    attention_boxes = {f"{part}.{k}" for k in attn_levels | cross_only for part in ("encoder", "decoder")}
    if cfg.use_attention:
        attention_boxes.add("bottleneck")

    def box(name, x, y, title, lines, part, w=bw, h=bh):
        on = sel == name or (sel == "attention" and name in attention_boxes)
        colour = PART_COLOURS[part]
        fig.add_shape(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2, layer="below",
                      line=dict(width=0), fillcolor=colour, opacity=0.32 if on else 0.14)
        fig.add_shape(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2,
                      line=dict(color=colour, width=6 if on else 2), fillcolor="rgba(0,0,0,0)")
        fig.add_annotation(x=x, y=y, text=f"<b>{title}</b><br>" + "<br>".join(lines), showarrow=False,
                           font=dict(size=15), align="center")

    def arrow(x0, y0, x1, y1, colour="#888888", width=2.5):
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowsize=1.1, arrowwidth=width, arrowcolor=colour, text="")

    def label(x, y, text, colour="#888888", anchor="center"):
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=14, color=colour), xanchor=anchor)

    def res_lines(k, decoder=False):
        first = ("skip + " if decoder and cfg.use_skips else "") + f"ResBlock ×{cfg.blocks_per_level}"
        extra = []
        if k in attn_levels:
            extra.append("+ self/cross-attention" if text else "+ self-attention")
        elif k in cross_only:
            extra.append("+ cross-attention")
        return [first] + extra

    # the time embedding feeds every residual block: dotted lines, drawn first so boxes sit on top
    tcol = PART_COLOURS["time"]
    on_t = sel == "time embedding"
    targets = [(x_enc[k], y_lvl[k]) for k in range(L)] + [(x_dec[k], y_lvl[k]) for k in range(L)] + [(mid, y_bot)]
    for x, y in targets:
        fig.add_shape(type="line", x0=mid, y0=y_io - 0.6, x1=x, y1=y + bh / 2, layer="below",
                      line=dict(color=tcol, width=3.5 if on_t else 1.5, dash="dot"))
    sinusoid, emb = fmt_shape(shapes.get("time_embedding.sinusoid")), fmt_shape(shapes.get("embedding"))
    t_line = f"{'t = ' + str(t) if t is not None else 't'} → sinusoid {sinusoid} → MLP"
    if cfg.conditioning == "class":
        label_line = f"+ label{' ' + condition if condition else ''} embedding → {emb}"
        lines = [t_line, label_line, "FiLM in every ResBlock (dotted)"]
    else:
        lines = [t_line + f" → {emb}", "FiLM in every ResBlock (dotted)",
                 "(the caption enters by cross-attention)" if text else "(no condition)"]
    box("time embedding", mid, y_io, "time embedding", lines, "time", w=4.6, h=1.2)

    # input, stem … out, output
    H = cfg.image_size
    box("input", x_enc[0], y_io, "input x_t", [fmt_shape(shapes.get("input")), "the noisy image"], "io", h=1.0)
    box("stem", x_enc[0], y_stem, "stem", ["conv 3×3", fmt_shape(shapes.get("stem", (1, cfg.channels[0], H, H)))],
        "stem", h=0.9)
    arrow(x_enc[0], y_io - 0.5, x_enc[0], y_stem + 0.45)
    arrow(x_enc[0], y_stem - 0.45, x_enc[0], y_lvl[0] + bh / 2)
    box("out", x_dec[0], y_stem, "out", ["norm → SiLU → conv 3×3", fmt_shape(shapes.get("output"))], "out", h=0.9)
    box("output", x_dec[0], y_io, "predicted noise ε̂", [fmt_shape(shapes.get("output")), "same shape as x_t"],
        "io", h=1.0)
    arrow(x_dec[0], y_lvl[0] + bh / 2, x_dec[0], y_stem - 0.45)
    arrow(x_dec[0], y_stem + 0.45, x_dec[0], y_io - 0.5)

    # encoder levels (down the left), decoder levels (up the right), skips across
    scol = PART_COLOURS["bottleneck"]
    for k in range(L):
        r = cfg.resolution(k)
        box(f"encoder.{k}", x_enc[k], y_lvl[k], f"encoder.{k}  ({r}×{r})",
            res_lines(k) + [fmt_shape(shapes.get(f"encoder.{k}"))], "encoder")
        box(f"decoder.{k}", x_dec[k], y_lvl[k], f"decoder.{k}  ({r}×{r})",
            res_lines(k, decoder=True) + [fmt_shape(shapes.get(f"decoder.{k}"))], "decoder")
        deeper = k + 1 < L
        nx, ny = (x_enc[k + 1], y_lvl[k + 1]) if deeper else (mid, y_bot)
        arrow(x_enc[k] - 0.4, y_lvl[k] - bh / 2, nx - (0.4 if deeper else 1.2), ny + bh / 2)
        if deeper:
            label(x_enc[k] - 0.45, (y_lvl[k] + ny) / 2 - 0.05, "down ×½", anchor="right")
        arrow(2 * mid - nx + (0.4 if deeper else 1.2), ny + bh / 2, x_dec[k] + 0.4, y_lvl[k] - bh / 2)
        if deeper:
            label(x_dec[k] + 0.45, (y_lvl[k] + ny) / 2 - 0.05, "up ×2", anchor="left")
        if cfg.use_skips:
            on = sel in ("skip connections", f"decoder.{k}")
            arrow(x_enc[k] + bw / 2, y_lvl[k] - 0.12, x_dec[k] - bw / 2, y_lvl[k] - 0.12, colour=scol,
                  width=5 if on else 3)
            fig.add_annotation(x=mid - 0.12, y=y_lvl[k] - 0.04, yanchor="bottom", xanchor="right", showarrow=False,
                               text=f"<b>skip {k}</b>", font=dict(size=15, color=scol),
                               hovertext=fmt_shape(shapes.get(f"decoder.{k}.skip")))
    if not cfg.use_skips:
        fig.add_annotation(x=mid, y=y_lvl[0], showarrow=False, text="<i>no skip connections in this model</i>",
                           font=dict(size=16 if sel == "skip connections" else 14, color="#999999"))
    r = cfg.resolution(L - 1)
    bott = [("ResBlock → self/cross-attn → ResBlock" if text else "ResBlock → self-attention → ResBlock")
            if cfg.use_attention else "ResBlock → ResBlock"]
    box("bottleneck", mid, y_bot, f"bottleneck  ({r}×{r})", bott + [fmt_shape(shapes.get("bottleneck"))],
        "bottleneck", w=4.2, h=1.0)

    lo_y = y_bot - 0.7
    if cfg.conditioning == "text":
        y_txt = y_bot - 1.25
        lo_y = y_txt - 0.6
        box("text encoder", mid + 4.6, y_txt + 0.3, "text encoder", ["caption → tokens → transformer",
                                                                      "keys/values for cross-attention"], "text",
            w=4.2, h=1.0)
        ends = [(x, y_lvl[k] - bh / 2) for k in sorted(attn_levels | cross_only) for x in (x_enc[k], x_dec[k])]
        if cfg.use_attention:
            ends.append((mid + 2.1, y_bot))                       # the bottleneck's attention reads the caption too
        for x, y in ends:
            fig.add_shape(type="line", x0=mid + 4.6, y0=y_txt + 0.8, x1=x, y1=y, layer="below",
                          line=dict(color=PART_COLOURS["text"], width=1.5, dash="dash"))
    fig = go.Figure(layout=dict(shapes=fig.shapes, annotations=fig.annotations))
    fig.update_xaxes(visible=False, range=[x_enc[0] - bw / 2 - 0.9, x_dec[0] + bw / 2 + 0.9], fixedrange=True)
    fig.update_yaxes(visible=False, range=[lo_y, y_io + 0.65], fixedrange=True)
    fig.update_layout(height=height + (90 if cfg.conditioning == "text" else 0), margin=dict(l=0, r=0, t=0, b=0),
                      font=dict(size=15), showlegend=False, dragmode=False)
    return fig


# ---------------------------------------------------------------- equations (LaTeX strings for st.latex)

def forward_equation(t: int, alpha_bar: float) -> str:
    """x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε with this t's numbers filled in."""
    a, b = np.sqrt(alpha_bar), np.sqrt(1 - alpha_bar)
    return (rf"x_{{{t}}} = \sqrt{{\bar\alpha_{{{t}}}}}\,x_0 + \sqrt{{1-\bar\alpha_{{{t}}}}}\,\varepsilon"
            rf" = \sqrt{{{alpha_bar:.4f}}}\,x_0 + \sqrt{{{1 - alpha_bar:.4f}}}\,\varepsilon"
            rf" = {a:.3f}\,x_0 + {b:.3f}\,\varepsilon")


def pred_x0_equation(t: int, alpha_bar: float) -> str:
    """x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t with the numbers."""
    return (rf"\hat x_0 = \frac{{x_{{{t}}} - \sqrt{{1-\bar\alpha_{{{t}}}}}\,\hat\varepsilon}}"
            rf"{{\sqrt{{\bar\alpha_{{{t}}}}}}}"
            rf" = \frac{{x_{{{t}}} - {np.sqrt(1 - alpha_bar):.3f}\,\hat\varepsilon}}{{{np.sqrt(alpha_bar):.4f}}}")


def _prev_name(prev_t: int) -> str:
    return "x_0" if prev_t < 0 else f"x_{{{prev_t}}}"


def ddim_equation(t: int, prev_t: int, alpha_bar: float, alpha_bar_prev: float) -> str:
    """DDIM (η = 0): x_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev)·ε̂, with the numbers."""
    p = "0" if prev_t < 0 else str(prev_t)
    a, b = np.sqrt(alpha_bar_prev), np.sqrt(max(1 - alpha_bar_prev, 0.0))
    return (rf"{_prev_name(prev_t)} = \sqrt{{\bar\alpha_{{{p}}}}}\,\hat x_0"
            rf" + \sqrt{{1-\bar\alpha_{{{p}}}}}\,\hat\varepsilon = {a:.3f}\,\hat x_0 + {b:.3f}\,\hat\varepsilon")


def ddpm_coefficients(alpha_bar: float, alpha_bar_prev: float, last: bool) -> tuple[float, float, float]:
    """(c0, ct, σ) of DDPM's x_prev = c0·x̂0 + ct·x_t + σ·z for a (possibly strided) step."""
    beta = 1 - alpha_bar / alpha_bar_prev
    c0 = np.sqrt(alpha_bar_prev) * beta / (1 - alpha_bar)
    ct = np.sqrt(1 - beta) * (1 - alpha_bar_prev) / (1 - alpha_bar)
    sigma = 0.0 if last else float(np.sqrt(max((1 - alpha_bar_prev) / (1 - alpha_bar) * beta, 1e-20)))
    return float(c0), float(ct), sigma


def ddpm_equation(t: int, prev_t: int, alpha_bar: float, alpha_bar_prev: float) -> str:
    """DDPM: x_prev = c0·x̂0 + ct·x_t + σ·z (fresh noise z), with the numbers."""
    c0, ct, sigma = ddpm_coefficients(alpha_bar, alpha_bar_prev, last=t == 0)
    shown = sigma >= 5e-4                      # the last step's σ is ~0: no fresh noise
    noise = rf" + \sigma_{{{t}}}\,z" if shown else ""
    num = rf" + {sigma:.3f}\,z" if shown else ""
    return (rf"{_prev_name(prev_t)} = c_0\,\hat x_0 + c_t\,x_{{{t}}}{noise}"
            rf" = {c0:.3f}\,\hat x_0 + {ct:.3f}\,x_{{{t}}}{num}")
