"""One visual language for every figure: the colours and colour scales, colour-blind safe.

  * images (x_t, x̂0, x0) use a fixed grey scale, -1 = black … +1 = white, for every step;
  * signed tensors (noise ε, ε̂) use one diverging map (blue < 0 < red), symmetric around 0;
  * differences between two runs use their own diverging map, so they are never read as noise;
  * parts of the U-Net and line series use the Okabe–Ito colours, distinguishable with every
    common colour-vision deficiency, on light and dark themes.
May import nothing of diffviz.
"""

from __future__ import annotations

GREY = [[0.0, "#000000"], [1.0, "#ffffff"]]         # images: -1 = black … +1 = white
DIM_GREYS = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(150,150,150)"]]       # under an overlay: the heat stays visible
DIVERGING = "RdBu_r"                                # signed values: blue = negative, white = 0, red = positive
DIFF = "PuOr"                                       # differences between two runs
# Okabe–Ito: distinguishable with every common colour-vision deficiency, on light and dark themes.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
SCHEDULE_COLOURS = {"linear": COLOURS[0], "cosine": COLOURS[1]}
PART_COLOURS = {"encoder": "#0072B2", "decoder": "#D55E00", "bottleneck": "#CC79A7", "stem": "#009E73",
                "out": "#009E73", "time": "#009E73", "text": "#E69F00", "io": "#999999"}
# Sequential, colour-blind safe (viridis' end points) and see-through where the weight is small.
HEAT = [[0.0, "rgba(68,1,84,0)"], [0.1, "rgba(68,1,84,0.12)"], [0.3, "rgba(59,82,139,0.3)"],
        [0.55, "rgba(33,145,140,0.55)"], [0.8, "rgba(94,201,98,0.8)"], [1.0, "rgba(253,231,37,0.95)"]]
