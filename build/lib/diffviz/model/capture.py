"""Capture what the U-Net computes, per call, by module path.

    with capture(model, select=["decoder.0.skip", "bottleneck"]) as trace:
        eps = model(x_t, t, label)
    trace["decoder.0.skip"]          # float16 CPU tensor (B, C, H, W)

Forward hooks are registered on entry and removed in ``finally``. The model is shared between
the app's users, so every hook checks that it runs inside *its own* capture (a context variable,
one per thread): a thread capturing never records another thread's tensors, and nothing
per-request stays on the model. Captured tensors are detached, on the CPU and float16.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import weakref

import torch

from diffviz.model.unet import UNet

_CURRENT: contextvars.ContextVar = contextvars.ContextVar("diffviz_capture", default=None)


class CaptureError(RuntimeError):
    """Misuse of `capture` (nesting, unknown keys)."""


class Trace(dict):
    """module path -> captured tensor (float16, CPU). Keys follow the model's module names."""

    def levels(self, part: str) -> dict[int, torch.Tensor]:
        """{level: tensor} for "encoder" or "decoder" level outputs."""
        return {int(k.split(".")[1]): v for k, v in self.items() if k.startswith(part + ".") and k.count(".") == 1}

    def nbytes(self) -> int:
        return sum(v.numel() * v.element_size() for v in self.values())


_POINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _points(model: UNet) -> tuple[list[str], dict]:
    """(capture keys, {key: module}), found once per model: walking the modules every step is slow."""
    got = _POINTS.get(model)
    if got is None:
        keys = model.capture_keys()
        mods = dict(model.named_modules())
        got = _POINTS[model] = (keys, {k: mods[k] for k in keys})
    return got


def resolve(model: UNet, select) -> list[str]:
    """Expand a selection ("all", a list of paths or glob patterns like "*.probs") to capture keys."""
    keys = list(_points(model)[0])
    if select in (None, "all"):
        return keys
    if isinstance(select, str):
        select = [select]
    out = []
    for pat in select:
        hits = [k for k in keys if fnmatch.fnmatchcase(k, pat)]
        if not hits:
            raise CaptureError(f"nothing to capture matches {pat!r}; capture keys are: {', '.join(keys)}")
        out += [k for k in hits if k not in out]
    return out


def _store(trace: Trace, key: str, value, batch: slice | None):
    if isinstance(value, (tuple, list)):           # text_encoder returns (token features, mask)
        value = value[0]
    v = value.detach()
    if batch is not None and v.dim() > 0:
        v = v[batch]
    trace[key] = v.to("cpu", torch.float16, copy=True)


@contextlib.contextmanager
def capture(model: UNet, select="all", batch: slice | None = None):
    """Record the outputs of the selected modules during the calls made inside the block.

    ``batch`` keeps only those rows (e.g. the conditional half of a guided batch). A later call in
    the same block overwrites earlier values: use one block per forward pass.
    """
    if _CURRENT.get() is not None:
        raise CaptureError("capture() blocks cannot be nested")
    keys = resolve(model, select)
    modules = _points(model)[1]
    trace = Trace()
    owner = object()
    handles = []

    def make_hook(key):
        def hook(_module, _inputs, output):
            if _CURRENT.get() is owner:                # only this context's own forward passes
                _store(trace, key, output, batch)
        return hook

    token = _CURRENT.set(owner)
    try:
        for k in keys:
            handles.append(modules[k].register_forward_hook(make_hook(k)))
        yield trace
    finally:
        for h in handles:
            h.remove()
        _CURRENT.reset(token)


def hooks_left(model: torch.nn.Module) -> int:
    """Number of forward hooks still registered anywhere in the model (should be 0)."""
    return sum(len(m._forward_hooks) for m in model.modules())
