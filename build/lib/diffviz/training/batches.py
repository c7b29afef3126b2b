"""Train a diffusion U-Net: ``python -m diffviz.cli.train --preset mnist --steps 4000 --out runs/mnist``.

The recipe: sample t uniformly, noise x0 to x_t, regress the U-Net's output on the noise ε
(MSE, weighted by min(SNR, 5)/SNR so the easy low-noise steps do not dominate), AdamW with
warm-up and cosine decay, an EMA of the weights (the EMA is what ships), and the condition
dropped 10% of the time so one network also learns the unconditional ε for classifier-free
guidance. Text models can add a grounding term (``--ground``, `diffviz.training.grounding`) that teaches
each object word's cross-attention to stay on its shape. Runs on CUDA when available;
``torchrun --nproc_per_node=N -m diffviz.cli.train ...`` trains data-parallel (DDP, gloo on CPU), each rank on its own shard of every epoch.
"""

from __future__ import annotations

import torch

from diffviz.model.config import UNetConfig


class Batches:
    """Training batches: shuffled epochs of the MNIST split (a shard per rank), or fresh shapes scenes."""

    def __init__(self, cfg: UNetConfig, args, rank: int, world: int):
        self.cfg, self.batch, self.seed, self.rank, self.world = cfg, args.batch, args.seed, rank, world
        self.masks = args.ground > 0
        if cfg.conditioning == "text":
            self.x = None
        else:
            from diffviz.data.digits import mnist
            x, y = mnist("train", args.data)
            self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def get(self, step: int):
        """Batch for one optimizer step: (x0, condition, the dataset indices or scene seed).

        With grounding on, text batches also set ``self.last_masks`` (token masks, supervised).
        """
        if self.x is None:
            from diffviz.data import shapes, text
            from diffviz.training import grounding
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
