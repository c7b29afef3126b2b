"""How well does a text model draw its caption? Scores for the captioned-shapes models.

* **caption match** over random captions (`shapes.random_scene` / `shapes.caption`, a fixed rng),
  read back by the checker (`shapes_check.match`): the share of one-shape captions drawn exactly, the
  per-attribute accuracy (shape, colour, size, position) on two-shape captions, and the share of
  two-shape captions drawn exactly;
* **cross-attention share** (`cross_attention_share`): does the colour word (and the shape word)
  look at the shape? For one-shape captions, each cross-attention map of the word (averaged over
  heads, normalised over the pixels, upsampled to the image) is summed inside the generated
  shape's mask, at mid (300 ≤ t ≤ 700) and late (t < 300) timesteps, per resolution. A map that
  ignores the picture scores the mask's area share (the uniform baseline); one that looks only at
  the shape scores 1. Beside it, the **weight** the shape's own pixels give the word (each pixel's
  weights over the tokens add up to 1): a map can lie all inside the shape and still be faint.

Used by ``python -m diffviz.cli.evaluate`` (under ``"text_models"``).
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch

from diffviz.data import shapes, shapes_check, text
from diffviz.data.pixels import to_uint8
from diffviz.diffusion import defaults, sampling
from diffviz.diffusion.schedulers import make_sampler
from diffviz.evaluation.progress import log
from diffviz.probe import readings

T_RANGES = {"mid": (300, 700), "late": (0, 299)}          # inclusive bounds on the true t
TOKENS = ("colour", "shape")
CROSS_ATTN = "*.cross_attn.probs"


def random_captions(n: int, seed: int = 0, one_shape_only: bool = False) -> list[str]:
    """``n`` captions of random scenes from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        scene = shapes.random_scene(rng)
        if not one_shape_only or len(scene) == 1:
            out.append(shapes.caption(scene))
    return out


def generate(model, captions, seeds, sampler, steps, guidance, batch) -> np.ndarray:
    """Samples for captions (one seed each), through the class models' batch loop."""
    from diffviz.evaluation.generation import generate as generate_batched
    return generate_batched(model, captions, seeds, sampler, steps, guidance, batch)


# ------------------------------------------------------------ caption match

def score_captions(captions, images) -> dict:
    """Checker scores of images against their captions (pure: no model)."""
    one, two = [], []
    for c, im in zip(captions, images):
        m = shapes_check.match(c, im)
        (one if m["n_expected"] == 1 else two).append(m)

    def attrs(ms):
        return {a: float(np.mean([m["attributes"][a] for m in ms])) if ms else None for a in shapes_check.ATTRIBUTES}

    def full(ms):
        return float(np.mean([m["full_match"] for m in ms])) if ms else None

    return {"n": len(captions), "n_one_shape": len(one), "n_two_shapes": len(two),
            "one_shape_full_match": full(one), "one_shape_attributes": attrs(one),
            "two_shapes_attributes": attrs(two), "two_shapes_full_match": full(two),
            "full_match": full(one + two),
            "extra_shapes_share": float(np.mean([m["n_found"] > m["n_expected"] for m in one + two]))
            if captions else None}


# --------------------------------------------------------- attention share

def attention_mass_share(maps, masks) -> np.ndarray:
    """Share of each map's mass inside its mask: maps (B, h·w) (any non-negative), masks (B, H, W).

    A uniform map gives the mask's area share (`readings.inside_share`, the reading grounding trains).
    """
    maps = torch.as_tensor(np.asarray(maps, np.float32))[:, None]          # (B, 1, N)
    masks = torch.as_tensor(np.asarray(masks, bool))[:, None]              # (B, 1, H, W)
    return readings.inside_share(maps, masks)[:, 0].numpy()


def attention_weight_inside(maps, masks) -> np.ndarray:
    """Mean weight of each map over its mask's pixels: maps (B, h·w) of per-pixel weights, masks (B, H, W).

    Unlike `attention_mass_share` the map is not normalised: this is how strongly the shape's own
    pixels read the word, the brightness the app's per-pixel maps show there (`readings.inside_weight`).
    """
    maps = torch.as_tensor(np.asarray(maps, np.float32))[:, None]
    masks = torch.as_tensor(np.asarray(masks, bool))[:, None]
    return readings.inside_weight(maps, masks)[:, 0].numpy()


def token_index(caption: str, kind: str) -> int:
    """Position in `text.tokenize(caption)` of the caption's colour or shape word (first shape)."""
    words = text.normalise(caption)
    vocab = text.COLOUR_WORDS if kind == "colour" else text.SHAPE_WORDS
    return 1 + next(i for i, w in enumerate(words) if w in vocab)          # +1: the <start> token


def shape_mask_from_image(caption: str, image) -> tuple[np.ndarray, str]:
    """Mask (32, 32) of the generated shape: the largest region of the caption's colour.

    Pixels are classified with the checker's palette snapping; if no region of that colour is at
    least `shapes_check.MIN_COMPONENT` pixels, the caption's shape rendered at its position is used.
    Returns (mask, "image" or "render").
    """
    shape = shapes.parse_caption(caption)[0]
    labels = shapes_check._colour_labels(to_uint8(image))
    colour = list(shapes.COLOURS).index(shape.colour)
    best = None
    for c, m in shapes_check._components(labels):
        if c == colour and m.sum() >= shapes_check.MIN_COMPONENT and (best is None or m.sum() > best.sum()):
            best = m
    if best is not None:
        return best, "image"
    return shapes.shape_mask(shape), "render"


def _range_of(t: int):
    for name, (lo, hi) in T_RANGES.items():
        if lo <= t <= hi:
            return name
    return None


@torch.inference_mode()
def cross_attention_share(model, n_captions: int = 100, seed: int = 0, sampler: str = defaults.SAMPLER,
                          steps: int = defaults.STEPS, guidance: float = 3.0, batch: int = 50,
                          mask_from: str = "image", progress=None) -> dict:
    """Share of the colour and shape tokens' cross-attention mass inside the generated shape.

    Also, under "weights", how strongly the shape's pixels read each word (`attention_weight_inside`:
    a faint map can lie all inside the shape; this tells whether the shape uses the word). One-shape
    captions only. Per token type, t range (mid, late) and resolution (e.g. "16x16"),
    averaged over captions and over the captured steps in the range; "baseline" is the mean mask
    area share (what a uniform map scores). mask_from: "image" (the shape found in the final
    image, see `shape_mask_from_image`) or "render" (the caption's shape at its nominal position).
    """
    captions = random_captions(n_captions, seed, one_shape_only=True)
    seeds = [seed + i for i in range(n_captions)]
    ts = make_sampler(sampler, "linear", steps).timesteps.tolist()
    capture_steps = {i for i, t in enumerate(ts) if _range_of(t)}
    steps_in = {name: [t for t in ts if _range_of(t) == name] for name in T_RANGES}
    shares = defaultdict(list)                      # (token, range, key) -> per-sample shares
    weights = defaultdict(list)                     # (token, range, key) -> per-sample inside weights
    res_of, areas, sources = {}, [], defaultdict(int)
    for b0 in range(0, n_captions, batch):
        caps = captions[b0:b0 + batch]
        idx = {k: torch.tensor([token_index(c, k) for c in caps]) for k in TOKENS}
        acc = defaultdict(lambda: 0.0)              # (token, range, key) -> summed normalised maps (B, N)
        raw = defaultdict(lambda: 0.0)              # (token, range, key) -> summed per-pixel weights (B, N)
        count = defaultdict(int)
        final = None
        for st in sampling.denoise(model, caps, sampler=sampler, steps=steps, guidance=guidance,
                                   seeds=seeds[b0:b0 + batch], capture_select=[CROSS_ATTN],
                                   capture_steps=capture_steps):
            final = st.x_prev
            rng = _range_of(st.t)
            if st.trace is None or rng is None:
                continue
            for key, p in st.trace.items():
                p = p.float().mean(dim=1)                                  # (B, N, tokens): heads averaged
                res_of[key] = int(round(p.shape[1] ** 0.5))
                for tok in TOKENS:
                    m = p[torch.arange(len(caps)), :, idx[tok]]            # (B, N) this token's map
                    raw[tok, rng, key] = raw[tok, rng, key] + m
                    m = m / m.sum(dim=1, keepdim=True).clamp_min(1e-12)
                    acc[tok, rng, key] = acc[tok, rng, key] + m
            count[rng] += 1                         # steps captured in this range
        images = final.clamp(-1, 1).numpy()
        masks = []
        for c, im in zip(caps, images):
            if mask_from == "image":
                m, src = shape_mask_from_image(c, im)
            else:
                m, src = shapes.shape_mask(shapes.parse_caption(c)[0]), "render"
            masks.append(m), areas.append(m.mean())
            sources[src] += 1
        masks = np.stack(masks)
        for (tok, rng, key), summed in acc.items():
            shares[tok, rng, key].extend(attention_mass_share((summed / count[rng]).numpy(), masks).tolist())
            weights[tok, rng, key].extend(attention_weight_inside((raw[tok, rng, key] / count[rng]).numpy(), masks).tolist())
        log(progress, f"  cross-attention: {min(b0 + batch, n_captions)}/{n_captions} captions")
    out, per_key = _by_resolution(shares, res_of)
    out_w, per_key_w = _by_resolution(weights, res_of)
    return {"n_captions": n_captions, "settings": {"sampler": sampler, "steps": steps, "guidance": guidance},
            "t_ranges": {k: list(v) for k, v in T_RANGES.items()}, "timesteps": steps_in,
            "mask_from": mask_from, "mask_source": dict(sources),
            "baseline": float(np.mean(areas)) if areas else None,
            "shares": out, "per_key": per_key, "weights": out_w, "weights_per_key": per_key_w}


def _by_resolution(values: dict, res_of: dict) -> tuple[dict, dict]:
    """{(token, range, key): per-sample values} -> means per resolution (+ "all") and per block."""
    out = {tok: {} for tok in TOKENS}
    per_key = {tok: {} for tok in TOKENS}
    for tok in TOKENS:
        for rng in T_RANGES:
            by_res = defaultdict(list)
            for (tk, rg, key), v in values.items():
                if tk == tok and rg == rng:
                    by_res[f"{res_of[key]}x{res_of[key]}"] += v
                    per_key[tok].setdefault(rng, {})[key] = float(np.mean(v))
            if by_res:
                levels = {r: float(np.mean(v)) for r, v in sorted(by_res.items(), key=lambda kv: -int(kv[0].split("x")[0]))}
                out[tok][rng] = {**levels, "all": float(np.mean([x for v in by_res.values() for x in v]))}
    return out, per_key


# ----------------------------------------------------------------- driver

def evaluate_text_model(model, n: int = 500, seed: int = 0, sampler: str = defaults.SAMPLER,
                        steps: int = defaults.STEPS, guidance: float = 3.0, batch: int = 250,
                        attention: bool = True, attn_captions: int = 100, progress=None, name: str = "") -> dict:
    """Caption-match scores over ``n`` random captions, plus the cross-attention check."""
    t0 = time.time()
    captions = random_captions(n, seed)
    log(progress, f"{name}: {n} captions, {sampler} {steps}, guidance {guidance}")
    x = generate(model, captions, [seed + i for i in range(n)], sampler, steps, guidance, batch)
    out = {"settings": {"sampler": sampler, "steps": steps, "guidance": guidance, "seed": seed},
           **score_captions(captions, x)}
    out["wall_s"] = time.time() - t0
    if attention and attn_captions:
        out["cross_attention"] = cross_attention_share(model, attn_captions, seed, sampler, steps, guidance,
                                                       batch=min(batch, 50), progress=progress)
    return out
