"""Where does a digit land in the bottleneck? A 2-D map of the U-Net's compressed "what".

The 500 held-out digits are noised to one t (digit i with its own fixed noise, seed + i) and passed
through the U-Net with *no label* (the null condition), so the map shows what the network reads
from the image, not what it was told. Their bottleneck activations (capture key "bottleneck",
(128, 7, 7) on the mnist model, flattened) are centred and projected on their first two principal
components (numpy SVD, fitted once per t); a new input goes through the same noise-free recipe
and the same projection, so it lands among them.

How well the digits separate is measured, not eyeballed: leave-one-out nearest-neighbour label
accuracy in the full bottleneck (Euclidean), and in the 2-D map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from diffviz.diffusion.inversion import white_noise
from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.model.capture import capture
from diffviz.model.unet import UNet

KEY = "bottleneck"
TS = (0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999)   # the t a map can be drawn at
SEED = 0


@dataclass
class BottleneckMap:
    """The held-out digits' bottleneck at one t, its PCA and how well labels separate."""

    t: int
    labels: np.ndarray           # (N,) the digits' true labels
    mean: np.ndarray             # (D,) the centre the PCA subtracts
    components: np.ndarray       # (2, D) the first two principal directions
    points: np.ndarray           # (N, 2) the digits in the map
    explained: np.ndarray        # (2,) share of the variance along each axis
    nn_accuracy: float           # leave-one-out 1-NN label accuracy in the full bottleneck
    nn_accuracy_2d: float        # the same in the 2-D map
    features: np.ndarray         # (N, D) float16 bottleneck activations (for placing new inputs' neighbours)

    def project(self, feats) -> np.ndarray:
        """(M, D) bottleneck activations -> (M, 2) map coordinates."""
        return (np.asarray(feats, np.float64) - self.mean) @ self.components.T

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.labels, self.mean, self.components, self.points, self.features))


def noised(x0, t: int, seed: int = SEED, schedule: str = "linear") -> torch.Tensor:
    """x_t of images (N, C, H, W): image i with its own N(0, 1) noise seeded ``seed + i`` (t = 0: x0 itself)."""
    x = torch.as_tensor(np.asarray(x0, np.float32))
    if x.dim() == 3:
        x = x[None]
    if int(t) <= 0:
        return x
    return NoiseSchedule(schedule).add_noise(x, white_noise(x.shape[1:], seed, len(x)), int(t))


class _Reached(Exception):
    """Raised by a hook once the bottleneck's output is recorded: the decoder is not needed for the map."""


@torch.inference_mode()
def bottleneck(model: UNet, x_t, t: int, chunk: int = 250) -> np.ndarray:
    """(N, D) flattened bottleneck activations of x_t (N, C, H, W) told t and no label.

    Only the encoder and the bottleneck run: a hook registered after capture's stops the pass there.
    """
    dev = model.stem.weight.device
    out = []

    def stop(_module, _inputs, _output):
        raise _Reached

    for a in range(0, len(x_t), chunk):
        x = torch.as_tensor(x_t[a:a + chunk])
        tt = torch.full((len(x),), int(t), dtype=torch.long, device=dev)
        with capture(model, KEY) as trace:
            handle = model.bottleneck.register_forward_hook(stop)      # runs after capture's hook
            try:
                model(x.to(dev), tt, model.null_condition(len(x)))
            except _Reached:
                pass
            finally:
                handle.remove()
        out.append(trace[KEY].float().flatten(1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def pca2(feats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (D,), components (2, D), explained share (2,)) of (N, D) features.

    With N digits and D ≫ N activations, the principal directions come from the small (N, N) Gram
    matrix G = F Fᵀ of the centred features F: G u = s² u gives the direction Fᵀ u / s (the same as
    an SVD of F, at a fraction of the cost: 500 × 500 instead of 500 × 6,272).
    """
    f = np.asarray(feats, np.float64)
    mean = f.mean(0)
    c = f - mean
    if len(c) <= c.shape[1]:
        with threadpool_limits(1):      # LAPACK on 2 busy cores: 0.03 s with one thread, up to 4 s with two
            var, u = np.linalg.eigh(c @ c.T)                     # ascending eigenvalues s²
        var, u = np.clip(var[::-1], 0, None), u[:, ::-1]
        vt = (u[:, :2].T @ c) / np.sqrt(np.maximum(var[:2], 1e-30))[:, None]
    else:
        with threadpool_limits(1):
            _, s, vt = np.linalg.svd(c, full_matrices=False)
        var = s ** 2
    # Fix each axis's sign (largest loading positive) so maps at neighbouring t do not flip at random.
    signs = np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(1)])
    return mean, vt[:2] * signs[:, None], var[:2] / max(var.sum(), 1e-30)


def nn_accuracy(feats, labels) -> float:
    """Leave-one-out nearest-neighbour (Euclidean) label accuracy of (N, D) features."""
    f = np.asarray(feats, np.float64)
    sq = (f ** 2).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * f @ f.T
    np.fill_diagonal(d, np.inf)
    labels = np.asarray(labels)
    return float((labels[d.argmin(1)] == labels).mean())


def build_map(model: UNet, x0, labels, t: int, seed: int = SEED, schedule: str = "linear") -> BottleneckMap:
    """The map of images x0 (N, C, H, W) with their labels, noised to t."""
    feats = bottleneck(model, noised(x0, t, seed, schedule), t)
    mean, comps, explained = pca2(feats)
    points = (feats - mean) @ comps.T
    return BottleneckMap(int(t), np.asarray(labels), mean, comps, points.astype(np.float32), explained,
                         nn_accuracy(feats, labels), nn_accuracy(points, labels), feats.astype(np.float16))


def place(model: UNet, bmap: BottleneckMap, x0, seed: int = SEED, schedule: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Put new images x0 (M, C, H, W) in the map at its t: ((M, 2) coordinates, (M, 5) labels of the 5 nearest digits).

    New image j is noised with the noise seeded ``seed + j``, the same recipe as the map's digits.
    """
    feats = bottleneck(model, noised(x0, bmap.t, seed, schedule), bmap.t)
    ref = bmap.features.astype(np.float64)
    d = ((feats[:, None, :].astype(np.float64) - ref[None]) ** 2).sum(-1)        # (M, N)
    near = np.argsort(d, axis=1, kind="stable")[:, :5]
    return bmap.project(feats).astype(np.float32), bmap.labels[near]
