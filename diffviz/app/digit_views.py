"""Three views of one input digit: DDIM inversion, the zero-shot reading, and where it lands in the bottleneck.

    show_inversion(model, x0, cond)          x0 -> x_T -> x0 again, plain and improved, how Gaussian x_T is
    show_zero_shot(model, x0)                per-label noise-prediction errors beside the judge's reading
    show_bottleneck_map(model, x0, label)    the 500 held-out digits' bottleneck in 2-D, the input among them

``model`` is a registry name (e.g. "mnist"), ``x0`` the model's input (C, H, W) in [-1, 1]. Heavy
work is cached and shared between sessions (keyed by the input's bytes); every sentence is built
from the numbers measured on the input shown.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from diffviz.app import params, runs
from diffviz.app.notices import plain
from diffviz.app.render import chart, plot
from diffviz.diffusion import defaults, inversion
from diffviz.evaluation import zero_shot
from diffviz.figures import digit_readings as figs
from diffviz.figures.maps import Panel, panel_row
from diffviz.probe import bottleneck_map as bm

MAP_T = 100                       # the map's default t: about where the held-out digits separate best


def _digest(x0) -> str:
    return hashlib.sha1(np.ascontiguousarray(x0, dtype=np.float32).tobytes()).hexdigest()


def _checked(model: str, x0):
    """(model, meta, x0 as float32) or None after a message when x0 does not fit the model."""
    m, meta = runs.load_model(model)
    cfg = m.config
    x = np.asarray(x0, np.float32)
    want = (cfg.in_channels, cfg.image_size, cfg.image_size)
    if x.shape != want or not np.isfinite(x).all():
        st.warning(f"This input does not fit {plain(model)}: it takes a {want} image in [-1, 1], "
                   f"not {plain(x.shape)}.")
        return None
    return m, meta, np.clip(x, -1, 1)


# ---------------------------------------------------------------- inversion

def _invert_both(m, schedule, x, cond, steps) -> dict:
    out = {}
    for name, it, seed in (("plain", 0, None), ("improved", 2, 0)):
        inv = inversion.invert(m, x[None], [cond], steps, it, seed, schedule)
        rec = inversion.reconstruct(m, inv.x_T, [cond], steps, schedule)[0]
        g = inversion.gaussian_stats(inv.x_T)
        out[name] = {"x_T": inv.x_T[0], "rec": rec, "psnr": float(inversion.psnr(rec[None], x[None])[0]),
                     "std": float(g["std"][0]), "corr": float(g["lag1_correlation"][0]),
                     "calls": inv.model_calls, "first_residual": float(inv.residual[0, 0])}
    return out


def show_inversion(model: str, x0, cond=None, steps: int = defaults.STEPS) -> None:
    """DDIM inversion of x0 up to x_T and back down (told ``cond``, no guidance), plain beside improved."""
    got = _checked(model, x0)
    if got is None:
        return
    m, meta, x = got
    key = ("inversion", model, _digest(x), str(cond), steps)
    with st.spinner(f"Inverting the digit with {steps} DDIM steps, twice…"):
        r = runs.derived(key, lambda: _invert_both(m, runs.schedule_name(meta), x, cond, steps))
    p, q = r["plain"], r["improved"]
    lim = max(float(np.abs(v["rec"] - x).max()) for v in (p, q)) or 1e-3
    panels = []
    for name, v in (("plain", p), ("improved", q)):
        panels += [Panel("input x0", x), Panel(f"{name}: x_T", np.clip(v["x_T"] / 3, -1, 1)),
                   Panel(f"{name}: back to x0", v["rec"]),
                   Panel(f"{name}: error", v["rec"] - x, "diff", lim)]
    plot(panel_row(panels, size=150, ncol=4), key="inv-panels")
    st.caption("x_T is drawn at a third of its value (±3 → black/white), so Gaussian noise fills the grey range.")
    chart(figs.noise_histogram({"plain x_T": p["x_T"], "improved x_T": q["x_T"]},
                               title="How Gaussian is the inverted noise?"), key="inv-hist")
    st.table({"": ["reconstruction PSNR (dB)", "std of x_T (N(0,1): 1)", "U-Net calls up", "U-Net calls down"],
              "plain": [f"{p['psnr']:.1f}", f"{p['std']:.2f}", str(p["calls"]), str(steps)],      # one type a column
              "improved": [f"{q['psnr']:.1f}", f"{q['std']:.2f}", str(q["calls"]), str(steps)]})
    better = "better" if q["psnr"] > p["psnr"] else "not better"
    st.markdown(
        f"**What this shows.** DDIM without added noise is a fixed road from noise to an image; inversion "
        f"walks it backwards, so the U-Net has to predict the noise of a point it has not reached yet. Plain "
        f"inversion guesses with the noise predicted one step back: this digit comes back at "
        f"{p['psnr']:.1f} dB, and its x_T has a standard deviation of {p['std']:.2f} instead of 1. "
        f"Solving each step for the point whose DDIM step lands exactly where we came from (two extra U-Net "
        f"calls per step, {q['calls']} instead of {p['calls']}) and starting from white noise brings it back at "
        f"{q['psnr']:.1f} dB ({better}), with x_T's standard deviation {q['std']:.2f}. The first step is free: "
        f"from a clean image any noise whose x̂0 is the digit is an exact answer, and the U-Net's guess of "
        f"the noise in a clean digit is small and smooth; that is why plain x_T looks like a ghost of the digit.")


# ---------------------------------------------------------------- zero-shot reading

def show_zero_shot(model: str, x0) -> None:
    """Which label makes the U-Net predict the noise best: bars per label, the judge's reading, deciding levels."""
    got = _checked(model, x0)
    if got is None:
        return
    m, meta, x = got
    if m.config.conditioning != "class":
        st.info("The zero-shot reading asks the U-Net about each digit label; this model is told captions.")
        return
    key = ("zero-shot", model, _digest(x))
    with st.spinner("Asking the U-Net about every label…"):
        r = runs.derived(key, lambda: zero_shot.classify(m, x[None], schedule=runs.schedule_name(meta)))
    reading = int(r.labels[0])
    judge = _judge_reading(x)
    means = r.mean_errors(first_only=True)[0]              # comparable: every label was asked at these probes
    asked = r.kept()[0]                                     # (K,) False: dropped before a later stage
    c1, c2 = st.columns([3, 1])
    chart(figs.label_errors(means, reading, judge, asked, title=f"Noise-prediction error per label ({r.first} noisings asked of all)"),
          key="zs-bars", where=c1)
    c2.metric("The U-Net reads", str(reading))
    if judge is not None:
        c2.metric("The judge reads", str(judge))
    levels, margin = zero_shot.deciding_levels(r, 0)
    chart(figs.deciding_levels(levels, margin, title="Which noise levels decide"), key="zs-levels")
    ok = margin[np.isfinite(margin)]
    agree = "agrees" if judge == reading else ("disagrees" if judge is not None else "")
    first_ts = sorted({int(t) for t in r.ts[r.first_round]})
    later = ~r.first_round & np.isfinite(r.errors[0]).any(axis=0)          # (P,) probes asked after the first stage
    more = int(later.sum())
    went_on = zero_shot.POLICY[1:int(r.stages[0])]                          # the later stages this digit went through
    gated = any(np.isfinite(s.margin) for s in zero_shot.POLICY[1:])        # do sure digits stop early?
    then = ((("That left the runner-up close, so " if any(np.isfinite(s.margin) for s in went_on) else "Then ")
             + f"the closest labels were asked again at {more} more noisings "
             f"(t = {int(r.ts[later].min())}…{int(r.ts[later].max())}, with {len(set(r.draws[later].tolist()))} "
             f"noise draws per level at most) before deciding: ")
            if more else "The runner-up was already far behind there, so the reading stopped: ")
    st.markdown(
        f"**What this shows.** The U-Net was trained to predict the noise in a noised digit *given its "
        f"label*. Told the right label it predicts better, so the label with the lowest error is what the "
        f"model thinks the digit is (each noising's errors are divided by their average over the labels, so "
        f"every noising gets the same say): here **{reading}**"
        + (f", and the independent judge {agree} ({judge})" if agree else "") + ". "
        f"Every label was asked at {r.first} noisings of the digit (t = {', '.join(map(str, first_ts))}, one "
        f"fixed noise each); the bars compare the labels there. " + then +
        f"{int(r.model_calls[0])} U-Net calls in all"
        + (" (a sure digit costs few, an ambiguous one more). " if gated else ". ") +
        f"The green bars below are the noise levels where the reading beat the runner-up (averaged over "
        f"the level's noise draws): "
        f"{int((ok > 0).sum())} of the {len(ok)} levels both were asked at.")


def _judge_reading(x) -> int | None:
    """The judge's label for a (1, 28, 28) input, None for other shapes or when the judge is missing."""
    if x.shape != (1, 28, 28):
        return None
    from diffviz.evaluation import judge
    try:
        return int(judge.classify(x[None])[0])
    except (OSError, ValueError, RuntimeError):
        return None


# ---------------------------------------------------------------- bottleneck map

@st.cache_resource(show_spinner=False, max_entries=32)
def _map(model: str, t: int, digits: int) -> bm.BottleneckMap:
    """The held-out digits' bottleneck map at t (the first ``digits`` of them, spread evenly), shared."""
    from diffviz.data.digits import mnist
    m, meta = runs.load_model(model)
    x, y = mnist("held")
    pick = np.linspace(0, len(x) - 1, min(digits, len(x))).round().astype(int)
    return bm.build_map(m, x[pick], y[pick], t, schedule=runs.schedule_name(meta))


def show_bottleneck_map(model: str, x0, label=None, digits: int = 500) -> None:
    """The held-out digits' bottleneck at a chosen t (URL param "map_t") in 2-D, with x0 placed among them."""
    got = _checked(model, x0)
    if got is None:
        return
    m, meta, x = got
    if (m.config.in_channels, m.config.image_size, m.config.conditioning) != (1, 28, "class"):
        st.info("The map places digits among the 500 held-out MNIST digits; it needs an MNIST model.")
        return
    t = params.select_slider_param("map_t", "Noise level t of the map", list(bm.TS), MAP_T)
    with st.spinner(f"Passing {digits} held-out digits through the U-Net at every t of the map…"):
        maps = {s: _map(model, s, digits) for s in bm.TS}
    bmap = maps[t]
    xy, near = runs.derived(("bottleneck-place", model, _digest(x), t, digits),
                            lambda: bm.place(m, bmap, x[None], schedule=runs.schedule_name(meta)))
    name = "your digit" if label is None else f"your {plain(label, 10)}"
    chart(figs.bottleneck_scatter(bmap.points, bmap.labels, xy, name,
                                  title=f"The bottleneck at t = {t}, projected on its two main directions"),
          key="bn-map")
    chart(figs.separation_curve(list(maps), [mp.nn_accuracy for mp in maps.values()],
                                [mp.nn_accuracy_2d for mp in maps.values()], t,
                                title="How well the bottleneck separates the digits"), key="bn-sep")
    best = max(maps.values(), key=lambda mp: mp.nn_accuracy)
    counts = np.bincount(near[0], minlength=10)
    st.markdown(
        f"**What this shows.** The bottleneck is the U-Net's most compressed picture of x_t: here "
        f"{bmap.features.shape[1]:,} numbers per digit, read with no label, so only the image speaks. At t = {t}, "
        f"a held-out digit's nearest neighbour there has the same label for {bmap.nn_accuracy:.0%} of the "
        f"{len(bmap.labels)} digits (chance: 10%), {bmap.nn_accuracy_2d:.0%} in this flat map, whose two axes "
        f"hold {bmap.explained.sum():.0%} of the spread. The digits separate best at t = {best.t} "
        f"({best.nn_accuracy:.0%}) and least at t = {min(maps.values(), key=lambda mp: mp.nn_accuracy).t}. "
        f"The five digits nearest to {name} are labelled {', '.join(str(int(v)) for v in near[0])} "
        f"(most often {int(counts.argmax())}).")
