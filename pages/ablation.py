"""8 · Ablation lab: two set-ups (model + inference-time ablations), the same seeds, side by side."""

import numpy as np
import streamlit as st

from diffviz.app import notices, params, quality, render, runs, settings
from diffviz.figures import curves, maps
from diffviz.model import zoo
from diffviz.model.interventions import Interventions
from diffviz.probe import readings

s = settings.settings()
NAMES = zoo.available(s.kind)

notices.intro(
    "Ablation lab",
    "An ablation switches part of a trained network off and watches what breaks: the surest way to learn "
    "what that part was doing. Set up two experiments, **A** and **B**: each picks a model and, optionally, "
    "cuts or scales skip connections, switches attention off, lies about t or drops the condition, for "
    "the steps whose t lies in a range. Both run on exactly the same seeds.",
    "B starts with attention switched off: the digits stay recognisable but are drawn differently, and "
    "the difference maps show where. Then in B switch on **no condition** (the label was what made them "
    "the digit you asked for), or turn attention back on and cut **skip 0** only while **t ≤** 300: late "
    "steps touch fine detail, early steps decide the whole shape.")


def attention_levels(cfg) -> list[int]:
    """Levels with attention blocks (the bottleneck counts as the deepest level)."""
    if not cfg.use_attention:
        return []
    return sorted(set(cfg.attention_levels) | set(getattr(cfg, "cross_levels", ())) | {cfg.levels - 1})


def setup(p: str, label: str, where, default_attn_off: bool):
    """The widgets of one set-up (query parameters prefixed ``p``): (model name, interventions, description)."""
    with where:
        st.markdown(f"### {label}")
        default_model = s.model if s.model in NAMES else NAMES[0]
        name = params.choice_param(f"{p}model", "Model", NAMES, default_model, format_func=lambda n: n,
                               help="Only models told the same kind of condition as the sidebar's.")
        st.caption(zoo.MODELS[name].description)
        cfg = runs.load_model(name)[0].config
        skip, bb, parts = {}, {}, []
        if cfg.use_skips:
            st.markdown("**Skip connections and backbone** (1 = as trained, 0 = cut)")
            cols = st.columns(cfg.levels)
            for k in range(cfg.levels):
                with cols[k]:
                    skip[k] = params.float_param(f"{p}skip{k}", f"skip {k}", 0.0, 2.0, 1.0, 0.05)
                    bb[k] = params.float_param(f"{p}bb{k}", f"backbone {k}", 0.0, 2.0, 1.0, 0.05)
        else:
            st.caption("This model has no skip connections.")
        levels = attention_levels(cfg)
        off = set()
        if levels:
            st.markdown("**Attention**")
            cols = st.columns(len(levels))
            for col, k in zip(cols, levels):
                r = cfg.resolution(k)
                if params.toggle_param(f"{p}attn{k}", f"off at {r}×{r}", default_attn_off, where=col,
                                   help=f"Level {k}: every attention block at {r}×{r} (the bottleneck's too) "
                                        "passes its input through unchanged."):
                    off.add(k)
        st.markdown("**Inputs**")
        c1, c2 = st.columns(2)
        drop = params.toggle_param(f"{p}nocond", "no condition", False, where=c1,
                               help="Give the null label / empty caption, as for the unconditional half of guidance.")
        lie = params.toggle_param(f"{p}wrong", "wrong t", False, where=c2, help="Tell the network a fixed t.")
        told = params.int_param(f"{p}told", "tell the model t =", 0, 999, 500) if lie else None
        c1, c2 = st.columns(2)
        tmin = params.int_param(f"{p}tmin", "only while t ≥", 0, 999, 0, where=c1)
        tmax = params.int_param(f"{p}tmax", "and t ≤", 0, 999, 999, where=c2)
    iv = Interventions(skip_scale={k: v for k, v in skip.items() if v != 1.0},
                       backbone_scale={k: v for k, v in bb.items() if v != 1.0},
                       attention_off=frozenset(off), wrong_t=told, drop_condition=drop, t_min=tmin, t_max=tmax)
    parts += [f"skip {k} × {v:g}" for k, v in iv.skip_scale.items()]
    parts += [f"backbone {k} × {v:g}" for k, v in iv.backbone_scale.items()]
    parts += [f"attention off at {cfg.resolution(k)}×{cfg.resolution(k)}" for k in sorted(off)]
    parts += (["no condition"] if drop else []) + ([f"told t = {told}"] if told is not None else [])
    if iv.is_empty() or tmin > tmax:
        desc = f"{name}, as trained" + (" (empty t range: nothing changed)" if not iv.is_empty() else "")
        return name, None, desc
    rng = "" if (tmin, tmax) == (0, 999) else f", only for {tmin} ≤ t ≤ {tmax}"
    return name, iv, f"{name}: " + ", ".join(parts) + rng


left, right = st.columns(2, gap="large")
box_a, box_b = left.container(border=True), right.container(border=True)
a_name, a_iv, a_desc = setup("a_", "Set-up A", box_a, False)
b_name, b_iv, b_desc = setup("b_", "Set-up B", box_b, True)
c1, _ = st.columns([1, 2])
n = params.int_param("seeds", "Seeds side by side", 1, 4, 2, where=c1,
                 help="Seeds seed, seed + 1, …: each gives its own starting noise, the same for A and B.")
seeds = [s.seed + i for i in range(n)]

ta = runs.trajectory(s, model=a_name, seeds=seeds, interventions=a_iv)
tb = runs.trajectory(s, model=b_name, seeds=seeds, interventions=b_iv)
fa, fb = np.clip(ta.final.astype(np.float32), -1, 1), np.clip(tb.final.astype(np.float32), -1, 1)
diffs = [maps.as_map(fa[i] - fb[i]) for i in range(n)]                  # (H, W); RGB: mean of R, G, B
lim = max(float(np.abs(np.stack(diffs)).max()), 1e-3)

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

gap = runs.derived(("ablation-gap", runs.run_key(s, a_name, seeds, a_iv), runs.run_key(s, b_name, seeds, b_iv)),
                 lambda: readings.rmse(np.clip(ta.pred_x0.astype(np.float32), -1, 1),
                                       np.clip(tb.pred_x0.astype(np.float32), -1, 1), axes=(2, 3, 4)))
render.plot(curves.lines_vs_t(ta.timesteps, {f"seed {sd}": gap[:, i] for i, sd in enumerate(seeds)},
                      "RMS of x̂0(A) − x̂0(B)", title="When do A and B part ways?",
                      height=320), key="ablation-gap", where=gap_col)
gap_col.caption("Both runs start from the same noise. The gap (both x̂0 clipped to −1..1) is what the ablation "
           "has changed so far: it jumps where the ablation acts, and shrinks again where the model recovers.")

st.subheader("Step by step: the two guesses x̂0")
c1, _ = st.columns([1, 1])
step = settings.step_param(s, where=c1, label="Compare at sampling step")
xa, xb = (np.clip(tr.pred_x0[step].astype(np.float32), -1, 1) for tr in (ta, tb))
step_diffs = [maps.as_map(xa[i] - xb[i]) for i in range(n)]
render.plot(maps.panel_row([maps.Panel(f"A · x̂0 · seed {sd}", xa[i]) for i, sd in enumerate(seeds)]
                     + [maps.Panel(f"B · x̂0 · seed {sd}", xb[i]) for i, sd in enumerate(seeds)]
                     + [maps.Panel(f"A − B · seed {sd}", step_diffs[i], "diff", lim) for i, sd in enumerate(seeds)],
                     ncol=n, size=170, title=f"Step {step} (t = {int(ta.timesteps[step])}): what each run expects "
                                              "the finished image to be"), key="ablation-step")
st.caption("Scrub the step to watch the two runs' guesses drift apart (or not): from the same noise, any "
           "difference is the ablation's doing. Same colour scale for the difference as above.")

st.subheader("Measured quality of the models")
if quality.quality_table(list(dict.fromkeys([a_name, b_name]))):
    st.caption("These numbers are for the models as trained (many samples, see `python -m diffviz.cli.evaluate`); "
               "inference-time ablations are not part of them. The images above are a few examples.")


def code_for(iv) -> str:
    if iv is None:
        return "None"
    return (f"Interventions(skip_scale={iv.skip_scale!r}, backbone_scale={iv.backbone_scale!r}, "
            f"attention_off={set(iv.attention_off) or 'frozenset()'}, wrong_t={iv.wrong_t!r}, "
            f"drop_condition={iv.drop_condition}, t_min={iv.t_min}, t_max={iv.t_max})")


notices.show_code(f"""
from diffviz.diffusion import sampling
from diffviz.model import zoo
from diffviz.model.interventions import Interventions
run = dict(sampler="{s.sampler}", steps={s.steps}, guidance={s.guidance:g}, seeds={seeds})
conds = [{s.condition!r}] * {n}
a = sampling.run(zoo.load("{a_name}")[0], conds, **run, interventions={code_for(a_iv)})
b = sampling.run(zoo.load("{b_name}")[0], conds, **run, interventions={code_for(b_iv)})
difference = a.final - b.final          # ({n}, C, H, W)
""")
