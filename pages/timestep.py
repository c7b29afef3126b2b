"""7 · Timestep conditioning: how t becomes a vector, how every block reads it, and what a wrong t does."""

import numpy as np
import streamlit as st
import torch

from diffviz.app import notices, params, render, runs, sources
from diffviz.diffusion import sampling
from diffviz.figures import curves, maps
from diffviz.model.layers import sinusoidal_embedding
from diffviz.probe import claims, readings

s, model, meta = runs.open_page("timestep")
cfg = model.config
SWEEP = np.arange(0, 1000, 5)                         # t values for the FiLM sweep (one batched call)
TOLD = list(range(0, 1000, 100)) + [999]               # t values the model can be told (one batched call)

try_box = notices.intro(
    "Timestep conditioning",
    "The U-Net never sees a number like t = 500 directly. t is first turned into a **sinusoidal embedding** "
    "(a barcode of sines and cosines), a small MLP turns that into one conditioning vector, and every "
    "residual block reads this vector through **FiLM**: a per-channel scale and shift of its features. "
    "That is how one set of weights can behave differently at every noise level.")


def lie_text(sw, t_true: int) -> str:
    """The prompt, phrased from this step's told-t sweep (measured): saturation, contrast, the valley."""
    ts, x0 = sw["ts"], sw["x0"]
    i_true, lo, hi = ts.index(t_true), 0, len(ts) - 1
    v = claims.error_valley(ts, sw["err"], t_true)
    sat = [claims.saturation(x0[i]) for i in (lo, i_true)]
    std = [float(np.clip(x0[i], -1, 1).std()) for i in (hi, i_true)]
    where = (f"close to the true t = {t_true} ({v['distance']} away)" if v["near"] else
             f"{v['distance']} away from the true t = {t_true}: at this step the model does best when told a "
             f"{'smaller' if v['best_t'] < t_true else 'larger'} t than the truth")
    return (f"at the bottom, **lie to the model about t** (measured at step {step}, true t = {t_true}). Told "
            f"t = {ts[lo]}, it takes x_t for {'clean' if ts[lo] < t_true else 'noisier than it is'}: "
            f"{sat[0]:.0%} of x̂0's values fall outside −1…1 (true t: {sat[1]:.0%}). Told t = {ts[hi]}, x̂0's "
            f"contrast (standard deviation) is {std[0]:.2f} (true t: {std[1]:.2f}). The error curve is lowest "
            f"when told t = {v['best_t']}, {where}.")

if not cfg.use_time:
    st.info(f"“{s.model}” was trained without being told t, so it has no timestep embedding.", icon="ℹ️")
    st.stop()

# ---------------------------------------------------------------- 1. the sinusoidal embedding
st.subheader("1 · From t to a vector")
sin = runs.derived(("sinusoid", cfg.base_channels),
                 lambda: sinusoidal_embedding(torch.arange(1000), cfg.base_channels).numpy())
render.plot(curves.heat_over_t(sin, np.arange(1000), lim=1.0, ytitle="dimension", colorbar="value", height=380,
                       title=f"Sinusoidal embedding of t: {cfg.base_channels} numbers per timestep"), key="sinusoid")
half = cfg.base_channels // 2
st.caption(f"Rows 0–{half - 1}: cos(t·ωᵢ); rows {half}–{cfg.base_channels - 1}: sin(t·ωᵢ), with ωᵢ = "
           f"10000^(−i/{half}). The first rows wiggle fast with t, the last ones slowly, so every t gets its "
           "own column, and nearby t get similar columns.")

# ---------------------------------------------------------------- 2. FiLM
st.subheader("2 · Every residual block reads t through FiLM")
BLOCKS = readings.film_blocks(model)
default_block = "bottleneck.res1" if "bottleneck.res1" in BLOCKS else BLOCKS[0]
block = params.keyed_choice("block", "p_film_block", "Residual block", BLOCKS, default_block,
                        help="Every residual block has its own FiLM layer: h = norm(h) · (1 + scale) + shift.")
cond_for_film = s.label if s.kind == "class" else None
film = runs.derived(("film", s.model, cond_for_film),
                  lambda: readings.film_sweep(model, SWEEP, cond_for_film))
scale, shift = film[block]                                    # (T, C) each
lim = float(max(np.abs(scale).max(), np.abs(shift).max()))
a, b = st.columns(2)
with a:
    render.plot(curves.heat_over_t(scale, SWEEP, lim=lim, colorbar="scale", height=380,
                           title=f"{block}: scale per channel vs t"), key="film-scale")
with b:
    render.plot(curves.heat_over_t(shift, SWEEP, lim=lim, colorbar="shift", height=380,
                           title=f"{block}: shift per channel vs t"), key="film-shift")
top = readings.most_varying(np.concatenate([scale, shift], axis=1), 8) % scale.shape[1]
top = list(dict.fromkeys(top.tolist()))[:4]
series = {}
for c in top:
    series[f"scale, channel {c}"] = scale[:, c]
for c in top:
    series[f"shift, channel {c}"] = shift[:, c]
render.plot(curves.lines_vs_t(SWEEP, series, "value", dashed={k for k in series if k.startswith("shift")},
                      xtitle="timestep t", reverse=False,
                      title=f"The {len(top)} channels of {block} that change most with t",
                      height=380), key="film-lines")
film_note = (f"The conditioning vector also holds the digit label ({s.label}), so these curves are for that "
             "digit; the label shifts them, t bends them.") if s.kind == "class" else (
             "For a text model the caption does not enter FiLM (it enters through cross-attention), so these "
             "curves depend on t alone.")
st.caption("Red = positive, blue = negative, one scale for scale and shift. A scale of 0 leaves the "
           "normalised features as they are; the block multiplies by (1 + scale). " + film_note +
           f" Computed for {len(SWEEP)} values of t in ONE batched call of the small FiLM layers (they never "
           "see the image).")

# ---------------------------------------------------------------- 3. wrong t
st.subheader("3 · Tell the model the wrong t")
src = sources.pick(s, cfg)                       # sampling, or your drawing's SDEdit or inversion
traj = sources.trajectory(s, src)
if src.from_drawing:
    st.caption(sources.note(s, src, traj))
guidance = 1.0 if src.kind == "inversion" else s.guidance       # the run's own: inversion decodes without guidance
c1, c2 = st.columns(2)
step = sources.step(s, src, traj, where=c1)
t_true = int(traj.timesteps[step])
told = params.select_slider_param("wrong_t", "The t the model is told", TOLD, 100, where=c2,
                              help="The image stays the true x_t; only the number fed to the network changes.")
sched = runs.schedule_name(meta)


def sweep():
    ts = sorted(set(TOLD) | {t for t in (t_true - 50, t_true, t_true + 50) if 0 <= t <= 999})   # finer near the truth
    cond = sampling.encode_conditions(model, [s.condition])
    eps, x0 = readings.told_t_sweep(model, traj.x_t[step, 0], t_true, cond, guidance, ts, sched)
    ref = np.clip(traj.final[0].astype(np.float32), -1, 1)
    err = readings.rmse(np.clip(x0, -1, 1), ref[None], axes=(1, 2, 3))
    return {"ts": ts, "eps": eps, "x0": x0, "err": err}


sw = runs.derived(("told-t", sources.key(s, src), step, sched), sweep)
notices.you_should_see(try_box, lie_text(sw, t_true))
i_true, i_told = sw["ts"].index(t_true), sw["ts"].index(told)
eps_lim = readings.symmetric_limit(maps.as_map(sw["eps"][i_true]), maps.as_map(sw["eps"][i_told]))   # RGB: mean of R, G, B
render.plot(maps.panel_row([
    maps.Panel(f"x_t (true t = {t_true})", traj.x_t[step, 0]),
    maps.Panel(f"ε̂ told t = {t_true} (true)", sw["eps"][i_true], "signed", eps_lim),
    maps.Panel(f"ε̂ told t = {told}", sw["eps"][i_told], "signed", eps_lim),
    maps.Panel("x̂0 from the true t", np.clip(sw["x0"][i_true], -1, 1)),
    maps.Panel(f"x̂0 told t = {told}", np.clip(sw["x0"][i_told], -1, 1)),
], title=f"Same x_t at step {step}, two different t told to the network", size=175), key="wrong-t")
render.plot(curves.error_curve(sw["ts"], sw["err"], t_true, told,
                       title="How far x̂0 lands from this run's final image, for every t the model could be told",
                       ytitle="RMS error of x̂0 vs the final x0"), key="wrong-t-curve")
best = sw["ts"][int(np.argmin(sw["err"]))]
st.caption(f"x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t always uses the true t = {t_true} (the sampler knows how noisy "
           f"x_t is); only the network is misinformed. Both images are clipped to −1..1 before comparing. "
           f"The error is smallest when told t = {best}. "
           f"{len(sw['ts'])} values of t in one batched call."
           + (" Colour images: ε̂ is shown as the mean of its R, G, B channels." if cfg.in_channels == 3 else ""))

notices.show_code(sources.code(s, src) + f"""\
from diffviz.probe import claims
film = readings.film_sweep(model, ts=range(0, 1000, 5), cond={cond_for_film!r})
scale, shift = film["{block}"]                 # (200, C) each: h = norm(h) · (1 + scale) + shift
cond = sampling.encode_conditions(model, [{s.condition!r}])
eps, x0 = readings.told_t_sweep(model, traj.x_t[{step}, 0], t_true={t_true}, cond=cond,
                                guidance={guidance:g}, told_ts=[{t_true}, {told}])
""")
