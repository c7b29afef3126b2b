"""9 · Your digit: draw one, see the model's input, noise it, and let the U-Net repair it (SDEdit)."""

import numpy as np
import streamlit as st

from diffviz.app import digit, digit_views, notices, params, render, runs, settings
from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.figures import maps

s = settings.settings()
model, meta = runs.load_model(s.model)
cfg = model.config
notices.scoped("your-digit", "t", "step")            # the forward and denoising pages use these names too
what = "digit" if cfg.in_channels == 1 else "scene"

notices.intro(
    f"Your {what}: draw it, noise it, let the U-Net repair it",
    "So far the U-Net only worked on pictures it sampled itself or on held-out digits. Here it works on yours. "
    + ("Your drawing becomes the model's input the way MNIST's digits were made; " if cfg.in_channels == 1 else
       "Your drawing, reduced to 32×32, is the model's input; ")
    + "then **SDEdit** noises it to a level t and runs the ordinary reverse process from there. "
    f"The U-Net was only ever trained to turn noisy {'digits' if cfg.in_channels == 1 else 'scenes'} into clean ones, so whatever you draw, it pulls the "
    "picture toward something it knows.",
    f"draw a sloppy {'digit' if cfg.in_channels == 1 else 'shape in one of the swatches’ colours'} (Clear first), "
    "then move **repair from t** between 300 and 900: from a small t the result keeps your strokes, from a large "
    f"t only their rough place survives and the model draws its own {what} there; the table below measures how "
    "far each result moved from your input.",
)

c1, c2 = st.columns([1, 2])
with c1:
    st.markdown("**Draw here** (mouse, pen or finger)" + (" — pick a colour first" if cfg.in_channels == 3 else ""))
    d = digit.drawing_input(cfg, key="canvas")
    st.caption("The default picture is held-out digit #354; **Clear** and draw your own. The drawing travels "
               "in this page's link." if cfg.in_channels == 1 else
               "The default picture is the default caption's scene; **Clear** and draw your own.")
with c2:
    for n in d.notes:
        st.info(n, icon=":material/draw:")
    if d.x is None:
        st.warning(f"{notices.plain(d.problem, 200)} The views below need a drawing.", icon=":material/draw:")
        st.stop()
    a, b = st.columns(2)
    with a:
        render.chart(maps.image_figure(d.grid.astype(np.float32) / 7.5 - 1, "your drawing (as sent, 4 bits)",
                                       height=300), key="drawn")
    with b:
        render.chart(maps.image_figure(d.x, "the model's input x0", height=300), key="input")
    st.caption("MNIST-style: the ink's bounding box scaled into 20×20 (aspect ratio kept), its centre of mass at "
               "the centre of 28×28, white ink +1 on black −1." if cfg.in_channels == 1 else
               "The colours as drawn, on black, in [−1, 1]: where a shape sits is part of its caption.")

# ---------------------------------------------------------------- noise it
st.subheader("1 · Noise it")
t = params.int_param("t", "Noise level t (0 = clean, 999 = pure noise)", 0, 999, 300)
ab = float(NoiseSchedule(runs.schedule_name(meta)).alphas_cumprod[t])
eps = runs.fixed_noise(s.seed, d.x.shape).numpy()
x_t = np.sqrt(ab) * d.x + np.sqrt(1 - ab) * eps                    # x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε
n1, n2, _ = st.columns([1, 1, 1])
with n1:
    render.chart(maps.image_figure(d.x, "x0: your input", height=280), key="n_x0")
with n2:
    render.chart(maps.image_figure(x_t, f"x_t at t = {t}", height=280), key="n_xt")
st.caption(f"ᾱ_t = {ab:.3f}: {np.sqrt(ab):.2f}·x0 + {np.sqrt(1 - ab):.2f}·ε, with the seed's ε ({s.seed}), exactly as "
           "on the forward-process page.")

# ---------------------------------------------------------------- repair it
st.subheader("2 · Repair it (SDEdit)")
r1, r2 = st.columns(2)
t0 = params.int_param("from", "Repair from t", 100, 900, 600, step=100, where=r1,
                      help="Noise the input to this t, then denoise from there with the sidebar's sampler.")
if cfg.in_channels == 1:
    told = params.choice_param("as", "Tell the model the digit is", ["none"] + list(range(10)), "none", where=r2,
                               widget="segmented", help="“none”: no label (the unconditional model).")
    cond = None if told == "none" else int(told)
else:
    told = params.choice_param("as", "Tell the model", ["none", "caption"], "caption", where=r2, widget="segmented",
                               format_func=lambda o: "no caption" if o == "none" else f"“{s.prompt}”")
    cond = None if told == "none" else s.prompt
tr = digit.sdedit(s, d, cond, t0)
i = params.int_param("step", f"Step of the repair (0 = x_{t0}, {tr.steps - 1} = the last)", 0, tr.steps - 1, 0) \
    if tr.steps > 1 else 0
k1, k2, k3, k4 = st.columns(4)
views = [(k1, d.x, "your input x0", "r_x0"), (k2, tr.x_t[i, 0], f"x_t at step {i} (t = {int(tr.timesteps[i])})", "r_xt"),
         (k3, tr.pred_x0[i, 0], "x̂0: the U-Net's guess", "r_x0hat"), (k4, tr.final[0], "the repaired picture", "r_final")]
for col, img, title, key in views:
    with col:
        render.chart(maps.image_figure(img.astype(np.float32), title, height=300), key=key)
told_text = "no label" if cond is None else f"“{cond}”"
st.caption(f"{tr.steps} {s.sampler.upper()} steps from t = {t0} ({s.steps}-step spacing), told {notices.plain(told_text)}, "
           f"guidance {s.guidance:g}, seed {s.seed}. The repair goes through the same U-Net calls and capture as "
           "sampling from pure noise; only the start differs.")

st.markdown("**How far does the repair move your drawing?** The same drawing, seed and label, repaired from three levels:")
rows, judged = [], []
for t_start in (300, 600, 900):
    r = digit.sdedit(s, d, cond, t_start)
    rows.append((t_start, r.final[0].astype(np.float32)))
diffs = [float(np.abs(img - d.x).mean()) for _, img in rows]
reads = digit.judge_reads(np.stack([d.x] + [img for _, img in rows])) if cfg.in_channels == 1 else None
st.image(digit.strip([d.x] + [img for _, img in rows],
                      ["your input"] + [f"from t = {t_}" for t_, _ in rows]), width="content",
         alt="Your input and its repairs from t = 300, 600 and 900, side by side (numbers in the table below).")
table = {"repair from t": [str(t_) for t_, _ in rows],
         "mean |result − input| per pixel (of 2)": [f"{v:.3f}" for v in diffs]}
if reads is not None:
    table["the judge reads"] = [str(v) for v in reads[1:]]
st.table(table)
order = "grows" if diffs[0] < diffs[1] < diffs[2] else "does not grow steadily"
judge_text = f" The independent judge reads your input as a {reads[0]}." if reads is not None else ""
st.caption(f"Measured now: the change {order} with t ({diffs[0]:.3f} → {diffs[1]:.3f} → {diffs[2]:.3f}).{judge_text} "
           "From a small t the noise hides little, so the U-Net only smooths your strokes; from a large t almost "
           "nothing of x0 is left but its rough layout, and the model draws what it knows there.")
told_there = f"the caption “{notices.plain(s.prompt)}”" if s.kind == "text" else f"the sidebar's label ({s.label})"
st.markdown(f"**Look inside while the U-Net repairs it.** Pages 4–8 run on this {what}'s repair from t = {t0} "
            f"(“Run the U-Net on”; or on its DDIM inversion), told {told_there}:")
link = {"source": "drawing", "from": str(t0)} | ({} if d.is_default else {"drawing": d.code})
for col, (path, title) in zip(st.columns(5), [("inside", "4 · Inside"), ("skips", "5 · Skips"), ("attention", "6 · Attention"),
                                              ("timestep", "7 · Timestep"), ("ablation", "8 · Ablation lab")]):
    col.page_link(f"pages/{path}.py", label=title, query_params=link)

# ---------------------------------------------------------------- invert it, read it, place it
if cfg.conditioning == "class":
    st.subheader("Invert it, read it, place it")
    deep = params.toggle_param("deep", "Invert, read and place my digit (a few seconds of model calls)", False,
                               help="DDIM inversion (about 150 U-Net calls), the zero-shot reading (one per label "
                                    "and noising, more for an ambiguous digit) and the bottleneck map of the 500 held-out digits.")
    if deep:
        st.markdown("**Invert it: which noise would the U-Net turn into your digit?**")
        digit_views.show_inversion(s.model, d.x, cond)
        st.markdown("**Read it: which label makes the U-Net predict the noise best?**")
        digit_views.show_zero_shot(s.model, d.x)
        st.markdown("**Place it: where does your digit land in the bottleneck?**")
        digit_views.show_bottleneck_map(s.model, d.x, cond)
else:
    st.info("Inversion, the zero-shot reading and the bottleneck map are measured for the digit models: "
            "choose **mnist** in the sidebar's Model menu to see them for a drawn digit.", icon="ℹ️")

notices.show_code(f"""
from diffviz.data import drawing
from diffviz.diffusion import edit
from diffviz.model import zoo

grid = drawing.decode("{d.code[:40]}{'…' if len(d.code) > 40 else ''}")   # the link's `drawing` value
x0 = drawing.model_input(grid, {cfg.in_channels}, {cfg.image_size}).x        # (C, H, W) in [-1, 1]
model, meta = zoo.load("{s.model}")
tr = edit.run(model, x0[None], [{cond!r}], t_start={t0}, sampler="{s.sampler}", steps={s.steps},
              guidance={s.guidance:g}, seeds=[{s.seed}])
tr.x_t[0], tr.pred_x0[0], tr.final                # the noised input, the first guess, the repair
""")
