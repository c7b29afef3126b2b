"""Make the committed sample grids: MNIST models side by side, and shapes captions.

    python docs/compare_grid.py            # docs/samples-compare-seed0.png
    python docs/compare_grid.py --captions # docs/samples-shapes-captions-seed0.png

MNIST: one row per model, columns = digits 0-9 with two seeds each (seed 0 + i for column i), at
the app's default sampler settings. The same seed means the same starting noise x_T in every row,
so the rows differ only by the network. Captions: one row per caption, eight seeds, `shapes`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffviz.diffusion import defaults, sampling
from diffviz.figures.images import _font, grid_image
from diffviz.model import zoo

MODELS = "mnist,mnist-step1500,mnist-noskip,mnist-noattn"
CAPTIONS = ["a small blue square at the top right",
            "a large red circle at the top left and a small yellow triangle at the bottom right",
            "a large white triangle in the centre",
            "a small red square at the bottom left and a large blue circle at the top right"]


def rows_image(rows, left: int) -> Image.Image:
    """[(label, grid image)] stacked, each label in a column of ``left`` pixels before its row."""
    w, h = rows[0][1].size
    out = Image.new("RGB", (left + w, h * len(rows)), (38, 39, 48))
    draw = ImageDraw.Draw(out)
    for i, (name, img) in enumerate(rows):
        out.paste(img.convert("RGB"), (left, i * h))
        draw.text((8, i * h + h // 2 - 8), name, fill=(230, 230, 230), font=_font(14))
    return out


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None)
    p.add_argument("--models", default=MODELS)
    p.add_argument("--captions", action="store_true", help="the shapes caption grid instead")
    p.add_argument("--scale", type=int, default=3)
    args = p.parse_args(argv)
    kw = dict(sampler=defaults.SAMPLER, steps=defaults.STEPS, seed=0)
    rows = []
    if args.captions:
        model, _ = zoo.load("shapes")
        for c in CAPTIONS:
            x = sampling.sample(model, [c] * 8, guidance=zoo.MODELS["shapes"].default_guidance, **kw)
            rows.append((c, grid_image(x, ncol=8, scale=args.scale)))
        out, default = rows_image(rows, left=560), "samples-shapes-captions-seed0.png"
    else:
        labels = [d for d in range(10) for _ in range(2)]
        for name in args.models.split(","):
            model, _ = zoo.load(name)
            x = sampling.sample(model, labels, guidance=zoo.MODELS[name].default_guidance, **kw)
            rows.append((name, grid_image(x, ncol=len(labels), scale=args.scale)))
        out, default = rows_image(rows, left=150), "samples-compare-seed0.png"
    args.out = args.out or str(Path(__file__).with_name(default))
    out.save(args.out)
    print(f"wrote {args.out}")
    return Path(args.out)


if __name__ == "__main__":
    main()
