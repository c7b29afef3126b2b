"""An independent MNIST classifier: the judge that scores generated digits.

The judge never sees a diffusion sample while it learns: it is a small CNN trained on the
4,500 training digits of `diffviz.data.digits.mnist("train")` (random shifts of up to ±2 px), and its
accuracy is measured on the 500 held-out digits. The evaluation uses it twice: its labels say
whether a sample shows the digit that was asked for, and its 128-d penultimate features are the
space the Fréchet distance is measured in (an MNIST-sized stand-in for FID's Inception features).

    python -m diffviz.cli.judge --train --out models/judge      # about two minutes on one CPU thread
    python -m diffviz.cli.judge --eval                          # held-out accuracy of the shipped judge

Weights are safetensors (float16) plus JSON; loading checks every tensor and never unpickles.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from diffviz.model.checkpoint import CheckpointError, check_tensors, paths, read_tensors
from diffviz.paths import MODELS_DIR

DEFAULT_PREFIX = MODELS_DIR / "judge"
FEATURE_DIM = 128


class JudgeNet(nn.Module):
    """28×28 → conv 32 → pool (14) → conv 64 → pool (7) → conv 128 → 128-d features → 10 logits."""

    def __init__(self):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())

        self.conv = nn.Sequential(block(1, 32), nn.MaxPool2d(2),       # (B, 32, 14, 14)
                                  block(32, 64), nn.MaxPool2d(2),      # (B, 64, 7, 7)
                                  block(64, 128))                      # (B, 128, 7, 7)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(128 * 7 * 7, FEATURE_DIM), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate activations (after ReLU, before dropout and the head)."""
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


# ----------------------------------------------------------------- loading

_CACHE: dict = {}
_LOCK = threading.Lock()


def _device(device=None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def load_judge(prefix=None, device=None) -> JudgeNet:
    """The shipped judge (cached: one instance per prefix and device), eval mode, float32.

    Raises `CheckpointError` naming the file for a missing, corrupted or mismatched file.
    """
    prefix = Path(prefix) if prefix is not None else DEFAULT_PREFIX
    device = _device(device)
    key = (str(Path(prefix).resolve()), device)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(prefix, device)
        return _CACHE[key]


def _load(prefix, device) -> JudgeNet:
    weights, info = paths(prefix)
    for f in (info, weights):
        if not f.is_file():
            raise CheckpointError(f"{f}: file is missing (train it: python -m diffviz.cli.judge --train --out {prefix})")
    try:
        meta = json.loads(info.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{info}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("model") != "JudgeNet":
        raise CheckpointError(f"{info}: not a judge checkpoint (no \"model\": \"JudgeNet\")")
    tensors = read_tensors(weights)
    net = JudgeNet()
    expected = net.state_dict()
    check_tensors(weights, expected, tensors, "the judge")
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    net.meta = meta
    return net.to(device).eval()


def save_judge(net: JudgeNet, prefix, meta: dict) -> tuple[Path, Path]:
    """Float tensors as float16 safetensors, plus ``{"model": "JudgeNet", **meta}`` as JSON."""
    weights, info = paths(prefix)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in net.state_dict().items()}
    save_file(tensors, str(weights))
    info.write_text(json.dumps({"model": "JudgeNet", **meta}, indent=2) + "\n")
    return weights, info


# ------------------------------------------------------------------ using

def _as_batch(x) -> torch.Tensor:
    """Images (N, 1, 28, 28) or (N, 28, 28), numpy or torch, in [-1, 1] -> float32 tensor (N, 1, 28, 28)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x).float()
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"the judge reads images (N, 1, 28, 28) in [-1, 1], not {tuple(x.shape)}")
    return x


@torch.inference_mode()
def _apply(fn, x, batch: int = 500) -> np.ndarray:
    x = _as_batch(x)
    dev = next(fn.__self__.parameters()).device
    outs = [fn(x[i:i + batch].to(dev)).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(outs).numpy() if outs else np.zeros((0,), np.float32)


def features(x, judge: JudgeNet | None = None) -> np.ndarray:
    """The judge's 128-d penultimate features of images in [-1, 1]: float32 (N, 128)."""
    judge = judge or load_judge()
    out = _apply(judge.features, x)
    return out.reshape(len(out), FEATURE_DIM) if out.size else np.zeros((0, FEATURE_DIM), np.float32)


def logits(x, judge: JudgeNet | None = None) -> np.ndarray:
    """The judge's class logits (N, 10)."""
    judge = judge or load_judge()
    out = _apply(judge.forward, x)
    return out.reshape(len(out), 10) if out.size else np.zeros((0, 10), np.float32)


def classify(x, judge: JudgeNet | None = None) -> np.ndarray:
    """The judge's label for each image: int64 (N,)."""
    return logits(x, judge).argmax(axis=1).astype(np.int64)


def accuracy(x, y, judge: JudgeNet | None = None) -> float:
    """Share of images `x` the judge reads as their labels `y`."""
    return float((classify(x, judge) == np.asarray(y)).mean())


# ---------------------------------------------------------------- training

def random_shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Shift each image by an integer (dx, dy) in ±max_shift, filling with the background (-1)."""
    B, _, H, W = x.shape
    m = max_shift
    padded = F.pad(x, (m, m, m, m), value=-1.0)
    off = torch.randint(0, 2 * m + 1, (B, 2), generator=gen)
    return torch.stack([padded[i, :, oy:oy + H, ox:ox + W] for i, (oy, ox) in enumerate(off.tolist())])


def train(epochs: int = 30, batch: int = 64, lr: float = 3e-3, seed: int = 0, data: str | None = None,
          log=print) -> tuple[JudgeNet, dict]:
    """Train the judge on mnist("train") and measure it on mnist("held"); returns (net, metrics)."""
    from diffviz.data.digits import SPLIT, mnist
    torch.manual_seed(seed)
    xtr, ytr = (torch.from_numpy(a) for a in mnist("train", data))
    xhe, yhe = mnist("held", data)
    net = JudgeNet()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    per_epoch = len(xtr) // batch
    total = epochs * per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    history = []
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        run_loss = 0.0
        for i in range(per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            xb = random_shift(xtr[idx], gen)
            loss = F.cross_entropy(net(xb), ytr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss += loss.item()
        net.eval()
        acc = accuracy(xhe, yhe, net)
        history.append({"epoch": epoch + 1, "loss": round(run_loss / per_epoch, 4), "held_accuracy": acc})
        log(f"epoch {epoch + 1:2d}/{epochs}  loss {run_loss / per_epoch:.4f}  held-out accuracy {acc:.2%}"
            f"  ({time.time() - t0:.0f} s)")
    net.eval()
    held_pred = classify(xhe, net)
    per_digit = {str(d): float((held_pred[yhe == d] == d).mean()) for d in range(10)}
    metrics = {
        "accuracy": float((held_pred == yhe).mean()),
        "accuracy_per_digit": per_digit,
        "train_accuracy": accuracy(xtr.numpy(), ytr.numpy(), net),
        "n_train": len(xtr), "n_held": len(xhe),
        "data_split": "mnist " + SPLIT,
        "recipe": {"epochs": epochs, "batch": batch, "lr": lr, "optimizer": "AdamW wd 1e-4, one-cycle",
                   "augmentation": "random integer shifts of ±2 px", "label_smoothing": 0.05, "seed": seed,
                   "selection": "none: the last epoch ships (held-out digits only measured)"},
        "history": history,
        "wall_s": round(time.time() - t0, 1),
    }
    return net, metrics
