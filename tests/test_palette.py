"""One visual language: every colour comes from diffviz.figures.palette, one colour per part of the
U-Net, distinguishable under colour-vision deficiencies, and the overview diagram is the legend."""

import re
from itertools import combinations
from pathlib import Path

import numpy as np

from diffviz.figures import curves, diagram, palette
from diffviz.model.config import preset

ROOT = Path(__file__).resolve().parents[1]
COLOUR_LITERAL = re.compile(r"""["'](#[0-9a-fA-F]{3,8}|rgba?\([^)]*\))["']""")


def test_no_colour_literal_outside_the_palette():
    files = [*sorted((ROOT / "diffviz" / "figures").glob("*.py")), *sorted((ROOT / "diffviz" / "app").glob("*.py")),
             *sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
    stray = {str(f.relative_to(ROOT)): COLOUR_LITERAL.findall(f.read_text())
             for f in files if f.name != "palette.py"}
    assert not {k: v for k, v in stray.items() if v}, stray


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0


# Viénot, Brettel & Mollon (1999) simulation matrices in linear RGB.
_SIM = {"protan": np.array([[0.11238, 0.88762, 0.0], [0.11238, 0.88762, 0.0], [0.00401, -0.00401, 1.0]]),
        "deutan": np.array([[0.29275, 0.70725, 0.0], [0.29275, 0.70725, 0.0], [-0.02234, 0.02234, 1.0]]),
        "none": np.eye(3)}


def _simulate(c: np.ndarray, kind: str) -> np.ndarray:
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    out = np.clip(_SIM[kind] @ lin, 0, 1)
    return np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055)


def test_parts_have_distinct_colours_under_colour_vision_deficiencies():
    parts = {"encoder": palette.part_colour("encoder.1"), "decoder": palette.part_colour("decoder.1"),
             "bottleneck": palette.BOTTLENECK, "skip": palette.SKIP, "text": palette.TEXT}
    assert len(set(parts.values())) == len(parts)
    for kind in _SIM:
        for (a, ca), (b, cb) in combinations(parts.items(), 2):
            d = np.linalg.norm(_simulate(_rgb(ca), kind) - _simulate(_rgb(cb), kind))
            assert d > 0.12, f"{a} and {b} look alike ({kind}): {ca} vs {cb}, distance {d:.3f}"
    for shades in (palette.ENCODER_SHADES, palette.DECODER_SHADES):       # levels differ by lightness
        light = [float(_rgb(c) @ [0.2126, 0.7152, 0.0722]) for c in shades]
        assert all(a > b + 0.05 for a, b in zip(light, light[1:])), light


def test_part_colour_reads_every_spelling():
    assert palette.part_colour("encoder.0") == palette.part_colour("encoder level 0 · 28×28") == \
        palette.ENCODER_SHADES[0]
    assert palette.part_colour("decoder.2") == palette.part_colour("dec 2") == palette.DECODER_SHADES[2]
    assert palette.part_colour("backbone", 2) == palette.DECODER_SHADES[2]
    assert palette.part_colour("decoder.1.skip") == palette.SKIP
    assert palette.part_colour("bottleneck · 7×7 · 128 channels") == palette.BOTTLENECK
    assert palette.part_colour("time embedding") == palette.TIME and palette.part_colour("nonsense") == palette.NEUTRAL


def _diagram_colours(cfg) -> set[str]:
    fig = diagram.unet_diagram(cfg, {}, selected=None)
    out = {s.line.color for s in fig.layout.shapes if s.line and s.line.color}
    out |= {a.arrowcolor for a in fig.layout.annotations if a.arrowcolor}
    return out


def test_the_overview_diagram_is_the_legend_of_the_level_colours():
    for cfg in (preset("mnist"), preset("shapes")):
        legend = _diagram_colours(cfg)
        used = {palette.part_colour(f"{p}.{k}") for p in ("encoder", "decoder") for k in range(cfg.levels)}
        used |= {palette.BOTTLENECK, palette.SKIP, palette.TIME}
        assert used <= legend, used - legend
        rows = [{"stage": s, "resolution": 1, "channels": 1}
                for s in [f"enc {k}" for k in range(cfg.levels)] + ["bottleneck"]]
        bars = diagram.architecture(rows)
        assert list(bars.data[0].marker.color) == [palette.part_colour(r["stage"]) for r in rows]


def test_level_lines_and_skip_bars_take_the_part_colours():
    series = {"encoder level 0": [1, 2], "bottleneck": [2, 3], "decoder level 1": [3, 1]}
    fig = curves.lines_vs_t([999, 0], series, "rms", colours={n: palette.part_colour(n) for n in series})
    assert [d.line.color for d in fig.data] == [palette.ENCODER_SHADES[0], palette.BOTTLENECK,
                                                palette.DECODER_SHADES[1]]
    bars = curves.grouped_bars(["level 0"], {"skip": [0.5], "backbone": [0.2]}, "share", "level",
                               colours={"skip": palette.SKIP, "backbone": palette.part_colour("backbone", 0)})
    assert [d.marker.color for d in bars.data] == [palette.SKIP, palette.DECODER_SHADES[0]]
    params = curves.parameter_figure({"time embedding": 1, "encoder.0": 2, "bottleneck": 3, "decoder.0": 4})
    assert list(params.data[0].marker.color) == [palette.TIME, palette.ENCODER_SHADES[0], palette.BOTTLENECK,
                                                 palette.DECODER_SHADES[0]]
