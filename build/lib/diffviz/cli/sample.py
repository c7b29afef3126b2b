"""Draw samples from a shipped model into a PNG grid.

    python -m diffviz.cli.sample --model mnist --label 7 --n 16 --seed 0 --out grid.png
    python -m diffviz.cli.sample --model shapes --prompt "a small blue square at the top right" \
        --prompt "a large red circle in the centre" --n 8 --out shapes_check.png --npy shapes_check.npy

``--model`` is a zoo name (see `diffviz.model.zoo`) or a checkpoint prefix (``path/to/name`` for
``name.safetensors`` + ``name.json``). Sampler, steps and guidance default to the app's
(`diffviz.diffusion.defaults`; guidance = the zoo's default for the model). ``--label`` (class models) and
``--prompt`` (text models) may repeat: each condition gets a row of ``--n`` samples, labelled.
Sample i uses seed ``--seed + i``, so the images are the app's for the same settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from diffviz.data import text
from diffviz.diffusion import defaults, sampling
from diffviz.figures.images import save_grid
from diffviz.model import checkpoint, zoo

PROMPT = getattr(defaults, "PROMPT", "a large red circle at the top left")


def parser() -> argparse.ArgumentParser:
    """The command line of diffviz-sample."""
    p = argparse.ArgumentParser(prog="diffviz-sample", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist",
                   help=f"a zoo name ({', '.join(zoo.names())}) or a checkpoint prefix path")
    p.add_argument("--label", type=int, action="append", default=None,
                   help=f"digit to draw, class models (default {defaults.LABEL}; repeat for more rows)")
    p.add_argument("--prompt", action="append", default=None,
                   help=f"caption, text models (default {PROMPT!r}; repeat for more rows)")
    p.add_argument("--n", type=int, default=16, help="samples per label or prompt")
    p.add_argument("--seed", type=int, default=defaults.SEED, help="sample i uses seed + i")
    p.add_argument("--sampler", default=defaults.SAMPLER, choices=["ddim", "ddpm"])
    p.add_argument("--steps", type=int, default=defaults.STEPS)
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance w (default: the zoo's default for the model)")
    p.add_argument("--out", default="grid.png", help="PNG grid to write")
    p.add_argument("--npy", default=None, help="also save the raw samples (N, C, H, W) float32 in [-1, 1]")
    p.add_argument("--ncol", type=int, default=None, help="grid columns (default 8, or --n with several rows)")
    p.add_argument("--scale", type=int, default=3, help="pixel scale of the PNG")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    return p


def load_model(spec: str, device: str):
    """(model, meta, default guidance) for a zoo name or a checkpoint prefix path."""
    if spec in zoo.MODELS:
        model, meta = zoo.load(spec, device)
        return model, meta, zoo.MODELS[spec].default_guidance
    if not any(p.is_file() for p in checkpoint.paths(spec)):
        raise zoo.UnknownModelError(f"--model {spec!r} is neither a zoo model ({', '.join(zoo.names())}) "
                                    f"nor a checkpoint prefix (no {checkpoint.paths(spec)[1]})")
    model, meta = checkpoint.load_checkpoint(spec, device)
    return model, meta, zoo.GUIDANCE.get(model.config.conditioning, defaults.GUIDANCE)


def label_rows(path: Path, names: list[str], row_height: int, pad: int) -> None:
    """Append a column with one caption per grid row to the PNG at ``path``."""
    from PIL import Image, ImageDraw, ImageFont
    grid = Image.open(path)
    font = ImageFont.load_default()
    draw = ImageDraw.Draw(grid)
    width = int(max(draw.textlength(n, font=font) for n in names)) + 12
    canvas = Image.new(grid.mode, (grid.width + width, grid.height), 40 if grid.mode == "L" else (40, 40, 40))
    canvas.paste(grid, (0, 0))
    draw = ImageDraw.Draw(canvas)
    fill = 235 if grid.mode == "L" else (235, 235, 235)
    for r, name in enumerate(names):
        draw.text((grid.width + 4, pad + r * row_height + row_height // 2 - 6), name, fill=fill, font=font)
    canvas.save(path)


def main(argv=None) -> int:
    """diffviz-sample: draw a grid of samples from a zoo model or checkpoint."""
    p = parser()
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.n < 1:
        p.error("--n must be at least 1")
    device = args.device or zoo.default_device()
    try:
        model, meta, default_g = load_model(args.model, device)
    except (zoo.UnknownModelError, checkpoint.CheckpointError) as e:
        p.error(str(e))
    kind = model.config.conditioning
    if kind == "class":
        if args.prompt:
            p.error(f"--prompt is for text models; {args.model} is class-conditional: use --label 0..9")
        conds = args.label or [defaults.LABEL]
        bad = [c for c in conds if not 0 <= c < model.config.num_classes]
        if bad:
            p.error(f"--label {bad[0]} is not a class of {args.model}: use 0..{model.config.num_classes - 1}")
        names = [f"label {c}" for c in conds]
    elif kind == "text":
        if args.label:
            p.error(f"--label is for class models; {args.model} is text-conditioned: use --prompt \"...\"")
        conds = args.prompt or [PROMPT]
        for c in conds:
            problem = text.validate_caption(c)
            if problem:
                p.error(f"--prompt {c!r}: {problem}")
            try:
                from diffviz.data import shapes
                shapes.parse_caption(c)
            except ValueError as e:
                print(f"warning: {e} (the model was trained on that grammar only)", file=sys.stderr)
        names = list(conds)
    else:
        if args.label or args.prompt:
            p.error(f"{args.model} is unconditional: drop --label / --prompt")
        conds, names = [None], []
    guidance = default_g if args.guidance is None else args.guidance
    all_conds = [c for c in conds for _ in range(args.n)]
    seeds = [args.seed + i for i in range(len(all_conds))]
    try:
        x = sampling.sample(model, all_conds, sampler=args.sampler, steps=args.steps, guidance=guidance, seeds=seeds)
    except ValueError as e:                                  # e.g. --steps outside 1..1000
        p.error(str(e))
    several = len(conds) > 1
    ncol = args.ncol or (args.n if several else min(args.n, 8))
    out = save_grid(x, args.out, ncol=ncol, scale=args.scale)
    if several and ncol == args.n:
        pad, h = 2, model.config.image_size
        label_rows(out, names, (h + pad) * args.scale, pad * args.scale)
    if args.npy:
        Path(args.npy).parent.mkdir(parents=True, exist_ok=True)
        np.save(args.npy, x.astype(np.float32))
    what = ", ".join(names) if names else "unconditional"
    print(f"wrote {out} ({len(x)} samples: {what}; {args.sampler} {args.steps} steps, guidance {guidance}, "
          f"seeds {seeds[0]}..{seeds[-1]})" + (f" and {args.npy}" if args.npy else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
