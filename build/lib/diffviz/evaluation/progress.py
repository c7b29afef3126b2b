"""What the evaluation runs share: progress messages on stderr and the bfloat16 switch.

May import nothing of diffviz.
"""

from __future__ import annotations

import sys


def log(progress, msg: str) -> None:
    """Print a progress message on stderr when ``progress`` is on."""
    if progress:
        print(msg, file=sys.stderr, flush=True)


BF16 = {"on": False}   # --bf16: the U-Net's matmuls in bfloat16 (2x faster on CPUs with native bf16, far slower on others); the sampler stays float32
