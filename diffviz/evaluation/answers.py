"""The measured answers behind the lessons' predict-then-reveal questions (no Streamlit, no plotting).

Each function takes what was measured on the learner's own settings (a trajectory's guesses x̂0, the
captured skips, an attention map, the told-t error curve, the evaluation table) and returns a
`Truth`: the value the learner's guess is compared with, the measurement in words, one sentence on
why, built from the numbers, and the series behind it. Nothing here knows the answer in advance:
change the seed, the model or a setting and the truth follows (tests/test_answers.py checks that).

    judge_loses_digit   forward process: the first t at which the judge no longer reads x_t's digit
    first_read_step     denoising: the first sampling step from which x̂0 is read as the asked digit
    worst_noise_level   denoising: the t where the U-Net's noise prediction is worst
    output_shape        parity: the shape of ε̂ next to the shape of x_t
    channels_for_90     feature maps: how many channels hold 90% of a level's energy
    finest_skip         skips: the decoder level whose skip has the largest share of fine detail
    judge_accuracy      ablations: a model's measured label accuracy (models/evaluation.json)
    looks_most_at       attention: the ninth of the image a query pixel (or a word) gives most weight
    map_peak            attention, clicked: where on the image a map's weight peaks, and the region where it
                        is at least half its peak (a click inside that region is right)
    best_told_t         timestep: the t that, told to the network, gives the best x̂0
    told_999_shift      timestep: how far x̂0 moves when the network is told t = 999
    judge_reads         ablations: does the judge still read the digit in an ablated run's final image?
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diffviz.evaluation import judge
from diffviz.probe import readings

REGIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right")
SHIFT = ("hardly at all (RMS under 0.05)", "visibly (RMS 0.05 to 0.3)", "completely off (RMS over 0.3)")


@dataclass(frozen=True)
class Truth:
    """What was measured: ``value`` is compared with the guess; ``shown`` and ``why`` are plain text."""

    value: object                                  # a number, or one of the question's options
    shown: str                                     # the measurement in words, e.g. "step 6 (t = 759)"
    why: str                                       # one sentence on why, from the numbers
    series: dict = field(default_factory=dict, compare=False)   # {"x": [...], "y": [...], "xtitle", "ytitle"}
    spot: Spot | None = field(default=None, compare=False)       # a click question's map on its image


@dataclass(frozen=True)
class Spot:
    """A map drawn over a width × height image: where its weight lies, for judging a click on the image."""

    weights: np.ndarray                            # (h, w), sums to 1; cell (r, c) covers a block of pixels
    hot: np.ndarray                                # (h, w) bool: the cells with at least `level` × the peak weight
    level: float
    width: int                                     # the image, in pixels
    height: int

    def cell_box(self, r: int, c: int) -> tuple[float, float, float, float]:
        """Cell (r, c) in image pixels: (x0, y0, x1, y1), pixel centres at whole numbers."""
        sy, sx = self.height / self.weights.shape[0], self.width / self.weights.shape[1]
        return c * sx - 0.5, r * sy - 0.5, (c + 1) * sx - 0.5, (r + 1) * sy - 0.5

    def distance(self, x: float, y: float) -> float:
        """Pixels from the point (x, y) to the nearest cell of the hot region (0 inside it)."""
        best = np.inf
        for r, c in zip(*np.nonzero(self.hot)):
            x0, y0, x1, y1 = self.cell_box(r, c)
            best = min(best, float(np.hypot(max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1))))
        return best


def _probs(images) -> np.ndarray:
    """The judge's probabilities (N, 10) for images (N, 1, 28, 28) in [-1, 1]."""
    z = judge.logits(np.clip(np.asarray(images, np.float32), -1, 1))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def judge_loses_digit(x0, eps, alphas_cumprod, label: int, ts=range(0, 1000, 10)) -> Truth:
    """Noise the digit ``x0`` (1, 28, 28) with ``eps`` to every t in ``ts``; the first t the judge misreads it."""
    ts = np.asarray(list(ts))
    ab = np.asarray(alphas_cumprod, np.float64)[ts].astype(np.float32)[:, None, None, None]
    x_t = np.sqrt(ab) * np.asarray(x0, np.float32)[None] + np.sqrt(1 - ab) * np.asarray(eps, np.float32)[None]
    p = _probs(x_t)                                                     # (T, 10)
    wrong = np.flatnonzero(p.argmax(axis=1) != label)
    t_lost = int(ts[wrong[0]]) if wrong.size else 1000
    kept = float(ab[wrong[0], 0, 0, 0]) if wrong.size else float(ab[-1, 0, 0, 0])
    shown = (f"t = {t_lost} (ᾱ_t = {kept:.3f}: {np.sqrt(kept):.2f} × the digit + {np.sqrt(1 - kept):.2f} × noise)"
             if wrong.size else "never: the judge still reads it at t = 999")
    why = (f"The judge reads a {label} with probability {p[0, label]:.2f} at t = 0; at t = {t_lost}, where the "
           f"digit's weight √ᾱ_t is down to {np.sqrt(kept):.2f}, it first calls x_t a {int(p[wrong[0]].argmax())}."
           if wrong.size else f"Even at t = 999 the judge still reads a {label} (probability {p[-1, label]:.2f}).")
    return Truth(t_lost, shown, why, {"x": ts.tolist(), "y": p[:, label].tolist(), "xtitle": "t",
                                      "ytitle": f"judge's probability of {label}"})


def first_read_step(pred_x0, timesteps, label: int) -> Truth:
    """The first sampling step from which every guess x̂0 (S, 1, 28, 28) is read as ``label`` by the judge."""
    p = _probs(np.asarray(pred_x0)[:, :1] if np.ndim(pred_x0) == 4 else pred_x0)   # (S, 10)
    read = p.argmax(axis=1) == label
    S = len(read)
    i = S
    while i > 0 and read[i - 1]:
        i -= 1
    ts = np.asarray(timesteps)
    if i == S:
        return Truth(S, f"never: the last guess is read as a {int(p[-1].argmax())}",
                     f"The judge does not read a {label} even in the finished image.", _series(ts, p, label))
    shown = f"step {i} (t = {int(ts[i])}), judge's probability {p[i, label]:.2f}"
    before = f"; at step {i - 1} it read a {int(p[i - 1].argmax())}" if i > 0 else ""
    why = (f"x̂0 is the U-Net's guess of the finished image: it is read as a {label} from step {i} of {S} on"
           f"{before}: {i / S:.0%} of the way through the run.")
    return Truth(i, shown, why, _series(ts, p, label))


def _series(ts, p, label) -> dict:
    return {"x": list(range(len(ts))), "y": p[:, label].tolist(), "xtitle": "sampling step",
            "ytitle": f"judge's probability of {label}"}


def worst_noise_level(ts, mse) -> Truth:
    """The t (of ``ts``) where the mean squared error of ε̂ is largest, next to where it is smallest."""
    ts, mse = np.asarray(ts), np.asarray(mse, np.float64)
    hi, lo = int(np.argmax(mse)), int(np.argmin(mse))
    shown = f"t = {int(ts[hi])} (mean squared error {mse[hi]:.4f})"
    why = (f"The error is largest at t = {int(ts[hi])} ({mse[hi]:.4f}) and smallest at t = {int(ts[lo])} "
           f"({mse[lo]:.4f}): where x_t is nearly all noise, “the noise is x_t” is almost right; where it is "
           "nearly clean, the faint noise is hard to tell from the image's own detail.")
    return Truth(int(ts[hi]), shown, why, {"x": ts.tolist(), "y": mse.tolist(), "xtitle": "t",
                                           "ytitle": "mean squared error of ε̂"})


def shape_text(shape) -> str:
    """(1, C, H, W) or (C, H, W) -> "C × H × W"."""
    return " × ".join(str(int(n)) for n in tuple(shape)[-3:])


def output_shape(shapes: dict) -> Truth:
    """The shape of ε̂ from one real forward pass's ``shapes`` {"input", "output", "bottleneck", ...}."""
    out, inp, bott = shapes["output"], shapes["input"], shapes["bottleneck"]
    same = tuple(out) == tuple(inp)
    why = (f"x_t goes in as {shape_text(inp)}, shrinks to {shape_text(bott)} at the bottleneck, and ε̂ comes out as "
           f"{shape_text(out)}: " + ("exactly the input's shape, one noise value per pixel and channel, so "
                                     "x_t − ε̂ can be taken pixel by pixel." if same else "NOT the input's shape."))
    return Truth(shape_text(out), shape_text(out), why)


def shape_options(shapes: dict) -> list[str]:
    """Choices for `output_shape`: the input's, the bottleneck's and a half-resolution shape (no repeats)."""
    c, h, w = (int(n) for n in tuple(shapes["input"])[-3:])
    cb = int(tuple(shapes["bottleneck"])[-3])
    opts = [shape_text(shapes["bottleneck"]), f"{cb} × {h} × {w}", f"{c} × {h // 2} × {w // 2}", shape_text(shapes["input"])]
    return list(dict.fromkeys(opts))


def channels_for_90(x, name: str = "the bottleneck") -> Truth:
    """The fewest channels of ``x`` (S, C, H, W, a level over the run) that hold 90% of its energy."""
    e = np.sort(readings.channel_energy(x))[::-1]
    share = np.cumsum(e) / e.sum()
    k = int(np.searchsorted(share, 0.9) + 1)
    why = (f"{k} of {len(e)} channels of {name} hold 90% of its energy over the run (the strongest alone "
           f"{share[0]:.0%}): the level's work is shared unevenly, a few channels carry most of the signal.")
    return Truth(k, f"{k} of {len(e)} channels", why, {"x": list(range(1, len(e) + 1)), "y": share.tolist(),
                                                      "xtitle": "channels, strongest first", "ytitle": "energy share"})


def finest_skip(skips: dict, cut: float = 0.5) -> Truth:
    """The decoder level whose skip (``skips`` {level: (C, H, W)}) has the largest energy share above ``cut``."""
    shares = {k: readings.high_share(v, cut) for k, v in sorted(skips.items())}
    best = max(shares, key=shares.get)
    listed = ", ".join(f"level {k} {v:.0%}" for k, v in shares.items())
    why = (f"Share of each skip's energy above {cut:g} × the finest frequency: {listed}. Each share is measured "
           "against that map's own finest frequency, so at a coarse level “fine” means a pattern a few cells wide.")
    return Truth(f"level {best}", f"level {best} ({shares[best]:.0%} of its energy is fine detail)", why,
                 {"x": [f"level {k}" for k in shares], "y": list(shares.values()), "xtitle": "decoder level",
                  "ytitle": "share above the cut"})


def judge_accuracy(table: dict, name: str) -> Truth:
    """Model ``name``'s label accuracy in percent, from the evaluation table (models/evaluation.json)."""
    m = (table.get("models") or {}).get(name)
    if not isinstance(m, dict) or "label_accuracy" not in m:
        raise KeyError(f"{name} has no measured label accuracy in the evaluation table")
    la = m["label_accuracy"]
    cfg = m.get("settings") or {}
    n = 10 * int(cfg.get("n_per_digit", 0) or 0) * int(cfg.get("draws", 1) or 1)
    pct = round(100 * float(la["mean"]), 1)
    why = (f"Over {n:,} samples ({str(cfg.get('sampler', '')).upper()} {cfg.get('steps', '')} steps) the judge read "
           f"the asked-for digit in {pct}% of {name}'s images (± {100 * float(la.get('std', 0)):.1f} between draws).")
    return Truth(pct, f"{pct}%", why)


def region_masses(m) -> np.ndarray:
    """The weight of a map ``m`` (H, W) in each ninth of the image (3 × 3, row by row): (9,)."""
    m = np.asarray(m, np.float64)
    rows = np.array_split(np.arange(m.shape[0]), 3)
    cols = np.array_split(np.arange(m.shape[1]), 3)
    return np.array([m[np.ix_(r, c)].sum() for r in rows for c in cols])


def looks_most_at(m, what: str) -> Truth:
    """The ninth of the image (`REGIONS`) where map ``m`` (H, W) of ``what`` puts the most weight."""
    w = region_masses(m)
    w = w / w.sum() if w.sum() > 0 else w
    i = int(np.argmax(w))
    why = (f"{what} puts {w[i]:.0%} of its weight in the {REGIONS[i]} ninth of the map (an even spread would "
           f"put 11% in each); next comes the {REGIONS[int(np.argsort(-w)[1])]}.")
    return Truth(REGIONS[i], f"the {REGIONS[i]} ({w[i]:.0%} of the weight)", why,
                 {"x": list(REGIONS), "y": w.tolist(), "xtitle": "ninth of the image", "ytitle": "share of the weight"})


def map_peak(m, width: int, height: int, what: str, level: float = 0.5) -> Truth:
    """Where map ``m`` (h, w), drawn over a ``width`` × ``height`` image, puts its largest weight: the value is
    that cell's centre (x, y) in image pixels; the spot's hot region is every cell with at least ``level`` ×
    the peak weight (a plateau, such as a word's map over its whole shape, stays one region)."""
    m = np.clip(np.asarray(m, np.float64), 0, None)
    w = m / m.sum() if m.sum() > 0 else np.full(m.shape, 1.0 / m.size)
    r, c = np.unravel_index(int(np.argmax(w)), w.shape)
    hot = w >= level * w[r, c]
    k, mass = int(hot.sum()), float(w[hot].sum())
    sy, sx = height / w.shape[0], width / w.shape[1]
    x, y = round(float((c + 0.5) * sx - 0.5), 1), round(float((r + 0.5) * sy - 0.5), 1)
    why = (f"{what} gives its largest weight, {w[r, c]:.1%}, to the cell around x {x:g}, y {y:g} (an even spread "
           f"would give each of the {w.size} cells {1 / w.size:.1%}); {k} cell{'s' if k > 1 else ''} "
           f"({k / w.size:.0%} of the image, outlined) get at least {level:.0%} of that, together {mass:.0%} of "
           "the weight.")
    return Truth((x, y), f"x {x:g}, y {y:g} ({w[r, c]:.0%} of the weight)", why,
                 spot=Spot(w, hot, level, int(width), int(height)))


def click_text(x: float, y: float) -> str:
    """A click as the link and the class store keep it: "x,y" in pixels."""
    return f"{x:g},{y:g}"


def parse_click(text: str, width: int, height: int) -> tuple[float, float] | None:
    """"x,y" -> (x, y) when both are numbers on the width × height image, else None."""
    try:
        x, y = (float(v) for v in str(text).split(","))
    except ValueError:
        return None
    ok = np.isfinite(x) and np.isfinite(y) and -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5
    return (x, y) if ok else None


def best_told_t(ts, err, t_true: int) -> Truth:
    """The told t (of ``ts``) with the smallest error of x̂0 (``err``), next to the true t."""
    ts, err = np.asarray(ts), np.asarray(err, np.float64)
    j = int(np.argmin(err))
    k = int(np.argmin(np.abs(ts - t_true)))
    why = (f"Told t = {int(ts[j])} the guess x̂0 lands closest to this run's final image (RMS {err[j]:.3f}); told the "
           f"true t = {t_true} it is {err[k]:.3f}. The network reads the noise level from the t it is told.")
    return Truth(int(ts[j]), f"t = {int(ts[j])} (RMS error {err[j]:.3f})", why,
                 {"x": ts.tolist(), "y": err.tolist(), "xtitle": "t told to the network", "ytitle": "RMS error of x̂0"})


def told_999_shift(err_true: float, err_999: float, t_true: int) -> Truth:
    """How far x̂0 lands from the run's final image (RMS, images in −1..1) when the network is told t = 999."""
    e = float(err_999)
    bucket = SHIFT[0] if e < 0.05 else SHIFT[1] if e < 0.3 else SHIFT[2]
    why = (f"Told the truth (t = {t_true}) x̂0 lands {err_true:.3f} from the final image; told t = 999 it lands "
           f"{e:.3f} away. The sampler still divides by the true √ᾱ_t, so how far x̂0 moves depends on how much "
           "noise x_t really holds at this step.")
    return Truth(bucket, f"RMS {e:.3f} ({bucket})", why)


def judge_reads(image, label: int, what: str) -> Truth:
    """Does the judge read ``label`` in ``image`` (1, 28, 28)? "yes" / "no", with its probability."""
    p = _probs(np.asarray(image, np.float32)[None])[0]
    seen = int(p.argmax())
    value = "yes" if seen == label else "no"
    why = (f"In {what}, the judge reads a {seen} (probability {p[seen]:.2f}; a {label}: {p[label]:.2f}).")
    return Truth(value, f"{value}: read as a {seen} ({p[seen]:.0%})", why,
                 {"x": [str(d) for d in range(10)], "y": p.tolist(), "xtitle": "digit", "ytitle": "judge's probability"})


def grade(kind: str, guess, truth: Truth, tolerance: float = 0) -> str:
    """"right", "close" (a number within twice the tolerance) or "off": the guess next to the truth.

    A click (x, y) is right inside the map's hot region (the cells with at least `level` × its peak weight)
    and close within ``tolerance`` pixels of it.
    """
    if kind == "click" and truth.spot is not None:
        d = truth.spot.distance(*guess)
        return "right" if d == 0 else "close" if d <= tolerance else "off"
    if kind in ("slider", "number") and isinstance(truth.value, (int, float)):
        d = abs(float(guess) - float(truth.value))
        return "right" if d <= tolerance else "close" if d <= 2 * max(tolerance, 1e-9) else "off"
    return "right" if str(guess) == str(truth.value) else "off"
