"""Training batches: MNIST digits or rendered captioned shapes, sharded per rank, reproducible per step.
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
