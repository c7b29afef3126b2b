"""2 · Forward process: how a clean image becomes noise, x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε."""

import numpy as np
import streamlit as st

from diffviz.app import notices, params, pictures, render, runs
from diffviz.diffusion.schedulers import SCHEDULES, NoiseSchedule
from diffviz.figures import curves, equations, images, maps
from diffviz.probe import claims

s, model, meta = runs.open_page("forward")
cfg = model.config
trained = runs.schedule_name(meta)

try_box = notices.intro(
    "Forward process: from image to noise",
    "Training needs noisy images with a known amount of noise. The forward process makes them in one "
    "jump: x_t is a blend of the clean image x0 and Gaussian noise ε, with weights set by the schedule's ᾱ_t "
    "(“how much signal is left after t steps”). There is nothing to learn here; the U-Net only has to "
    "guess ε back from x_t.",
)



def fading_text(fade: dict, sched, pic) -> str:
    """The prompt, phrased from how this picture fades under this seed's noise (measured)."""
    def at(t):
        return f"t = {t} (ᾱ_t = {float(sched.alphas_cumprod[t]):.2f})" if t is not None else "never"
    lin, cos = NoiseSchedule("linear").alphas_cumprod, NoiseSchedule("cosine").alphas_cumprod
    half = {n: int(np.argmax(a.numpy() < 0.5)) for n, a in (("linear", lin), ("cosine", cos))}
    slower = "cosine" if half["cosine"] > half["linear"] else "linear"
    return (f"drag **t** from 0 to 999 and watch {pic.what}. Measured on this picture and this seed's noise "
            f"(r = how much x_t still correlates with x0): it stays clear (r ≥ {claims.CLEAR}) until "
            f"{at(fade['clear_until'])}, turns faint (r < {claims.FAINT}) at {at(fade['faint_at'])} and is "
            f"practically gone (r < {claims.GONE}) at {at(fade['gone_at'])}. Then compare the schedules: "
            f"{slower} keeps more signal for longer (ᾱ_t falls below one half at t = {half[slower]}, the other "
            f"at t = {half['cosine' if slower == 'linear' else 'linear']}).")


pic = pictures.pick_picture(s, cfg)
t = params.int_param("t", "Noise level t (0 = clean, 999 = pure noise)", 0, 999, 300,
                 help="The forward process jumps straight to step t.")

sched = NoiseSchedule(trained)
ab = float(sched.alphas_cumprod[t])
eps = runs.fixed_noise(s.seed, pic.x0.shape).numpy()                 # (C, H, W): the seed's noise, fixed
x_t = np.sqrt(ab) * pic.x0 + np.sqrt(1 - ab) * eps                 # the forward process, eq. 4
lim = images.signed_limit(eps)
fade = claims.fading(pic.x0, eps, sched.alphas_cumprod.numpy())          # r(x_t, x0) for every t
notices.you_should_see(try_box, fading_text(fade, sched, pic))

c1, c2, c3 = st.columns(3)
with c1:
    render.chart(maps.image_figure(pic.x0, "clean image x0"), key="x0")
with c2:
    render.chart(maps.image_figure(x_t, f"x_t at t = {t}"), key="x_t")
with c3:
    render.chart(maps.image_figure(eps, "the noise ε that is mixed in", signed=True, limit=lim),
                    key="eps")
st.caption(f"x0: {pic.description}. ε is fixed by the seed ({s.seed}), so only its weight changes with t. "
           "Grey scale −1 (black) … +1 (white), the same for every t (brighter/darker values are clipped on "
           "screen; hover for the numbers); noise: "
           + ("in colour, each channel from −{0:.2f} (dark) to +{0:.2f} (bright), mid-grey = 0.".format(lim)
              if cfg.in_channels == 3 else "blue < 0 < red."))

st.latex(equations.forward_equation(t, ab))
m1, m2, m3, m4 = st.columns(4)
m1.metric("ᾱ_t (signal kept)", f"{ab:.4f}")
m2.metric("√ᾱ_t: weight of x0", f"{np.sqrt(ab):.3f}")
m3.metric("√(1−ᾱ_t): weight of ε", f"{np.sqrt(1 - ab):.3f}")
snr = ab / (1 - ab) if ab < 1 else float("inf")
m4.metric("SNR = ᾱ_t/(1−ᾱ_t)", f"{snr:.3g}", help="Signal-to-noise ratio; 1 means signal and noise are equal.")

st.subheader("The schedule: how fast the signal fades")
render.chart(curves.schedule_figure(t, SCHEDULES, trained=trained), key="schedule")
st.caption(f"β_t is the variance added at step t; ᾱ_t = ∏(1 − β_s) is what survives of x0. "
           f"This model was trained with the {trained} schedule (solid line); the dot marks t = {t}.")

st.subheader("The whole way at a glance")
marks = [0, 100, 200, 300, 500, 700, 999]
strip = [np.sqrt(sched.alphas_cumprod[k].item()) * pic.x0 + np.sqrt(1 - sched.alphas_cumprod[k].item()) * eps
         for k in marks]
st.image(images.panel_image(strip, [f"t = {k}" for k in marks], scale=5), width="content",
         alt=f"{pic.description} noised to t = " + ", ".join(map(str, marks)) + ": r(x_t, x0) = "
             + ", ".join(f"{fade['r'][k]:.2f}" for k in marks) + " (1 = the clean picture, 0 = only noise).")

notices.show_code(f"""
import torch
from diffviz.diffusion.schedulers import NoiseSchedule

sched = NoiseSchedule("{trained}")                    # β_t, ᾱ_t for t = 0..999
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed({s.seed}))
x_t = sched.add_noise(x0, eps, torch.tensor([{t}]))   # √ᾱ_t·x0 + √(1−ᾱ_t)·ε
sched.alphas_cumprod[{t}], sched.snr()[{t}]          # {ab:.4f}, {snr:.3g}
""")
