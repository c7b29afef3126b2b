"""Saving and safely loading weights: safetensors + a JSON file with the config and the recipe.

A checkpoint ``models/mnist`` is two files, ``mnist.safetensors`` and ``mnist.json``. Loading
checks every tensor against the architecture the JSON describes; anything missing, truncated,
corrupted or mismatched raises `CheckpointError` naming the file and the problem. Nothing is
ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from diffviz.model.config import UNetConfig
from diffviz.model.unet import UNet


class CheckpointError(RuntimeError):
    """A checkpoint could not be used; the message says which file and why."""


def paths(prefix) -> tuple[Path, Path]:
    """(weights, metadata) file paths for a checkpoint prefix (a suffix given is ignored)."""
    p = Path(prefix)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_checkpoint(model: UNet, prefix, meta: dict | None = None, dtype=torch.float16) -> tuple[Path, Path]:
    """Write weights (float16 by default) and ``{"config": ..., **meta}`` as JSON."""
    weights, info = paths(prefix)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(weights))
    info.write_text(json.dumps({"config": model.config.to_dict(), **(meta or {})}, indent=2) + "\n")
    return weights, info


def read_meta(prefix) -> dict:
    """The JSON half of a checkpoint, validated enough to build its config."""
    _, info = paths(prefix)
    if not info.is_file():
        raise CheckpointError(f"{info}: file is missing")
    try:
        meta = json.loads(info.read_text())
        meta["config"] = UNetConfig.from_dict(meta["config"])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{info}: not valid JSON ({e})") from None
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{info}: bad model config ({e})") from None
    return meta


def read_tensors(weights: Path) -> dict:
    """The tensors of a safetensors file (never pickle); a broken file raises `CheckpointError`."""
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: truncated or corrupted safetensors file ({e})") from None


def check_tensors(weights: Path, expected: dict, tensors: dict, what: str) -> None:
    """Raise `CheckpointError` unless ``tensors`` has exactly ``expected``'s names and shapes, all finite."""
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{weights}: does not match {what}: missing {missing[:5]}, unexpected {extra[:5]}")
    for k, v in expected.items():
        if tensors[k].shape != v.shape:
            raise CheckpointError(f"{weights}: tensor {k} has shape {tuple(tensors[k].shape)}, "
                                  f"{what} needs {tuple(v.shape)}")
        if tensors[k].is_floating_point() and not torch.isfinite(tensors[k]).all():
            raise CheckpointError(f"{weights}: tensor {k} holds NaN or infinite values")


def load_checkpoint(prefix, device: str = "cpu") -> tuple[UNet, dict]:
    """Build the U-Net its JSON describes and fill it with its weights (as float32, eval mode)."""
    weights, _ = paths(prefix)
    meta = read_meta(prefix)
    if not weights.is_file():
        raise CheckpointError(f"{weights}: file is missing")
    tensors = read_tensors(weights)
    model = UNet(meta["config"])
    check_tensors(weights, model.state_dict(), tensors, "its config")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.to(device).eval(), meta
