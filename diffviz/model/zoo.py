"""The registry of shipped models: which checkpoints exist, what each one is, and loading them once.

    from diffviz import zoo
    zoo.available()                 # ['mnist', 'mnist-noskip', ...] (those whose files exist)
    model, meta = zoo.load("mnist") # one shared instance per process (thread-safe)

Each entry's files live under the repository's ``models/`` folder (``models/<name>.safetensors`` and
``models/<name>.json``), written by ``python -m diffviz.cli.train --export``.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from diffviz.model import checkpoint
from diffviz.paths import MODELS_DIR

# The default guidance scale per kind of model (classifier-free guidance weight w).
GUIDANCE = {"class": 2.0, "text": 3.0}


class UnknownModelError(ValueError, KeyError):
    """A model name that is not in the registry; the message lists the names that are."""

    def __str__(self):                      # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Entry:
    """One model of the zoo: its name, a line for the picker, where its files are, its default guidance."""

    name: str
    description: str            # one line, for the app's model picker
    kind: str                   # "class" (digit label) or "text" (caption)
    default_guidance: float
    prefix: Path | None = None  # checkpoint prefix (add .safetensors / .json); default models/<name>

    def __post_init__(self):
        if self.kind not in GUIDANCE:
            raise ValueError(f"kind must be one of {list(GUIDANCE)}, not {self.kind!r}")
        object.__setattr__(self, "prefix", Path(self.prefix) if self.prefix is not None else MODELS_DIR / self.name)

    def exists(self) -> bool:
        return all(p.is_file() for p in checkpoint.paths(self.prefix))


MODELS: dict[str, Entry] = {e.name: e for e in (
    Entry("mnist", "The lesson's U-Net: class-conditional, skips, self-attention at 7×7; 2,500 steps",
          "class", GUIDANCE["class"]),
    Entry("mnist-noskip", "Ablation: the same recipe with use_skips=False (no skip connections), 1,500 steps",
          "class", GUIDANCE["class"]),
    Entry("mnist-step1500", "The lesson's U-Net trained for 1,500 steps: the ablations' exact recipe, their fair partner",
          "class", GUIDANCE["class"]),
    Entry("mnist-noattn", "Ablation: the same recipe with use_attention=False (no attention), 1,500 steps",
          "class", GUIDANCE["class"]),
    Entry("shapes", "Text-conditioned captioned shapes: the caption steers the U-Net through cross-attention; "
          "each word reads its own phrase, each pixel knows its place, and its word maps were taught to stay "
          "on their shape (grounding); 12,700 steps",
          "text", GUIDANCE["text"]),
    Entry("shapes-ungrounded", "Ablation: the shapes model before grounding (10,400 steps): it draws the captions as "
          "well, but its word maps, learned on their own, are blurry",
          "text", GUIDANCE["text"]),
)}


def entry(name: str) -> Entry:
    """The registry entry for ``name``; `UnknownModelError` lists the known names otherwise."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise UnknownModelError(f"unknown model {name!r}; the registry has: {', '.join(MODELS)}") from None


def names(kind: str | None = None) -> list[str]:
    """Registry names, optionally only one kind ("class" or "text")."""
    return [n for n, e in MODELS.items() if kind is None or e.kind == kind]


def available(kind: str | None = None) -> list[str]:
    """Registry names whose checkpoint files exist, in registry order."""
    return [n for n in names(kind) if MODELS[n].exists()]


def describe(name: str) -> str:
    """One line for a picker: "mnist: The lesson's U-Net: ...", marked when its files are missing."""
    e = entry(name)
    return f"{e.name}: {e.description}" + ("" if e.exists() else " (not exported yet)")


def default_device() -> str:
    """'cuda' when a GPU is there, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def native_bf16(device: str) -> bool:
    """Whether this device computes bfloat16 natively (a GPU that supports it; a CPU with AVX-512 BF16 or AMX).

    There the U-Net in bf16 autocast runs about 2x faster than float32; elsewhere bf16 is emulated and slower.
    """
    if str(device).startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return any(getattr(cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


_CACHE: dict = {}
_LOCK = threading.Lock()


def load(name: str, device: str | None = None):
    """(model, meta) for a registry name, loaded once per process and device and shared after.

    The model is in eval mode; treat it as read-only (it is shared between threads). Raises
    `UnknownModelError` for a name not in the registry and `checkpoint.CheckpointError` (naming
    the file) when its files are missing or broken.
    """
    e = entry(name)
    device = device or default_device()
    key = (e.name, str(e.prefix), device)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = checkpoint.load_checkpoint(e.prefix, device)
            if os.environ.get("DIFFVIZ_TRACE_LOADS"):           # the classroom benchmark counts these lines
                print(f"diffviz-load {e.name} {device}", file=sys.stderr, flush=True)
        return _CACHE[key]


def clear_cache() -> None:
    """Forget loaded models (tests; after re-exporting a checkpoint)."""
    with _LOCK:
        _CACHE.clear()
