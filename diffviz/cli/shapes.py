"""diffviz-shapes: check the shapes checker against rendered scenes (``--validate N``).
"""

from __future__ import annotations

import argparse

from diffviz.data.shapes_check import validate_checker


def main(argv=None) -> None:
    """CLI: `python -m diffviz.cli.shapes --validate 2000` prints the checker agreement."""
    parser = argparse.ArgumentParser(prog="diffviz-shapes", description=__doc__.splitlines()[0])
    parser.add_argument("--validate", type=int, metavar="N", required=True,
                        help="number of random scenes to render and check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0,
                        help="Gaussian noise std in [-1, 1] units")
    parser.add_argument("--stray", type=int, default=0, help="stray pixels per image")
    args = parser.parse_args(argv)
    share = validate_checker(args.validate, args.seed, args.noise, args.stray)
    print(f"checker agreement on {args.validate} rendered scenes: {share:.2%}")


if __name__ == "__main__":
    main()
