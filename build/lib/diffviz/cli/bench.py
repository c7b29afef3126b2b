"""Time the instrumented U-Net on this machine: ``python -m diffviz.cli.bench --json``.

Measures, in one process and interleaved (so a busy machine slows every number alike), with the
``mnist`` preset at batch 1, DDIM 50 steps and classifier-free guidance at the app's default scale:

    forward_ms            one guided forward pass (batch 2: conditional + unconditional)
    trajectory_s          a whole `sampling.run`, nothing captured
    trajectory_capture_s  the same with capture_select="all" at every step
    capture_overhead      trajectory_capture_s / trajectory_s
    captured_mb_per_step  bytes of the full capture per step (Trajectory.traces), in MB (1e6 bytes)
    peer_forward_ratio    our forward time / a diffusers UNet2DModel of the same channels, depth and
                          attention levels (batch 2, eval, inference mode), measured alongside

Every value is the median over ``--repeats`` rounds. Uses the shipped weights ``models/mnist`` when
they exist (the timing does not depend on them), else a randomly initialised network.
"""

from __future__ import annotations

import argparse
import json
import sys

from diffviz.evaluation.speed import STEPS, measure


def parser() -> argparse.ArgumentParser:
    """The command line of diffviz-bench."""
    p = argparse.ArgumentParser(prog="diffviz-bench", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object (else one line per key)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians are reported")
    p.add_argument("--steps", type=int, default=STEPS, help="sampling steps per trajectory")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--quick", action="store_true", help="a smoke run: 1 repeat, 5 steps, 3 forwards")
    return p


def main(argv=None) -> dict:
    """diffviz-bench: parse the command line and run."""
    p = parser()
    args = p.parse_args(argv)
    if args.quick:
        res = measure(repeats=1, steps=5, threads=args.threads, forwards=3)
    else:
        res = measure(repeats=args.repeats, steps=args.steps, threads=args.threads)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>22}  {v}")
    sys.stdout.flush()
    return res


if __name__ == "__main__":
    main()
