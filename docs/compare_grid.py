"""Make docs/samples-compare-seed0.png: the MNIST models side by side on the same seeds.

    python docs/compare_grid.py [--out docs/samples-compare-seed0.png] [--models mnist,mnist-step1500,...]

One row per model, columns = digits 0-9 with two seeds each (seed 0 + i for column i), at the
app's default sampler settings. The same seed means the same starting noise x_T in every row, so
the rows differ only by the network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffviz import defaults, sampling, zoo                  # noqa: E402
from diffviz.figures import _font, grid_image              # noqa: E402

MODELS = "mnist,mnist-step1500,mnist-noskip,mnist-noattn"


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(Path(__file__).with_name("samples-compare-seed0.png")))
    p.add_argument("--models", default=MODELS)
    p.add_argument("--scale", type=int, default=3)
    args = p.parse_args(argv)
    labels = [d for d in range(10) for _ in range(2)]
    rows = []
    for name in args.models.split(","):
        model, _ = zoo.load(name)
        x = sampling.sample(model, labels, sampler=defaults.SAMPLER, steps=defaults.STEPS,
                            guidance=zoo.MODELS[name].default_guidance, seed=0)
        rows.append((name, grid_image(x, ncol=len(labels), scale=args.scale)))
    left = 150
    w, h = rows[0][1].size
    out = Image.new("RGB", (left + w, h * len(rows)), (38, 39, 48))
    draw = ImageDraw.Draw(out)
    for i, (name, img) in enumerate(rows):
        out.paste(img.convert("RGB"), (left, i * h))
        draw.text((8, i * h + h // 2 - 8), name, fill=(230, 230, 230), font=_font(16))
    out.save(args.out)
    print(f"wrote {args.out}")
    return Path(args.out)


if __name__ == "__main__":
    main()
