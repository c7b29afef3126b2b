"""5 · Skip connections: what the encoder hands the decoder, what it carries, and what cutting it does."""

import numpy as np
import streamlit as st

from diffviz.app import notices, params, quality, render, runs, sources
from diffviz.figures import curves, maps, palette
from diffviz.model.interventions import Interventions
from diffviz.probe import readings, skips

TOP = 8

s, model, _ = runs.open_page("skips", "level")   # "level" means something else on other pages
cfg = model.config
L = cfg.levels
R = cfg.resolution(L - 1)
WHAT = "digit" if cfg.conditioning == "class" else "picture"

notices.intro(
    "Skip connections",
    "At every decoder level two tensors meet and are concatenated: the **skip**, the encoder's "
    "features at the same resolution, and the **backbone**, what came up from the deeper levels. "
    "The backbone knows *what* is in the image (it saw all of it at low resolution); the skip still "
    "knows *where* every detail is. Below: what each carries, how much of it is fine detail, and "
    "what happens to the image when you cut or scale them.",
    f"set **skip 0** to 0 in “Turn the knobs”. The same seed no longer ends in a clean {WHAT}: speckle "
    "noise is left everywhere, because noise at the scale of single pixels can only be predicted with the "
    f"full-resolution skip. Then cut it only late (**t up to** 300): the {WHAT}'s layout survives, it was "
    f"decided in the early steps. Cut **skip {L - 1}** ({R}×{R}) instead: hardly anything changes. (Checked "
    "on the default settings of every model with skips; the panel below measures your own settings.)")

if not cfg.use_skips:
    st.info(f"“{s.model}” was trained without skip connections, so there is nothing to look at or cut "
            "here. Choose **mnist** in the sidebar's Model menu to see its skips.", icon="ℹ️")
    traj = None
    quality.retrained_comparison(s, None)
    st.stop()

CAPTURE = ["decoder.*.skip", "decoder.*.upsample"]
src = sources.pick(s, cfg)                       # sampling, or your drawing's SDEdit or inversion
traj, rk = sources.trajectory(s, src, capture=CAPTURE), sources.key(s, src)
if src.from_drawing:
    st.caption(sources.note(s, src, traj))
S = traj.steps

# ---------------------------------------------------------------- what meets at one decoder level
st.subheader("What meets at a decoder level")
c1, c2 = st.columns([1, 2])
level = params.choice_param("level", "Skip connection", list(range(L)), 0, where=c1,
                        format_func=lambda k: f"skip {k} → decoder level {k} · {cfg.resolution(k)}×{cfg.resolution(k)}")
step = sources.step(s, src, traj, where=c2)
t = int(traj.timesteps[step])
skip_key, bb_key = f"decoder.{level}.skip", f"decoder.{level}.upsample"


def rank_level(k: int):
    sk = readings.stack_steps(traj.traces, f"decoder.{k}.skip")
    bb = readings.stack_steps(traj.traces, f"decoder.{k}.upsample")
    o_s, o_b = readings.rank_channels(sk)[:TOP], readings.rank_channels(bb)[:TOP]
    return {"skip": o_s, "bb": o_b, "lim": readings.symmetric_limit(sk[:, o_s], bb[:, o_b])}


ranks = runs.derived(("skips-rank", rk, level), lambda: rank_level(level))
a, b = st.columns(2)
now = traj.traces[step]
with a:
    render.plot(maps.channel_grid(now[skip_key][0].float().numpy()[ranks["skip"]], ranks["skip"], ranks["lim"], ncol=4,
                            title=f"Skip {level}: the encoder's features (top {TOP} channels)"), key="skip-grid")
with b:
    render.plot(maps.channel_grid(now[bb_key][0].float().numpy()[ranks["bb"]], ranks["bb"], ranks["lim"], ncol=4,
                            title=f"Backbone {level}: up from the deeper levels (top {TOP})"), key="bb-grid")
st.caption(f"Step {step}, t = {t}. Both tensors are {cfg.channels[level]} channels of "
           f"{cfg.resolution(level)}×{cfg.resolution(level)}, on ONE colour scale (shared by both and by every "
           "step), strongest channels first. Which of the two carries more fine detail (x_t's grain, noise "
           "included, is what the decoder needs to predict the noise pixel by pixel) is measured below.")

# ---------------------------------------------------------------- energy and frequencies over the run
cut = params.float_param("cut", "Frequency cut (fraction of the finest frequency a map can hold)", 0.1, 0.9, 0.5, 0.05,
                     help="Energy at radial frequencies above this counts as fine detail "
                          "(1 = stripes two pixels apart).")


freq = runs.derived(("skips-freq", rk, cut), lambda: skips.skip_backbone_summary(traj.traces, L, cut))
PARTS = {"skip": palette.SKIP, "backbone": palette.part_colour("backbone", level)}   # as in the overview
a, b = st.columns(2)
with a:
    render.plot(curves.lines_vs_t(traj.timesteps, {"skip": freq[(level, "skip", "rms")],
                                           "backbone": freq[(level, "backbone", "rms")]},
                          "RMS", current_t=t, title=f"Level {level}: how strong each is, step by step",
                          colours=PARTS),
            key="energy")
with b:
    render.plot(curves.lines_vs_t(traj.timesteps, {"skip": freq[(level, "skip", "high")],
                                           "backbone": freq[(level, "backbone", "high")]},
                          "share of energy above the cut", current_t=t, percent=True,
                          title=f"Level {level}: how much of it is fine detail", colours=PARTS), key="high-t")
cats = [f"level {k} · {cfg.resolution(k)}×{cfg.resolution(k)}" for k in range(L)]
render.plot(curves.grouped_bars(cats, {"skip": [freq[(k, "skip", "high")][step] for k in range(L)],
                               "backbone": [freq[(k, "backbone", "high")][step] for k in range(L)]},
                        "energy above the cut", "decoder level (resolution)", percent=True,
                        colours={"skip": palette.SKIP, "backbone": palette.part_colour("decoder", 1)},
                        title=f"Fine detail at every level, step {step} (t = {t}): share of each tensor's energy "
                              f"above {cut:g} × the finest frequency"), key="high-bars")
more = [k for k in range(L) if freq[(k, "skip", "high")][step] > freq[(k, "backbone", "high")][step]]
less = [k for k in range(L) if k not in more]
verdict = (f"At this step the skip carries the larger share of fine detail at level{'s' if len(more) > 1 else ''} "
           f"{', '.join(map(str, more))}" if more else "At this step the backbone carries the larger share everywhere")
if more and less:
    verdict += f"; the backbone at level{'s' if len(less) > 1 else ''} {', '.join(map(str, less))}."
else:
    verdict += "."
st.caption("2-D Fourier transform of every channel; the energy (the mean included) is split at the radial "
           f"frequency cut. {verdict} Fine detail at full resolution is what the low-resolution path cannot "
           "bring back; at 7×7, “fine” means a pattern a few cells wide.")

# ---------------------------------------------------------------- knobs
st.subheader("Turn the knobs")
start = {"noise": f"Same seed ({s.seed}), same noise", "drawing": f"Same drawing noised to t = {src.t0} (seed {s.seed})",
         "inversion": f"Same drawing, same inverted x_T (seed {s.seed})"}[src.kind]
st.markdown("Scale each skip and each backbone tensor right before they are concatenated (0 = cut, 1 = as "
            f"trained), only for the steps whose t lies in the range. {start}: any change "
            "in the result is the knobs' doing. (FreeU, Si et al. 2023, boosts the backbone and damps the skips "
            "of large text-to-image U-Nets to sharpen them; see how much this small one tolerates.)")
box = st.container(border=True)
cols = box.columns(L + 1)
skip_scale, bb_scale = {}, {}
for k in range(L):
    with cols[k]:
        st.markdown(f"**Level {k}** · {cfg.resolution(k)}×{cfg.resolution(k)}")
        skip_scale[k] = params.float_param(f"skip{k}", f"skip {k}", 0.0, 2.0, 1.0, 0.05)
        bb_scale[k] = params.float_param(f"bb{k}", f"backbone {k}", 0.0, 2.0, 1.0, 0.05)
with cols[L]:
    st.markdown("**Only while**")
    idle = all(v == 1.0 for v in [*skip_scale.values(), *bb_scale.values()])     # nothing to limit in time
    hint = "Set a knob away from 1 first: the range says when the knobs act." if idle else None
    tmin = params.int_param("tmin", "t from", 0, 999, 0, disabled=idle, help=hint)
    tmax = params.int_param("tmax", "t up to", 0, 999, 999, disabled=idle, help=hint)
iv = Interventions(skip_scale={k: v for k, v in skip_scale.items() if v != 1.0},
                   backbone_scale={k: v for k, v in bb_scale.items() if v != 1.0}, t_min=tmin, t_max=tmax)
if tmin > tmax:
    box.caption("The t range is empty (from > up to): nothing is changed.")
active = not iv.is_empty() and tmin <= tmax
mod = sources.trajectory(s, src, interventions=iv) if active else None
final = traj.final[0]
changed = mod.final[0] if mod is not None else final
diff, lim = readings.difference(maps.as_map(np.clip(changed, -1, 1)), maps.as_map(np.clip(final, -1, 1)))  # RGB: mean
touched = int(sum(iv.active_at(int(x)) for x in traj.timesteps)) if active else 0
render.plot(maps.panel_row([maps.Panel("as trained", final), maps.Panel("with your knobs", changed),
                      maps.Panel("difference (knobs − trained)", diff, "diff", lim if active else 1.0)],
                     title=f"{start}: the final image x0", size=260), key="result")
if active:
    rms = readings.rmse(np.clip(changed, -1, 1), np.clip(final, -1, 1))
    st.caption(f"The knobs acted on {touched} of {S} steps. RMS difference {rms:.3f} (images span −1..1). "
               "Purple: brighter with your knobs; orange: darker"
               + (" (mean of R, G, B)." if cfg.in_channels == 3 else "."))
else:
    st.caption("All knobs are as trained (1.0): both images are the same run.")

quality.retrained_comparison(s, traj, src)

notices.show_code(sources.code(s, src, CAPTURE) + f"""\
from diffviz.model.interventions import Interventions
skip = traj.traces[{step}]["decoder.{level}.skip"]          # (1, C, H, W) what the encoder hands over
backbone = traj.traces[{step}]["decoder.{level}.upsample"]  # (1, C, H, W) what comes up from below
readings.high_share(skip[0], cut={cut:g}), readings.high_share(backbone[0], cut={cut:g})
iv = Interventions(skip_scale={iv.skip_scale!r}, backbone_scale={iv.backbone_scale!r}, t_min={tmin}, t_max={tmax})
""" + sources.code(s, src, extra=", interventions=iv", name="changed", head=False))
