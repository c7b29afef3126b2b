"""A figure's text alternative: the numbers a sighted reader reads off a plotly figure, as Markdown tables.

Every chart in the app is followed by a "The numbers" expander holding `figure_text(fig)`: the values a
screen-reader user (or anyone who wants the figures) needs, read from the very traces that are drawn, so
the text can never drift from the picture.

    heat maps, images   one row per panel (a channel of a grid, a head, a word's map): smallest, mean and
                        largest value and where the largest and smallest sit; small maps (≤ 16 × 16, e.g.
                        attention) in full, larger ones of a figure with few panels as a coarse grid of
                        block means (where the bright parts are)
    lines               each series' first, last, smallest and largest value (and where), and the values
                        at up to 21 evenly spaced points
    bars, histograms    every bar's value; a histogram's count, mean, spread and range
    marks, point clouds a few marked points by name (the current t, the truth, your click); a cloud's centre
"""

from __future__ import annotations

import numpy as np

SMALL = 16 * 16                 # maps up to this many cells are listed in full
COARSE = 7                      # larger maps: block means on at most this many rows and columns
ROWS = 21                       # a line's values at this many evenly spaced points


def _fmt(v) -> str:
    if isinstance(v, (str, bytes)):
        return _esc(v if isinstance(v, str) else v.decode())
    v = float(v)
    if not np.isfinite(v):
        return ""
    return f"{int(v)}" if v.is_integer() and abs(v) < 1e6 else f"{v:.3g}"


def _esc(text: str) -> str:
    """Plain text safe inside a Markdown table (no pipes, no LaTeX, no emphasis)."""
    return str(text).replace("|", "/").replace("$", "\\$").replace("*", "\\*").replace("\n", " ")


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table of ``rows`` under ``header``."""
    lines = ["| " + " | ".join(_esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def columns_text(cols: dict) -> str:
    """A Markdown table of named columns ({"stage": [...], "channels": [...]})."""
    names = list(cols)
    n = max((len(v) for v in cols.values()), default=0)
    return table(names, [[cols[k][i] if i < len(cols[k]) else "" for k in names] for i in range(n)])


def _axis_name(ref: str, letter: str) -> str:
    return f"{letter}axis{ref[1:]}" if ref and ref != letter else f"{letter}axis"


def _titles(fig) -> dict:
    """Each subplot's title ({(xaxis, yaxis): text}) from the paper annotations above its domain."""
    notes = [a for a in (fig.layout.annotations or ()) if a.xref == "paper" and a.yref == "paper" and a.text]
    pairs = {(getattr(t, "xaxis", None) or "x", getattr(t, "yaxis", None) or "y") for t in fig.data}
    out = {}
    for xa, ya in pairs:
        xd = fig.layout[_axis_name(xa, "x")].domain or (0, 1)
        yd = fig.layout[_axis_name(ya, "y")].domain or (0, 1)
        near = [a for a in notes if xd[0] - 1e-6 <= a.x <= xd[1] + 1e-6 and yd[1] - 0.02 <= a.y <= yd[1] + 0.2]
        if near:
            out[(xa, ya)] = min(near, key=lambda a: abs(a.y - yd[1])).text
    return out


def _name(fig, trace, titles: dict, k: int) -> str:
    title = titles.get((getattr(trace, "xaxis", None) or "x", getattr(trace, "yaxis", None) or "y"))
    name = getattr(trace, "name", None)
    if name and title and len(titles) > 1:
        return f"{name} · {title}"
    if name or title:
        return name or title
    main = fig.layout.title.text if fig.layout.title else None
    return main or f"panel {k + 1}"


def _coords(trace, n: int, letter: str) -> np.ndarray:
    given = getattr(trace, letter, None)
    if given is not None and len(given) == n:
        return np.asarray(given)
    start = getattr(trace, f"{letter}0", None)
    step = getattr(trace, f"d{letter}", None)
    if trace.type == "image" and start is not None and step:       # an upsampled image: back to its pixels
        return np.round(start + step * np.arange(n)).astype(int)
    return np.arange(n)


def _maps(fig) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, values (h, w), xs, ys) of every heat map or image drawn (dimmed backgrounds left out)."""
    titles, out = _titles(fig), []
    for k, tr in enumerate(fig.data):
        if tr.type not in ("heatmap", "image") or tr.hoverinfo == "skip" or tr.z is None:
            continue
        z = np.asarray(tr.z, np.float64)
        if tr.type == "image":
            z = z[..., :3].mean(axis=-1) / 127.5 - 1.0                # brightness, −1 (black) … +1 (white)
        xs, ys = _coords(tr, z.shape[1], "x"), _coords(tr, z.shape[0], "y")
        name = _name(fig, tr, titles, k)
        chans = np.asarray(tr.customdata) if tr.customdata is not None else None
        if chans is not None and chans.shape == z.shape and chans.dtype.kind in "iu":   # a grid of channels
            for c in dict.fromkeys(int(v) for v in chans.ravel() if v >= 0):
                rows, cols = np.nonzero(chans == c)
                r, q = slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)
                out.append((f"channel {c}", z[r, q], np.arange(q.stop - q.start), np.arange(r.stop - r.start)))
            continue
        if tr.type == "image" and tr.dx and tr.dx < 1:                   # repeated pixels: one value each
            f = int(round(1 / tr.dx))
            z, xs, ys = z[::f, ::f], xs[::f], ys[::f]
        out.append((name, z, xs, ys))
    return out


def _where(z, xs, ys, pick) -> str:
    r, c = np.unravel_index(pick(z), z.shape)
    return f"{_fmt(xs[c])}, {_fmt(ys[r])}"


def _grid_text(name: str, z, xs, ys) -> str:
    h, w = z.shape
    if h * w <= SMALL:
        return f"**{_esc(name)}** (rows: y, columns: x)\n\n" + table(
            ["y \\ x"] + [_fmt(x) for x in xs], [[ys[r]] + list(z[r]) for r in range(h)])
    fy, fx = -(-h // COARSE), -(-w // COARSE)
    blocks = [[np.nanmean(z[r:r + fy, c:c + fx]) for c in range(0, w, fx)] for r in range(0, h, fy)]
    return (f"**{_esc(name)}**: means of {fy} × {fx} blocks (rows: y, columns: x)\n\n"
            + table(["y \\ x"] + [f"{_fmt(xs[c])}–{_fmt(xs[min(c + fx, w) - 1])}" for c in range(0, w, fx)],
                    [[f"{_fmt(ys[r])}–{_fmt(ys[min(r + fy, h) - 1])}"] + row for r, row in zip(range(0, h, fy), blocks)]))


def maps_text(fig) -> str:
    """The heat maps and images of ``fig``: a summary row per panel, and grids where they stay readable."""
    found = _maps(fig)
    if not found:
        return ""
    rows = [[n, np.nanmin(z), np.nanmean(z), np.nanmax(z), _where(z, xs, ys, np.nanargmax),
             _where(z, xs, ys, np.nanargmin)] for n, z, xs, ys in found]
    parts = [table(["panel", "smallest", "mean", "largest", "largest at (x, y)", "smallest at (x, y)"], rows)]
    if len(found) <= 6:
        parts += [_grid_text(n, z, xs, ys) for n, z, xs, ys in found if z.size <= SMALL or len(found) <= 4]
    return "\n\n".join(parts)


def _series(fig):
    titles = _titles(fig)
    lines, marks, clouds, bars, hists = [], [], [], [], []
    for k, tr in enumerate(fig.data):
        if tr.type == "bar":
            bars.append((_name(fig, tr, titles, k), tr))
        elif tr.type == "histogram":
            hists.append((_name(fig, tr, titles, k), np.asarray(tr.x if tr.x is not None else tr.y, np.float64)))
        elif tr.type == "scatter" and tr.x is not None and tr.y is not None and tr.name != "pixels" \
                and tr.hoverinfo != "skip" and tr.visible is not False:
            x, y = np.asarray(tr.x), np.asarray(tr.y)
            mode = tr.mode or ("lines+markers" if len(x) < 20 else "lines")
            name = _name(fig, tr, titles, k) if tr.name or len(titles) > 1 else (tr.name or f"series {k + 1}")
            if "lines" in mode and len(x) > 1:
                lines.append((name, x, y))
            elif len(x) <= 12:
                marks.append((name, x, y))
            else:
                clouds.append((name, x, y))
    return lines, marks, clouds, bars, hists


def _numeric(a) -> bool:
    return np.asarray(a).dtype.kind in "iuf"


def lines_text(fig) -> str:
    """Lines, bars, histograms and marked points of ``fig`` as tables."""
    lines, marks, clouds, bars, hists = _series(fig)
    parts = []
    if lines:
        rows = []
        for name, x, y in lines:
            yy = np.asarray(y, np.float64)
            lo, hi = int(np.nanargmin(yy)), int(np.nanargmax(yy))
            rows.append([name, yy[0], yy[-1], f"{_fmt(yy[lo])} at {_fmt(x[lo])}", f"{_fmt(yy[hi])} at {_fmt(x[hi])}"])
        parts.append(table(["series", "first", "last", "smallest (at x)", "largest (at x)"], rows))
        groups: list[list] = []
        for name, x, y in lines:                                     # series sharing their x share a table
            for g in groups:
                if len(g[0][1]) == len(x) and np.array_equal(g[0][1], x):
                    g.append((name, x, y))
                    break
            else:
                groups.append([(name, x, y)])
        xtitle = fig.layout.xaxis.title.text if fig.layout.xaxis.title else None
        for g in groups[:6]:
            x = g[0][1]
            idx = np.unique(np.linspace(0, len(x) - 1, min(len(x), ROWS)).round().astype(int))
            parts.append(table([xtitle or "x"] + [n for n, _, _ in g],
                               [[x[i]] + [np.asarray(y)[i] for _, _, y in g] for i in idx]))
    for name, tr in bars:
        cat, val = (tr.y, tr.x) if tr.orientation == "h" else (tr.x, tr.y)
        val = [] if val is None else list(val)
        cat = range(len(val)) if cat is None else cat                  # a bar chart given only its values
        parts.append(table(["", name or "value"], [[c, v] for c, v in zip(list(cat), list(val))]))
    if hists:
        parts.append(table(["", "count", "mean", "standard deviation", "smallest", "largest"],
                           [[n, v.size, v.mean(), v.std(), v.min(), v.max()] for n, v in hists]))
    if clouds:
        parts.append(table(["points", "how many", "mean x", "mean y", "x from … to", "y from … to"],
                           [[n, len(x), np.mean(x), np.mean(y), f"{_fmt(np.min(x))} … {_fmt(np.max(x))}",
                             f"{_fmt(np.min(y))} … {_fmt(np.max(y))}"]
                            for n, x, y in clouds if _numeric(x) and _numeric(y)]))
    if marks:
        parts.append(table(["marked", "x", "y"], [[n, xv, yv] for n, x, y in marks for xv, yv in zip(x, y)]))
    return "\n\n".join(parts)


def figure_text(fig) -> str:
    """Everything ``fig`` shows as Markdown tables ("" for a figure without data, e.g. a drawn diagram)."""
    return "\n\n".join(p for p in (maps_text(fig), lines_text(fig)) if p)
