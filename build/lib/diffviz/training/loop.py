"""The training loop: batches in, AdamW steps, an EMA of the weights, logs, states and exports out.

Data-parallel under torchrun (DDP; gloo on the CPU), each rank on its own shard of every epoch.
Imports the recipe, batches and state of this package; below it the model, diffusion and data.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from diffviz.data import digits
from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.model.checkpoint import load_checkpoint, save_checkpoint
from diffviz.model.unet import UNet, count_parameters
from diffviz.training.batches import Batches
from diffviz.training.recipe import config_from, diffusion_loss, lr_at
from diffviz.training.state import init_from, load_state, save_state, write_grid


def train(args, argv=None) -> None:
    """The training loop for parsed ``args`` (see `diffviz.cli.train`); argv is recorded as the command."""
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
    command = "diffviz-train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    meta = {"command": command, "preset": args.preset, "args": vars(args), "params": count_parameters(model),
            "world_size": world, "data_split": None if cfg.conditioning == "text" else "mnist " + digits.SPLIT,
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

