"""Speed and capture figures of the instrumented U-Net on this machine: a forward pass, a whole trajectory,
the capture's overhead and bytes, and the ratio to a diffusers peer of the same shape (`diffviz-bench`).
"""

from __future__ import annotations

import statistics
import time

import torch

from diffviz.diffusion import defaults, sampling
from diffviz.model.config import UNetConfig, preset
from diffviz.model.unet import UNet, count_parameters
from diffviz.paths import MODELS_DIR

DEFAULT_GUIDANCE = defaults.GUIDANCE
STEPS = 50                  # the benchmark's fixed trajectory length (the app's default may be shorter)
SHIPPED = MODELS_DIR / "mnist"


def load_model() -> tuple[UNet, str]:
    """The shipped MNIST model if its files are there and load, else a random `UNet(preset("mnist"))`."""
    from diffviz.model.checkpoint import CheckpointError, load_checkpoint, paths
    if paths(SHIPPED)[0].is_file():
        try:
            model, _ = load_checkpoint(SHIPPED)
            return model, f"shipped models/{SHIPPED.name}"
        except CheckpointError as e:
            note = f"random (shipped checkpoint unusable: {e})"
    else:
        note = "random (models/mnist.safetensors not found)"
    torch.manual_seed(0)
    return UNet(preset("mnist")).eval(), note


def peer_model(cfg: UNetConfig):
    """A diffusers UNet2DModel of the same shape, or None when diffusers is not installed."""
    try:
        from diffusers import UNet2DModel
    except ImportError:
        return None
    down = tuple("AttnDownBlock2D" if cfg.use_attention and k in cfg.attention_levels else "DownBlock2D"
                 for k in range(cfg.levels))
    up = tuple("AttnUpBlock2D" if cfg.use_attention and k in cfg.attention_levels else "UpBlock2D"
               for k in reversed(range(cfg.levels)))
    torch.manual_seed(0)
    return UNet2DModel(sample_size=cfg.image_size, in_channels=cfg.in_channels, out_channels=cfg.in_channels,
                       block_out_channels=tuple(cfg.channels), layers_per_block=cfg.blocks_per_level,
                       down_block_types=down, up_block_types=up, norm_num_groups=8,
                       attention_head_dim=cfg.channels[-1] // cfg.heads, class_embed_type=None).eval()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(repeats: int = 5, steps: int = STEPS, threads: int = 2, forwards: int = 10) -> dict:
    """Speed and capture figures of the shipped model (forward, trajectory, capture overhead, peer ratio), medians of `repeats`."""
    torch.set_num_threads(threads)
    model, weights = load_model()
    cfg = model.config
    peer = peer_model(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    t = torch.full((2,), 999, dtype=torch.long)
    cond = torch.cat([torch.tensor([defaults.LABEL]), model.null_condition(1)])
    run_kw = dict(sampler="ddim", steps=steps, guidance=DEFAULT_GUIDANCE, seed=defaults.SEED)

    def ours():
        model(x, t, cond)

    def theirs():
        peer(x, t).sample

    with torch.inference_mode():                      # warm-up: first calls allocate
        for _ in range(2):
            ours()
            if peer is not None:
                theirs()
    sampling.run(model, [defaults.LABEL], **{**run_kw, "steps": 2}, capture_select="all")

    fw, pf, traj, trajc, mb = [], [], [], [], []
    for _ in range(repeats):
        with torch.inference_mode():
            for _ in range(forwards):                 # interleaved, call by call
                fw.append(_timed(ours))
                if peer is not None:
                    pf.append(_timed(theirs))
        traj.append(_timed(lambda: sampling.run(model, [defaults.LABEL], **run_kw)))
        box = {}
        trajc.append(_timed(lambda: box.setdefault("tr", sampling.run(model, [defaults.LABEL], **run_kw,
                                                                      capture_select="all"))))
        tr = box["tr"]
        assert len(tr.traces) == tr.steps
        mb.append(sum(tc.nbytes() for tc in tr.traces.values()) / tr.steps / 1e6)

    med = statistics.median
    result = {
        "params": count_parameters(model),
        "forward_ms": round(med(fw) * 1e3, 3),
        "trajectory_s": round(med(traj), 4),
        "trajectory_capture_s": round(med(trajc), 4),
        "capture_overhead": round(med(trajc) / med(traj), 4),
        "captured_mb_per_step": round(med(mb), 4),
        "peer_forward_ms": round(med(pf) * 1e3, 3) if pf else None,
        "peer_forward_ratio": round(med(fw) / med(pf), 4) if pf else None,
        "peer_params": count_parameters(peer) if peer is not None else None,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "weights": weights,
        "preset": "mnist",
        "batch": 1,
        "sampler": "ddim",
        "steps": steps,
        "app_default_steps": defaults.STEPS,
        "guidance": DEFAULT_GUIDANCE,
        "repeats": repeats,
    }
    if peer is None:
        result["peer"] = "diffusers not installed"
    return result
