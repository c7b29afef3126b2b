"""One visual language for every figure: the colours and colour scales, colour-blind safe.

  * images (x_t, x̂0, x0) use a fixed grey scale, -1 = black … +1 = white, for every step;
  * signed tensors (noise ε, ε̂) use one diverging map (blue < 0 < red), symmetric around 0;
  * differences between two runs use their own diverging map, so they are never read as noise;
  * every part of the U-Net has ONE colour, on every page and in every exported figure (the
    overview diagram is the legend): encoder levels are blues, the bottleneck reddish purple,
    decoder levels vermilions (the deeper the level, the darker its shade), skip connections
    green, the backbone (what comes up to a decoder level) its decoder level's colour, the time
    embedding grey, the text encoder orange. The hues are Okabe–Ito's, distinguishable with every
    common colour-vision deficiency; levels of one part differ by lightness only.
  * series that are not parts (heads, seeds, channels) use the Okabe–Ito cycle `SERIES`.
No other module writes a colour literal (a test checks it). May import nothing of diffviz.
"""

from __future__ import annotations

GREY = [[0.0, "#000000"], [1.0, "#ffffff"]]         # images: -1 = black … +1 = white
DIM_GREYS = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(150,150,150)"]]       # under an overlay: the heat stays visible
DIVERGING = "RdBu_r"                                # signed values: blue = negative, white = 0, red = positive
DIFF = "PuOr"                                       # differences between two runs
# Okabe–Ito: distinguishable with every common colour-vision deficiency, on light and dark themes.
SERIES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"]
COLOURS = SERIES                                    # the old name
SCHEDULE_COLOURS = {"linear": SERIES[0], "cosine": SERIES[1]}

# Parts of the U-Net: level k of the encoder / decoder is shade k (level 0 = full resolution, lightest).
ENCODER_SHADES = ["#56B4E9", "#0072B2", "#004D7A", "#002B45"]
DECODER_SHADES = ["#F08A3C", "#D55E00", "#963F00", "#5C2600"]
BOTTLENECK = "#CC79A7"
SKIP = "#009E73"
TIME = "#8C8C8C"
TEXT = "#E69F00"
GLUE = "#8C8C8C"                                    # input, stem, out head, output
PART_COLOURS = {"encoder": ENCODER_SHADES[1], "decoder": DECODER_SHADES[1], "bottleneck": BOTTLENECK,
                "stem": GLUE, "out": GLUE, "time": TIME, "text": TEXT, "io": GLUE, "skip": SKIP,
                "label": TIME}

NEUTRAL = "#888888"                                 # guide lines (the current t), annotations
QUERY = "#D55E00"                                   # the query pixel's square on attention maps
TRUE_T, TOLD_T = "#009E73", "#D55E00"               # the wrong-t experiment's two marks
OUTLINE = "#ffffff"                                 # marker outlines
CLEAR = "rgba(0,0,0,0)"
THEME_TEXT = {"light": "#262730", "dark": "#fafafa"}   # Streamlit's own text colours


def _shade(shades: list[str], level: int) -> str:
    return shades[min(max(int(level), 0), len(shades) - 1)]


def part_colour(name: str, level: int | None = None) -> str:
    """The colour of a part of the U-Net by its name: "encoder.1", "decoder.0", "bottleneck", "skip",
    "backbone" (with ``level``: the decoder level it comes up to), "time embedding", "text encoder",
    "stem", "out", "input", "output", a capture key ("decoder.1.skip") or a readable name
    ("encoder level 1 · 14×14"). Unknown names get the neutral grey."""
    n = name.strip().lower()
    words = n.replace("·", " ").replace(".", " ").split()
    head = words[0] if words else ""
    nums = [int(w) for w in words[1:] if w.isdigit()]
    k = level if level is not None else (nums[0] if nums else 1)
    if "skip" in words:
        return SKIP
    if head in ("encoder", "enc"):
        return _shade(ENCODER_SHADES, k)
    if head in ("decoder", "dec", "backbone") or "upsample" in words:
        return _shade(DECODER_SHADES, k)
    if head in ("bottleneck", "mid", "bot"):
        return BOTTLENECK
    if head in ("time", "timestep", "label"):
        return TIME
    if head == "text":
        return TEXT
    if head in ("stem", "out", "input", "output", "io"):
        return GLUE
    return NEUTRAL

# Attention heat over an image: sequential, colour-blind safe (viridis' end points) and see-through
# where the weight is small.
HEAT = [[0.0, "rgba(68,1,84,0)"], [0.1, "rgba(68,1,84,0.12)"], [0.3, "rgba(59,82,139,0.3)"],
        [0.55, "rgba(33,145,140,0.55)"], [0.8, "rgba(94,201,98,0.8)"], [1.0, "rgba(253,231,37,0.95)"]]

# The drawing canvas: white ink on black like MNIST; for the shapes model the colours the dataset uses.
CANVAS_BACKGROUND, CANVAS_INK = "#000", "#fff"
INK = {"white": "#f0f0f0", "red": "#e63228", "blue": "#285ae6", "yellow": "#f0dc28"}
# Markers that only catch hover and clicks (answer figures): invisible.
CLEAR, ALMOST_CLEAR = "rgba(0,0,0,0)", "rgba(0,0,0,0.01)"

# Ten digit labels on one map: the Okabe–Ito colours, then black, grey and two of Tol's muted colours.
LABEL_COLOURS = COLOURS[:6] + ["#000000", "#999999", "#882255", "#661100"]
OUTLINE = "#000000"                                 # outlines and reference curves drawn over colour
NOT_ASKED = "#c8c8c8"                               # a bar for something not measured (greyed out)
HIGHLIGHT = COLOURS[6]                              # the learner's own point among many (yellow)
LEGEND_BACKGROUND = "rgba(255,255,255,0.6)"          # a legend over a plot: see-through white
REFERENCE = "#888"                                   # reference lines (chance, targets)
