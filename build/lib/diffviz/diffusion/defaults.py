"""The app's default sampling settings (one place, shared by the pages and the benchmark)."""

from __future__ import annotations

SAMPLER = "ddim"
STEPS = 25                 # DDIM 25 draws as well as 50 here (measured in MODELS.md) at half the cost
GUIDANCE = 2.0
SEED = 0
LABEL = 7
PROMPT = "a large red circle at the top left"
