"""8 · Ablation lab: two set-ups (model + inference-time ablations), the same seeds, side by side."""

import numpy as np
import streamlit as st

from diffviz.app import notices, params, quality, render, runs, settings, setups, sources
from diffviz.figures import curves, maps
from diffviz.model import zoo
from diffviz.probe import readings

s = settings.settings()
try_box = notices.intro(
    "Ablation lab",
    "An ablation switches part of a trained network off and watches what breaks: the surest way to learn "
    "what that part was doing. Set up two experiments, **A** and **B**: each picks a model and, optionally, "
    "cuts or scales skip connections, switches attention off, lies about t or drops the condition, for "
    "the steps whose t lies in a range. Both run on exactly the same seeds, with the sidebar's sampler, "
    "steps, condition and guidance.")

ALL = zoo.available()
KIND = zoo.MODELS[s.model].kind                       # the sidebar reads set-up A's model for this
left, right = st.columns(2, gap="large")
a = setups.setup_widgets("a_", "Set-up A", ALL, settings.a_default(ALL), False, left.container(border=True),
                         note=" B can use the models told the same kind of condition.")
SAME_KIND = zoo.available(zoo.MODELS[a.name].kind)
# B starts as A's model with attention switched off (a model without attention: another model, as trained);
# another model for B starts as trained.
others = [n for n in SAME_KIND if n != a.name] or [a.name]
has_attn = bool(setups.attention_levels(runs.load_model(a.name)[0].config))
b_default = a.name if has_attn else ("mnist" if "mnist" in others else others[0])
b_model_now = st.session_state.get("p_b_model", st.query_params.get("b_model", b_default))
b = setups.setup_widgets("b_", "Set-up B", SAME_KIND, b_default, b_model_now == a.name,
                         right.container(border=True), note=" Only models told the same kind of condition as A.")
a_name, a_iv, a_desc = a.name, a.iv, a.describe()
b_name, b_iv, b_desc = b.name, b.iv, b.describe()
diff_words = setups.differences(a, b)
if diff_words:
    st.markdown("**What differs between A and B:** " + "; ".join(diff_words) + ". Everything else is the same.")
else:
    st.warning("A and B are the same set-up: the difference maps below will be empty. Change B's model or one "
               "of its knobs.", icon=":material/content_copy:")

c1, _ = st.columns([1, 2])
n = params.int_param("seeds", "Seeds side by side", 1, 4, 2, where=c1,
                 help="Seeds seed, seed + 1, …: each gives its own starting noise, the same for A and B.")
seeds = [s.seed + i for i in range(n)]
src = sources.pick(s, runs.load_model(a_name)[0].config)   # sampling, or the drawing's SDEdit or inversion
if not sources.fits(src, b_name):
    st.warning(f"{b_name} takes pictures of another size than {a_name}: both run from pure noise instead.")
    src = sources.Source("noise", None, None)
ta = sources.trajectory(s, src, model=a_name, seeds=seeds, interventions=a_iv)
tb = sources.trajectory(s, src, model=b_name, seeds=seeds, interventions=b_iv)
if src.from_drawing:
    st.caption(sources.note(s, src, ta, "Every run here (A and B, each seed) is", seeds, measured=False))
fa, fb = np.clip(ta.final.astype(np.float32), -1, 1), np.clip(tb.final.astype(np.float32), -1, 1)
diffs = [maps.as_map(fa[i] - fb[i]) for i in range(n)]                  # (H, W); RGB: mean of R, G, B
lim = max(float(np.abs(np.stack(diffs)).max()), 1e-3)
notices.you_should_see(try_box, setups.outcome_text(a, b, fa, fb, s, seeds))

st.subheader("The same seeds, A and B")
st.markdown(f"**A** — {a_desc}  \n**B** — {b_desc}")
side_by_side = n <= 2
img_col, gap_col = st.columns([3, 2]) if side_by_side else (st.container(), st.container())
panels = ([maps.Panel(f"A · seed {sd}", ta.final[i]) for i, sd in enumerate(seeds)]
          + [maps.Panel(f"B · seed {sd}", tb.final[i]) for i, sd in enumerate(seeds)]
          + [maps.Panel(f"A − B · seed {sd}", diffs[i], "diff", lim) for i, sd in enumerate(seeds)])
render.plot(maps.panel_row(panels, ncol=n, size=200 if n > 2 else 220,
                     title="Final images (rows: A, B, difference A − B)"), key="ablation-result", where=img_col)
rms = [readings.rmse(fa[i], fb[i]) for i in range(n)]
img_col.caption("RMS difference of the final images: " + ", ".join(f"seed {sd}: {r:.3f}" for sd, r in zip(seeds, rms))
           + " (images span −1..1). Purple/orange: where A is brighter/darker than B.")

gap = runs.derived(("ablation-gap", sources.key(s, src, a_name, seeds, a_iv), sources.key(s, src, b_name, seeds, b_iv)),
                 lambda: readings.rmse(np.clip(ta.pred_x0.astype(np.float32), -1, 1),
                                       np.clip(tb.pred_x0.astype(np.float32), -1, 1), axes=(2, 3, 4)))
render.plot(curves.lines_vs_t(ta.timesteps, {f"seed {sd}": gap[:, i] for i, sd in enumerate(seeds)},
                      "RMS of x̂0(A) − x̂0(B)", title="When do A and B part ways?",
                      height=320), key="ablation-gap", where=gap_col)
start = {"noise": "Both runs start from the same noise.",
         "drawing": f"Both runs start from the same drawing, noised to t = {src.t0} with the same noise.",
         "inversion": f"Both runs start from the same x_T: the drawing inverted by {a_name} as trained." if a_name == b_name
         else f"Each model starts from its own inversion of the drawing (the x_T it decodes back into it as "
              f"trained), so {a_name} and {b_name} start from different x_T and the gap does not start at 0."}[src.kind]
gap_col.caption(f"{start} The gap (both x̂0 clipped to −1..1) is what the ablation "
           "has changed so far: it jumps where the ablation acts, and shrinks again where the model recovers.")

st.subheader("Step by step: the two guesses x̂0")
c1, _ = st.columns([1, 1])
step = sources.step(s, src, ta, where=c1, label="Compare at step")
xa, xb = (np.clip(tr.pred_x0[step].astype(np.float32), -1, 1) for tr in (ta, tb))
step_diffs = [maps.as_map(xa[i] - xb[i]) for i in range(n)]
render.plot(maps.panel_row([maps.Panel(f"A · x̂0 · seed {sd}", xa[i]) for i, sd in enumerate(seeds)]
                     + [maps.Panel(f"B · x̂0 · seed {sd}", xb[i]) for i, sd in enumerate(seeds)]
                     + [maps.Panel(f"A − B · seed {sd}", step_diffs[i], "diff", lim) for i, sd in enumerate(seeds)],
                     ncol=n, size=170, title=f"Step {step} (t = {int(ta.timesteps[step])}): what each run expects "
                                              "the finished image to be"), key="ablation-step")
own_x_T = src.kind == "inversion" and a_name != b_name                   # each model inverted the drawing itself
st.caption("Scrub the step to watch the two runs' guesses drift apart (or not): " + (
    "each starts from its own model's x_T, so part of any difference is the two inversions'." if own_x_T else
    "from the same start, any difference is the ablation's doing.") + " Same colour scale for the difference as above.")

st.subheader("Measured quality of A and B as set up")
setups.quality_section(a, b, s)
st.markdown("**The models as trained** (500 samples per draw, `python -m diffviz.cli.evaluate`):")
quality.quality_table(list(dict.fromkeys([a_name, b_name])))


def code_for(iv) -> str:
    if iv is None:
        return "None"
    return (f"Interventions(skip_scale={iv.skip_scale!r}, backbone_scale={iv.backbone_scale!r}, "
            f"attention_off={set(iv.attention_off) or 'frozenset()'}, wrong_t={iv.wrong_t!r}, "
            f"drop_condition={iv.drop_condition}, t_min={iv.t_min}, t_max={iv.t_max})")


notices.show_code("from diffviz.model.interventions import Interventions\n"
                  + sources.code(s, src, name="a", model=f'zoo.load("{a_name}")[0]', seeds=seeds,
                                 extra=f", interventions={code_for(a_iv)}")
                  + sources.code(s, src, name="b", model=f'zoo.load("{b_name}")[0]', seeds=seeds, head=False,
                                 extra=f", interventions={code_for(b_iv)}")
                  + f"difference = a.final - b.final          # ({n}, C, H, W)\n")
