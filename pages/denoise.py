"""3 · Denoising, step by step: the reverse process, and how well the U-Net predicts the noise."""

import numpy as np
import streamlit as st

from diffviz.app import notices, params, pictures, render, runs
from diffviz.diffusion.schedulers import make_sampler
from diffviz.figures import curves, equations, images, maps
from diffviz.probe import claims

s, model, meta = runs.open_page("denoise")
cfg = model.config

try_box = notices.intro(
    "Denoising, step by step",
    "Sampling runs the forward process backwards. It starts from pure noise x_T; at every step the U-Net "
    "predicts the noise ε̂ in the current x_t, which implies a guess x̂0 of the finished image, and the "
    f"sampler ({s.sampler.upper()}) moves a little towards that guess to get $x_{{t-1}}$. Repeat {s.steps} times.",
)
WHAT = "the digit" if cfg.conditioning == "class" else "the shapes"
RGB = cfg.in_channels == 3


def settle_text(tr) -> str:
    """The sample view's prompt, phrased from this run: when x̂0 and x_t first match the result."""
    final = tr.final[0]
    k0 = claims.first_settled(tr.pred_x0[:, 0], final)
    kt = claims.first_settled(tr.x_t[:, 0], final)

    def when(k):
        return (f"step {k} of {tr.steps} (t = {int(tr.timesteps[k])})" if k is not None
                else "only at the very end")
    r0 = claims.correlation(tr.pred_x0[0, 0], final)
    text = (f"scrub **Show step** slowly from 0. Measured on this run (r = correlation with the finished image): "
            f"at step 0, x̂0 (the model's guess of the final image) is a rough guess (r = {r0:.2f}); it settles "
            f"(r ≥ 0.9 from then on) at {when(k0)}, x_t itself at {when(kt)}")
    if k0 is not None and kt is not None and k0 < kt:
        text += f": the guess knows {WHAT} {kt - k0} steps before the noisy image looks like it."
    else:
        text += "."
    return text + " Then switch to *real image* to compare the predicted noise with the true one."


MODES = {"sample": "Sample from pure noise", "real": "Real image: predicted vs true noise"}
mode = params.choice_param("mode", "What to look at", list(MODES), "sample", widget="radio", format_func=MODES.get)


@st.fragment                          # scrubbing reruns this view only, not the sidebar and the page
def sample_view():
    tr = runs.trajectory(s)
    S = tr.steps
    notices.you_should_see(try_box, settle_text(tr))
    play = bool(st.session_state.get("play"))
    i = params.int_param("step", f"Show step (0 = pure noise, {S - 1} = last)", 0, S - 1, 0, disabled=play,
                         help="Not used while the animation plays." if play else
                         "Which of the run's steps to show (the sidebar's “Steps in the run” sets how many).")
    play = st.toggle("▶ Play the whole run", key="play", help="An animation of x_t and x̂0 over every step.")
    sch = make_sampler(s.sampler, "linear", s.steps)
    t = int(tr.timesteps[i])
    prev_t = int(tr.timesteps[i + 1]) if i + 1 < S else -1
    ab = float(sch.alphas_cumprod[t])
    ab_prev = float(sch.alphas_cumprod[prev_t]) if prev_t >= 0 else 1.0
    lim = images.signed_limit(tr.eps[:, 0])                      # ONE colour scale for all steps
    x_t, eps, x0, x_prev = (a.astype(np.float32) for a in (tr.x_t[i, 0], tr.eps[i, 0], tr.pred_x0[i, 0],
                                                           tr.x_prev(i)[0]))
    prev_name = "x_0" if prev_t < 0 else f"x_{prev_t}"

    def gif():                                                     # built once per run, when first asked for
        return runs.cached_bytes(("gif",) + s.run_key(), lambda: images.trajectory_gif(
            tr.x_t[:, 0], tr.pred_x0[:, 0], tr.timesteps, tr.final[0], scale=10))

    if play:                                                       # shown at its own size: never rescaled
        st.image(gif(), caption=f"x_t (left) and the guess x̂0 (right) at every step of the {S}, then the result. "
                              "Switch “Play” off to scrub step by step again.", width="content",
                 alt=f"Animation of the {S} sampling steps: x_t and x̂0 side by side, from pure noise to the result.")
    else:
        cols = st.columns(4)
        chans = RGB and st.toggle("Show ε̂'s R, G, B channels", key="eps_channels",
                                  help="ε̂ is shown as a colour picture; switch on for one heat map per channel.")
        panels = [(x_t, f"x_t  (t = {t})", False), (eps, "predicted noise ε̂", True),
                  (x0, "x̂0: the guess of x0", False), (x_prev, f"next: {prev_name}", False)]
        for col, (a, title, signed), key in zip(cols, panels, ("x_t", "eps", "x0", "x_prev")):
            with col:
                render.shared_chart(("denoise", s.run_key(), i, key, chans), lambda a=a, title=title, signed=signed:
                    maps.image_figure(a, title, signed=signed, limit=lim, height=340, channels=chans), key=key)
        st.caption(f"Step {i} of {S}: x_{t} → {prev_name}{' (the last step)' if prev_t < 0 else ''}. "
                   + (f"Images in colour, −1 … +1 per channel; ε̂ in colour too, each channel from −{lim:.2f} "
                      f"(dark) to +{lim:.2f} (bright), mid-grey = 0" + (" (channels: blue < 0 < red)" if chans else "")
                      if RGB else f"Images: grey −1 (black) … +1 (white); ε̂: blue < 0 < red, ±{lim:.2f}")
                   + ", one scale for every step of this run.")

    if play:
        st.caption("The equations for each step are shown when you scrub (Play off).")
    elif s.sampler == "ddim":
        st.latex(equations.pred_x0_equation(t, ab))
        st.latex(equations.ddim_equation(t, prev_t, ab, ab_prev))
        st.caption("DDIM (η = 0) is deterministic: it re-noises the guess x̂0 to the next, lower noise level "
                   "using the predicted noise ε̂ itself.")
    else:
        st.latex(equations.pred_x0_equation(t, ab))
        st.latex(equations.ddpm_equation(t, prev_t, ab, ab_prev))
        st.caption("DDPM takes the mean of $q(x_{t-1} \\mid x_t, \\hat x_0)$, a blend of the guess and the "
                   "current image, and adds fresh noise z ~ N(0, I) with standard deviation σ (none at the last step).")

    d1, d2, _ = st.columns([1, 1, 2])
    d1.download_button("⬇ Trajectory as GIF", gif, file_name=f"diffviz-{s.model}-seed{s.seed}-{s.sampler}{S}.gif",
                       mime="image/gif", key="dl_gif")
    def png():
        return images.png_bytes(images.panel_image(
            [x_t, eps, x0, x_prev], [f"x_t (t={t})", "eps_hat", "x0_hat", f"next ({prev_name})"],
            signed=[False, True, False, False], limits=[1, lim, 1, 1],
            title=f"{s.model} · seed {s.seed} · {s.sampler.upper()} {S} steps · step {i}"))
    d2.download_button("⬇ This view as PNG", png, file_name=f"diffviz-{s.model}-seed{s.seed}-step{i}.png",
                       mime="image/png", key="dl_png")

    notices.show_code(f"""
from diffviz.diffusion import sampling
from diffviz.model import zoo

model, meta = zoo.load("{s.model}")
tr = sampling.run(model, [{s.condition!r}], sampler="{s.sampler}", steps={S}, guidance={s.guidance:g}, seeds=[{s.seed}])
tr.timesteps[{i}]                                      # t = {t}
tr.x_t[{i}], tr.eps[{i}], tr.pred_x0[{i}], tr.x_prev({i})   # each {(1, cfg.in_channels, cfg.image_size, cfg.image_size)}
""")


def real_view():
    st.markdown("Take an image the model never trained on, noise it to 50 levels with a known ε, and ask the "
                "U-Net for the noise at each level (one batched forward pass). A perfect model would return ε "
                "exactly; the error shows where denoising is hard.")
    pic = pictures.pick_picture(s, cfg)
    ts = np.arange(19, 1000, 20)                                  # 50 noise levels: 19, 39, …, 999
    probe = runs.noise_probe(s, pic.x0, pic.condition, ts)
    t = params.int_param("t", "Noise level t", int(ts[0]), int(ts[-1]), 499, step=20,
                     help="One of the 50 levels that were computed together.")
    j = int(np.argmin(np.abs(ts - t)))
    lim = images.signed_limit(probe.noise, probe.eps_hat)        # one scale for all 50 levels
    err = probe.eps_hat[j] - probe.noise
    cols = st.columns(4)
    panels = [(probe.x_t[j], f"x_t at t = {t}", False), (probe.noise, "true noise ε", True),
              (probe.eps_hat[j], "predicted ε̂", True), (err, "error ε̂ − ε", True)]
    for col, (a, title, signed), key in zip(cols, panels, ("r_x_t", "r_eps", "r_eps_hat", "r_err")):
        with col:
            render.chart(maps.image_figure(a, title, signed=signed, limit=lim, height=340), key=key)
    st.caption(f"x0: {pic.description}. The model is told {notices.plain(pic.condition)} (no guidance). "
               f"Noise maps share one scale (±{lim:.2f}) for every t.")
    render.chart(curves.error_curve_figure(ts, probe.mse, t), key="mse")
    lo, hi = int(np.argmin(probe.mse)), int(np.argmax(probe.mse))
    high_half = float(probe.mse[ts >= 500].mean()) < float(probe.mse[ts < 500].mean())
    why = (" At high t, x_t is nearly all noise, so “the noise is x_t” is almost right; at low t the noise "
           "is a faint sprinkle on a clean image and much harder to pin down exactly." if high_half else
           " Here the high-t half is not the easier one: this image and seed do not follow the usual pattern.")
    st.caption(f"At t = {t} the mean squared error is {probe.mse[j]:.4f}. Measured on this image: the error is "
               f"smallest at t = {int(ts[lo])} ({probe.mse[lo]:.4f}) and largest at t = {int(ts[hi])} "
               f"({probe.mse[hi]:.4f}); its mean over t ≥ 500 is "
               f"{'lower' if high_half else 'higher'} than over t < 500.{why}")
    notices.you_should_see(try_box, f"move **Noise level t** and compare ε̂ with ε: the error ε̂ − ε is smallest at "
                                    f"t = {int(ts[lo])} and largest at t = {int(ts[hi])} for this image (the curve "
                                    "below has every level).")
    notices.show_code(f"""
import numpy as np, torch
from diffviz.diffusion import sampling
from diffviz.model import zoo
from diffviz.diffusion.schedulers import NoiseSchedule

model, meta = zoo.load("{s.model}")
ts = torch.arange(19, 1000, 20)                              # 50 noise levels
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed({s.seed}))
x_t = NoiseSchedule("{runs.schedule_name(meta)}").add_noise(x0.expand(50, *x0.shape), eps.expand(50, *x0.shape), ts)
eps_hat = model(x_t, ts, sampling.encode_conditions(model, [{pic.condition!r}] * 50))   # one batched pass
mse = ((eps_hat - eps) ** 2).flatten(1).mean(1)              # error at each t
""")


if mode == "real":
    real_view()
else:
    sample_view()
