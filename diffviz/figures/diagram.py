"""The U-Net drawn as a diagram with the live tensor shapes (the legend of the palette's part colours).
"""

from __future__ import annotations

import plotly.graph_objects as go

from diffviz.figures.palette import CLEAR, NEUTRAL, PART_COLOURS, SKIP, part_colour
from diffviz.figures.style import _finish

# ---------------------------------------------------------------- the U-Net diagram

def fmt_shape(shape) -> str:
    """A tensor shape as '(1, 32, 28, 28)', or '?' when unknown."""
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
        colour = part_colour(name) if part in ("encoder", "decoder") else PART_COLOURS[part]
        fig.add_shape(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2, layer="below",
                      line=dict(width=0), fillcolor=colour, opacity=0.32 if on else 0.14)
        fig.add_shape(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2,
                      line=dict(color=colour, width=6 if on else 2), fillcolor=CLEAR)
        fig.add_annotation(x=x, y=y, text=f"<b>{title}</b><br>" + "<br>".join(lines), showarrow=False,
                           font=dict(size=15), align="center")

    def arrow(x0, y0, x1, y1, colour=NEUTRAL, width=2.5):
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowsize=1.1, arrowwidth=width, arrowcolor=colour, text="")

    def label(x, y, text, colour=NEUTRAL, anchor="center"):
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
    scol = SKIP
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
                           font=dict(size=16 if sel == "skip connections" else 14, color=NEUTRAL))
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


def architecture(rows: list[dict], title: str | None = None, height: int = 330) -> go.Figure:
    """Channels per stage in data-flow order (bars), each labelled with its resolution."""
    top = max(r["channels"] for r in rows)
    fig = go.Figure(
        data=[dict(type="bar", x=[r["stage"] for r in rows], y=[r["channels"] for r in rows],
                   marker=dict(color=[part_colour(r["stage"]) for r in rows]),
                   text=[f"{r['resolution']}×{r['resolution']}" for r in rows], textposition="outside",
                   hovertemplate="%{x}: %{y} channels<extra></extra>")],
        layout=dict(yaxis=dict(title=dict(text="channels"), range=[0, top * 1.25]),
                    xaxis=dict(type="category", title=dict(text="stage, in the order data flows (label: resolution)"))))
    return _finish(fig, title, height)
