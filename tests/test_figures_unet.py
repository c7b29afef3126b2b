"""diffviz.figures_unet: the plotly builders of the U-Net pages, checked without a browser: shared and
symmetric colour scales, nearest-neighbour cells, square panels side by side, labelled axes."""

import json

import numpy as np
import pytest
from plotly.colors import sample_colorscale

from diffviz.figures import curves, diagram, maps


def js(fig) -> dict:
    """The figure as the browser receives it (must serialise)."""
    return json.loads(fig.to_json())


def _rgb_at(scale, positions) -> list[tuple[float, float, float]]:
    """The (r, g, b) of a plotly colour scale at ``positions`` in [0, 1] (plotly's own interpolation)."""
    out = []
    for c in sample_colorscale([[float(p), c] for p, c in scale], list(positions)):
        out.append(tuple(float(v) for v in c[c.index("(") + 1:-1].split(",")))
    return out


def test_mosaic_places_maps_with_gaps():
    stack = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    z, which = maps.mosaic(stack, ncol=3, pad=1)
    assert z.shape == (2 * 2 + 1, 3 * 3 + 2)
    np.testing.assert_array_equal(z[:2, :3], stack[0])
    np.testing.assert_array_equal(z[3:5, 4:7], stack[4])
    assert np.isnan(z[2]).all() and np.isnan(z[:, 3]).all()           # gaps are NaN (transparent)
    assert np.isnan(z[3:, 8:]).all() and (which[3:, 8:] == -1).all()   # the empty sixth slot
    assert set(np.unique(which)) == {-1, 0, 1, 2, 3, 4}


def test_channel_grid_is_diverging_symmetric_and_unsmoothed():
    stack = np.random.default_rng(0).normal(size=(16, 7, 7))
    fig = maps.channel_grid(stack, list(range(100, 116)), zmax=2.5, title="encoder level 2")
    hm = fig.data[0]
    assert hm.type == "heatmap" and hm.zmin == -2.5 and hm.zmax == 2.5
    assert hm.zsmooth is False and fig.layout.yaxis.scaleanchor == "x"
    lo, mid, hi = _rgb_at(hm.colorscale, (0.0, 0.5, 1.0))
    assert lo[2] > lo[0] and hi[0] > hi[2]                          # blue below zero, red above
    assert min(mid) > 230                                           # zero is (near) white
    assert 100 in np.asarray(hm.customdata) and "channel" in hm.hovertemplate
    assert fig.layout.title.text == "encoder level 2"
    js(fig)


def test_panel_row_shares_one_scale_per_kind():
    img = np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    fig = maps.panel_row([maps.Panel("x_t", img * 3),                                  # images: fixed −1..1
                        maps.Panel("ε̂ a", img[0], "signed", 1.0),
                        maps.Panel("ε̂ b", img[0] * 2, "signed", 2.0),
                        maps.Panel("a − b", img[0], "diff", 0.5)], title="row")
    t = fig.data
    assert t[0].zmin == -1 and t[0].zmax == 1 and t[0].showscale is False
    assert float(np.max(t[0].z)) <= 1.0                                           # clipped, never rescaled
    assert (t[1].zmin, t[1].zmax) == (t[2].zmin, t[2].zmax) == (-2.0, 2.0)         # one limit for both
    assert [tr.showscale for tr in t[1:]] == [False, True, True]                  # one colour bar per kind
    assert t[3].zmin == -0.5 and t[3].zmax == 0.5 and t[3].colorscale != t[1].colorscale
    assert all(tr.zsmooth is False for tr in t)
    # square panels of the requested size, side by side, each on its own axes
    assert fig.layout.width > 4 * 240 and fig.layout.height >= 240
    for i, tr in enumerate(t):
        s = "" if i == 0 else str(i + 1)
        assert tr.xaxis == f"x{s}" and fig.layout[f"yaxis{s}"].scaleanchor == f"x{s}"
    doms = [fig.layout[f"xaxis{s}"].domain for s in ("", "2", "3", "4")]
    assert all(a[1] <= b[0] for a, b in zip(doms, doms[1:]))                      # left to right, no overlap
    assert [a.text for a in fig.layout.annotations] == ["x_t", "ε̂ a", "ε̂ b", "a − b"]
    js(fig)


def test_panel_row_averages_channels_of_signed_maps_and_shows_rgb():
    rgb = np.zeros((3, 4, 4), np.float32)
    rgb[0] = 1.0
    fig = maps.panel_row([maps.Panel("rgb", rgb), maps.Panel("d", rgb, "diff", 1.0)], ncol=1)
    assert fig.data[0].type == "image" and np.asarray(fig.data[0].z).shape == (4, 4, 3)
    assert np.asarray(fig.data[1].z).shape == (4, 4)                               # a 2-D map (3-D breaks plotly.js)
    np.testing.assert_allclose(np.asarray(fig.data[1].z), 1 / 3)
    assert fig.layout.yaxis2.domain[1] < fig.layout.yaxis.domain[0]               # ncol=1: two rows


def test_overlay_stretches_each_cell_over_its_pixels_and_marks_the_query():
    base = np.zeros((28, 28), np.float32)
    heats = np.random.default_rng(0).random((3, 7, 7)).astype(np.float32)
    fig = maps.overlay_grid(base, heats, ["h0", "h1", "mean"], zmax=0.8, query=(2, 5))
    assert len(fig.data) == 6                                                     # base + heat per panel
    heat = fig.data[1]
    assert heat.dx == 4 and heat.dy == 4 and heat.x0 == 1.5 and heat.zsmooth is False
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == 0.8      # one scale, from 0
    assert all(tr.coloraxis == "coloraxis" for tr in fig.data[1::2])
    rect = fig.layout.shapes[0]
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (19.5, 23.5, 7.5, 11.5)          # cell (2, 5) in pixels
    assert len(fig.layout.shapes) == 3 and fig.layout.shapes[2].xref == "x3"
    js(fig)


def test_lines_vs_t_marks_the_current_step_and_labels_axes():
    ts = np.arange(999, -1, -40)
    fig = curves.lines_vs_t(ts, {"skip": np.ones(len(ts)), "backbone": np.zeros(len(ts))}, "RMS", current_t=519,
                        dashed={"backbone"})
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "RMS"
    assert fig.layout.xaxis.autorange == "reversed"                               # sampling reads left to right
    assert fig.layout.shapes[0].x0 == 519 and "519" in fig.layout.annotations[0].text
    assert fig.data[1].line.dash == "dash" and fig.data[0].line.color != fig.data[1].line.color
    assert curves.lines_vs_t(ts, {"a": ts}, "y", reverse=False).layout.xaxis.autorange is True


def test_bars_curves_and_heat_maps_have_labelled_axes():
    bars = curves.grouped_bars(["level 0", "level 1"], {"skip": [0.5, 0.2], "backbone": [0.1, 0.3]}, "share",
                           "decoder level", percent=True)
    assert bars.layout.yaxis.tickformat == ".0%" and bars.data[0].text == ("50%", "20%")
    energy = curves.energy_ranking([4.0, 3.0, 2.0, 1.0], [7, 1, 0, 3])
    assert energy.layout.shapes[0].x0 == 3 and energy.layout.yaxis2.overlaying == "y"   # 40+30+20 = 90%
    assert curves.energy_ranking([8.0, 1.5, 0.5], [0, 1, 2]).layout.shapes[0].x0 == 2
    heat = curves.heat_over_t(np.ones((5, 3)) * -0.5, np.arange(5), ytitle="dimension")
    assert heat.data[0].zmin == -0.5 and heat.data[0].zmax == 0.5 and np.asarray(heat.data[0].z).shape == (3, 5)
    curve = curves.error_curve([0, 500, 999], [0.3, 0.1, 0.4], true_t=519, wrong_t=100)
    assert [s.x0 for s in curve.layout.shapes] == [519, 100]
    arch = diagram.architecture([{"stage": "enc 0", "resolution": 28, "channels": 32},
                            {"stage": "bottleneck", "resolution": 7, "channels": 128},
                            {"stage": "dec 0", "resolution": 28, "channels": 32}])
    assert arch.data[0].text == ("28×28", "7×7", "28×28")
    for fig in (bars, energy, heat, curve, arch):
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
        js(fig)


@pytest.mark.parametrize("n, ncol", [(1, 1), (5, 5), (6, 3)])
def test_grid_sizes(n, ncol):
    """Measured in pixels on the figure: every panel is ``size`` px square, panels of a row sit side by
    side (a small gap, no overlap), rows stack, and the figure is not much larger than its panels."""
    size = 100
    fig = maps.panel_row([maps.Panel(str(i), np.zeros((1, 8, 8))) for i in range(n)], size=size, ncol=ncol)
    lay = fig.layout
    pw, ph = lay.width - lay.margin.l - lay.margin.r, lay.height - lay.margin.t - lay.margin.b
    boxes = []                                                      # (x0, x1, y0, y1) in pixels
    for i in range(n):
        s = "" if i == 0 else str(i + 1)
        (x0, x1), (y0, y1) = lay[f"xaxis{s}"].domain, lay[f"yaxis{s}"].domain
        boxes.append((x0 * pw, x1 * pw, y0 * ph, y1 * ph))
    for x0, x1, y0, y1 in boxes:
        assert x1 - x0 == pytest.approx(size, abs=0.5) and y1 - y0 == pytest.approx(size, abs=0.5)
    rows = [boxes[r * ncol:(r + 1) * ncol] for r in range(-(-n // ncol))]
    for row in rows:
        assert len({(b[2], b[3]) for b in row}) == 1                 # one row: one height
        for a, b in zip(row, row[1:]):
            assert 0 < b[0] - a[1] <= size / 4                        # side by side, not stretched apart
    for upper, lower in zip(rows, rows[1:]):
        assert 0 < upper[0][2] - lower[0][3] <= size / 2             # the row below, room for its titles
    assert size * ncol < lay.width <= size * ncol + 30 * ncol + 40
    assert size * len(rows) < lay.height <= (size + 40) * len(rows) + 40
