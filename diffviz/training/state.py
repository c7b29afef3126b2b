"""Training state: save and resume (model, EMA, optimiser), grow a checkpoint into a bigger config,
and the sample grid written along the way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from diffviz.model.config import UNetConfig
from diffviz.model.unet import UNet


def init_from(model: UNet, prefix) -> list[str]:
    """Warm-start ``model`` from a checkpoint of a network it extends; returns the names it lacked.

    Every tensor the checkpoint has (same name and shape) is copied. What it lacks starts as an
    identity, so the grown network computes exactly what the old one did at step 0: new pixel
    positions are already zero, and new text-encoder layers get zero output projections (a pre-norm
    residual layer with a zero output adds nothing).
    """
    from diffviz.model.checkpoint import CheckpointError, paths, read_tensors
    old = read_tensors(paths(prefix)[0])
    own = model.state_dict()
    clash = [k for k in old if k in own and old[k].shape != own[k].shape]
    if clash or set(old) - set(own):
        raise CheckpointError(f"{prefix}: cannot grow from it: mismatched {clash[:3]}, unknown {sorted(set(old) - set(own))[:3]}")
    model.load_state_dict({**own, **{k: v.float() for k, v in old.items()}})
    new = sorted(set(own) - set(old))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in new and name.startswith("text_encoder.layers.") and (".attn.to_out." in name or ".mlp.2." in name):
                p.zero_()
    return new


def save_state(out: Path, model, ema, opt, step: int, meta: dict) -> None:
    """Resumable state: float32 weights + EMA, AdamW moments in bf16 (small), JSON for the rest."""
    t = {f"model.{k}": v.detach().cpu() for k, v in model.state_dict().items()}
    t.update({f"ema.{k}": v.detach().cpu() for k, v in ema.state_dict().items()})
    names = dict(zip(map(id, model.parameters()), (n for n, _ in model.named_parameters())))
    for group in opt.param_groups:
        for p in group["params"]:
            s = opt.state.get(p)
            if s:
                t[f"adam.{names[id(p)]}.m"] = s["exp_avg"].to(torch.bfloat16)
                t[f"adam.{names[id(p)]}.v"] = s["exp_avg_sq"].to(torch.bfloat16)
    tmp = out / "state.safetensors.tmp"
    save_file(t, str(tmp))
    os.replace(tmp, out / "state.safetensors")
    (out / "state.json").write_text(json.dumps({**meta, "step": step}, indent=2))


def load_state(run: Path, model, ema, opt) -> int:
    """Restore a run folder's state; returns the step to continue from."""
    t = load_file(str(run / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("ema.")})
    step = json.loads((run / "state.json").read_text())["step"]
    for n, p in model.named_parameters():
        if f"adam.{n}.m" in t:
            opt.state[p] = {"step": torch.tensor(float(step)), "exp_avg": t[f"adam.{n}.m"].float(),
                            "exp_avg_sq": t[f"adam.{n}.v"].float()}
    return step


def write_grid(model, cfg: UNetConfig, path: Path, seed: int = 0) -> None:
    """A quick sample grid (DDIM 25) to watch training: digits 0-9 twice, or fixed captions."""
    from diffviz.data import shapes
    from diffviz.diffusion import sampling
    from diffviz.figures.images import save_grid
    if cfg.conditioning == "text":
        from diffviz.data import shapes
        from diffviz.diffusion import sampling
        conds = [shapes.caption(shapes.random_scene(np.random.default_rng(i))) for i in range(8)]
    else:
        conds = list(range(10)) * 2 if cfg.conditioning == "class" else [None] * 16
    x = sampling.sample(model, conds, sampler="ddim", steps=25, guidance=2.0, seed=seed)
    save_grid(x, path, ncol=10 if cfg.conditioning == "class" else 8)
