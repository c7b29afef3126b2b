"""The figures' shared style: fonts, colour bars, layout sizes and image axes.
"""

from __future__ import annotations

import plotly.graph_objects as go

from diffviz.figures.palette import NEUTRAL

FONT_SIZE = 17
# Colour bars lie under the image: small images are limited by their width, so a bar at the side
# would shrink them; below, it costs only height.
COLORBAR = dict(orientation="h", thickness=10, len=1.0, y=-0.02, yanchor="top", tickfont=dict(size=13))


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
FONT = dict(size=15)
TITLE_FONT = dict(size=17)


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


def _vline(x: float, text: str, colour: str = NEUTRAL, dash: str = "dot", width: int = 2,
           anchor: str = "center") -> tuple[dict, dict]:
    """A vertical line across the plot at data x, and its label above it: (shape, annotation)."""
    shape = dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                 line=dict(color=colour, width=width, dash=dash))
    note = dict(text=text, x=x, y=1, xref="x", yref="paper", yanchor="bottom", xanchor=anchor, showarrow=False,
                font=dict(size=14, color=colour if colour != NEUTRAL else None))
    return shape, note

TITLE_PX, GAP_PX, BAR_PX = 30, 18, 110            # pixels: a panel's title, between panels, a colour bar
