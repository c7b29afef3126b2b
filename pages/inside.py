"""4 · Inside the U-Net: the feature maps of every level at one sampling step, and their size over t."""

import numpy as np
import streamlit as st

from diffviz.app import notices, params, render, runs, sources
from diffviz.figures import curves, diagram, maps, palette
from diffviz.probe import claims, readings

TOP = 16

s, model, _ = runs.open_page("inside", "level")   # "level" means something else on other pages
cfg = model.config
L = cfg.levels
STAGES = [f"encoder.{k}" for k in range(L)] + ["bottleneck"] + [f"decoder.{k}" for k in reversed(range(L))]


def level_of(stage: str) -> int:
    return L - 1 if stage == "bottleneck" else int(stage.split(".")[1])


def channels_of(stage: str) -> int:
    return cfg.channels[level_of(stage)]


def name(stage: str) -> str:
    r = cfg.resolution(level_of(stage))
    part = "bottleneck" if stage == "bottleneck" else f"{stage.split('.')[0]} level {level_of(stage)}"
    return f"{part} · {r}×{r} · {channels_of(stage)} channels"


try_box = notices.intro(
    "Inside the U-Net",
    "While the U-Net predicts the noise in x_t, every level computes a stack of **feature maps** "
    "(channels). On the way down (encoder) the maps shrink and the channels multiply; the bottleneck "
    "sees the whole image at its coarsest; on the way up (decoder) the maps grow back to full size. "
    f"Each grid shows a level's {TOP} most energetic channels at the chosen sampling step, red = "
    "positive, blue = negative, on one colour scale for all steps of the run.")
WHAT, APPEAR = ("digit", "appears") if cfg.conditioning == "class" else ("shapes", "appear")

src = sources.pick(s, cfg)                      # sampling, or your drawing's SDEdit or inversion
traj, run_key = sources.trajectory(s, src, capture=STAGES), sources.key(s, src)
if src.from_drawing:
    st.caption(sources.note(s, src, traj))
S = traj.steps
c1, c2 = st.columns([3, 2])
step = sources.step(s, src, traj, where=c1)
focus = params.choice_param("level", "Look closer at", STAGES, "bottleneck", where=c2, format_func=name,
                        help="Show every channel of one level, and how the energy is shared between them.")
t = int(traj.timesteps[step])


def summarise():
    """Per stage, over the whole run: channel ranking, one colour limit, statistics per step."""
    out = {}
    for stage in STAGES:
        x = readings.stack_steps(traj.traces, stage)                     # (S, C, H, W)
        order = readings.rank_channels(x)
        out[stage] = {"order": order, "lim": readings.symmetric_limit(x[:, order[:TOP]]),
                      "lim_all": readings.symmetric_limit(x), "energy": readings.channel_energy(x),
                      "follow": claims.follows_image(x[:, order[:TOP]], traj.final[0]),
                      "signs": channel_signs(x[-1], traj.final[0]),
                      **readings.level_stats(traj.traces, stage)}
    return out


def channel_signs(last, final, level: float = 0.3) -> tuple[int, int]:
    """How many channels (C, h, w) at the last step correlate with the final image by ≥ +level / ≤ −level."""
    ref = claims.pooled(final, last.shape[-1])
    r = np.array([claims.correlation(c, ref) for c in last])
    return int((r >= level).sum()), int((r <= -level).sum())


def follow_text() -> str:
    """The prompt, phrased from this run: from which step each level's average map follows the result."""
    def when(stage):
        k = summary[stage]["follow"]["from_step"]
        r = cfg.resolution(level_of(stage))
        return f"{stage} ({r}×{r}) from step {k}" if k is not None else f"{stage} ({r}×{r}) not at all"
    pos, neg = summary[focus]["signs"]
    first = max(summary[st_]["follow"]["first_r"] for st_ in STAGES)
    return (f"drag **Show step** from 0 to the end ({S} steps) and watch the {WHAT} appear in the maps. "
            f"Measured on this run (the clearest of a level's {TOP} strongest channels, compared with the "
            f"finished image shrunk to the level's size): at step 0 no channel correlates more than |r| = "
            f"{first:.2f}; the levels follow the image (|r| ≥ 0.5 from then on) at "
            + ", ".join(when(st_) for st_ in STAGES) + f". At the last step, {pos} of {channels_of(focus)} "
            f"channels of {focus} light up on the {WHAT} (r ≥ 0.3) and {neg} on the background around it "
            "(r ≤ −0.3).")


summary = runs.derived(("inside", run_key), summarise)
notices.you_should_see(try_box, follow_text())

# ---------------------------------------------------------------- the input and the shape of the network
left, right = st.columns([2, 3])
with left:
    render.plot(maps.panel_row([maps.Panel("x_t: what goes in", traj.x_t[step, 0]),
                          maps.Panel("x̂0: the U-Net's guess", traj.pred_x0[step, 0])],
                         title=f"Step {step}, t = {t}", size=190), key="inputs")
with right:
    rows = [{"stage": st_.replace("encoder.", "enc ").replace("decoder.", "dec "),
             "resolution": cfg.resolution(level_of(st_)), "channels": channels_of(st_)} for st_ in STAGES]
    render.plot(diagram.architecture(rows, title="Resolution shrinks, channels grow — and back", height=300),
                numbers={k: [r[k] for r in rows] for k in ("stage", "resolution", "channels")})
    st.caption("Values per feature map stack (channels × height × width): " + ", ".join(
        f"{r['stage']} {r['channels']}×{r['resolution']}×{r['resolution']} = "
        f"{r['channels'] * r['resolution'] ** 2:,}" for r in rows[:L + 1]) + ". "
        + ("Each deeper level holds fewer numbers than the one above it, but each number describes a larger "
           "patch of the image." if all(a["channels"] * a["resolution"] ** 2 > b["channels"] * b["resolution"] ** 2
                                        for a, b in zip(rows[:L], rows[1:L + 1])) else
           "Each number of a deeper level describes a larger patch of the image."))

# ---------------------------------------------------------------- every level, laid out like the U
st.subheader(f"Feature maps at step {step} (t = {t})")
st.caption(f"Encoder on the left (top = full resolution), decoder on the right, bottleneck at the bottom: "
           f"the shape of the U. Each grid: the {TOP} channels with the most energy over the whole run, "
           "strongest first; hover for the channel number and value.")


def grid(stage: str, top: int = TOP, ncol: int = 4, width: int = 400):
    info = summary[stage]
    order = info["order"][:top]
    features = traj.traces[step][stage][0].float().numpy()[order]     # (top, h, w)
    return maps.channel_grid(features, order, info["lim"] if top <= TOP else info["lim_all"], ncol=ncol,
                           title=name(stage), width=width)


for k in range(L):
    a, b = st.columns(2)
    with a:
        render.shared_plot(("inside", run_key, step, f"encoder.{k}"), lambda k=k: grid(f"encoder.{k}"),
                           key=f"grid-encoder-{k}")
    with b:
        render.shared_plot(("inside", run_key, step, f"decoder.{k}"), lambda k=k: grid(f"decoder.{k}"),
                           key=f"grid-decoder-{k}")
_, mid, _ = st.columns([1, 2, 1])
with mid:
    render.shared_plot(("inside", run_key, step, "bottleneck"), lambda: grid("bottleneck"),
                       key="grid-bottleneck")

# ---------------------------------------------------------------- statistics over the run
st.subheader("How strong is each level, step by step?")
stat = params.choice_param("stat", "Statistic", ["rms", "mean_abs"], "rms", widget="radio",
                       format_func={"rms": "RMS (root mean square)", "mean_abs": "mean |activation|"}.get)
series = {name(st_).split(" · ")[0]: summary[st_][stat] for st_ in STAGES}
dashed = {name(st_).split(" · ")[0] for st_ in STAGES if st_.startswith("decoder")}
render.plot(curves.lines_vs_t(traj.timesteps, series, "RMS of the feature maps" if stat == "rms" else "mean |activation|",
                      current_t=t, dashed=dashed, title="Activation size per level over the whole run",
                      colours={n: palette.part_colour(n) for n in series}))
st.caption("Colours as in the overview's diagram: blues = encoder levels, purple = bottleneck, vermilions = "
           "decoder levels (darker = deeper). Solid: encoder and bottleneck; dashed: decoder. The dotted line "
           "is the step shown above. "
           "Activations are not normalised between levels, so compare a line's shape over t more than "
           "its height against other lines.")

# ---------------------------------------------------------------- one level in detail
st.subheader(f"Closer: {name(focus)}")
info = summary[focus]
n_ch = channels_of(focus)
ncol = 16 if n_ch > 32 else 8
render.shared_plot(("inside-all", run_key, step, focus), lambda: grid(focus, top=n_ch, ncol=ncol, width=900),
                   key="grid-focus")
a, b = st.columns(2)
with a:
    mean_map = traj.traces[step][focus][0].float().numpy().mean(axis=0)
    mean_lim = runs.derived(("inside-mean-lim", run_key, focus),
                          lambda: readings.symmetric_limit(readings.stack_steps(traj.traces, focus).mean(axis=1)))
    render.plot(maps.panel_row([maps.Panel("x̂0", traj.pred_x0[step, 0]),
                          maps.Panel("mean over all channels", mean_map, "signed", mean_lim)],
                         title="The level's average map next to x̂0", size=220))
with b:
    e = info["energy"][info["order"]]
    k90 = int(np.searchsorted(np.cumsum(e) / e.sum(), 0.9) + 1)
    render.plot(curves.energy_ranking(e, info["order"], title=f"{k90} of {n_ch} channels hold 90% of the energy",
                              height=300, colour=palette.part_colour(focus)))
st.caption("All channels of this level, strongest first, on their own colour scale (shared by every step). "
           "Energy = mean square over the whole run; the bars show how unevenly the channels share it, and "
           "the grids above show only the strongest.")

notices.show_code(sources.code(s, src, STAGES) + f"""\
x = readings.stack_steps(traj.traces, "{focus}")        # (steps, C, H, W)
order = readings.rank_channels(x)[:{TOP}]              # most energetic channels first
maps = traj.traces[{step}]["{focus}"][0][order]        # (16, H, W) at step {step}, t = {t}
rms = readings.level_stats(traj.traces, "{focus}")["rms"]   # one number per step
""")
