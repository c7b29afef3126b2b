"""The ablation lab's two set-ups: their widgets, what differs between them, and their measured quality.

A set-up is a model plus inference-time interventions (`Interventions`). Each set-up's widgets are
bound to query parameters with its own prefix (``a_``, ``b_``). When a set-up's model changes, its
interventions start again from their defaults (a knob for one model is not silently kept for
another). Quality is measured on request, on a few hundred samples, with a progress bar, and cached.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from diffviz.app import params, runs
from diffviz.app.cache import BoundedCache
from diffviz.model import zoo
from diffviz.model.interventions import Interventions

QUALITY = BoundedCache(max_entries=64)
N_PER_DIGIT = 30                      # class models: 30 samples per digit = 300
N_CAPTIONS = 200                      # text models: captions of random scenes


@dataclass
class Setup:
    """One side of the lab: a model, its interventions (None: as trained) and its parts in words."""

    name: str
    iv: Interventions | None
    parts: list[str]                  # e.g. ["attention off at 7×7", "skip 0 × 0"]
    rng: str                          # "" or ", only for 0 ≤ t ≤ 300"

    def describe(self) -> str:
        """The set-up in one line."""
        if self.iv is None:
            return f"{self.name}, as trained" + (" (empty t range: nothing changed)" if self.parts else "")
        return f"{self.name}: " + ", ".join(self.parts) + self.rng

    def key(self) -> tuple:
        return (self.name, self.iv.key() if self.iv is not None else None)


def attention_levels(cfg) -> list[int]:
    """Levels with attention blocks (the bottleneck counts as the deepest level)."""
    if not cfg.use_attention:
        return []
    return sorted(set(cfg.attention_levels) | set(getattr(cfg, "cross_levels", ())) | {cfg.levels - 1})


def _reset_when_model_changes(p: str, name: str) -> None:
    """Forget set-up ``p``'s intervention widgets (state and link) when its model changed since last run."""
    tag = f"_{p}model_last"
    last = st.session_state.get(tag)
    if last is not None and last != name:
        for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"p_{p}")
                    and k != f"p_{p}model"]:
            del st.session_state[key]
        for q in [q for q in st.query_params if q.startswith(p) and q != f"{p}model"]:
            del st.query_params[q]
    st.session_state[tag] = name


def setup_widgets(p: str, label: str, names: list[str], default_model: str, attn_off_default: bool, where,
                  note: str = "") -> Setup:
    """Draw one set-up's widgets (query parameters prefixed ``p``) in ``where``; return the set-up."""
    with where:
        st.markdown(f"### {label}")
        name = params.choice_param(f"{p}model", "Model", names, default_model, format_func=lambda n: n,
                                   help="The trained U-Net this set-up samples with." + note)
        _reset_when_model_changes(p, name)
        st.markdown(zoo.MODELS[name].description)      # not a caption: too pale inside a bordered box
        cfg = runs.load_model(name)[0].config
        skip, bb = {}, {}
        if cfg.use_skips:
            st.markdown("**Skip connections and backbone** (1 = as trained, 0 = cut)")
            cols = st.columns(cfg.levels)
            for k in range(cfg.levels):
                with cols[k]:
                    skip[k] = params.float_param(f"{p}skip{k}", f"skip {k}", 0.0, 2.0, 1.0, 0.05)
                    bb[k] = params.float_param(f"{p}bb{k}", f"backbone {k}", 0.0, 2.0, 1.0, 0.05)
        else:
            st.markdown("This model has no skip connections.")
        off = set()
        levels = attention_levels(cfg)
        if levels:
            st.markdown("**Attention**")
            for col, k in zip(st.columns(len(levels)), levels):
                r = cfg.resolution(k)
                if params.toggle_param(f"{p}attn{k}", f"off at {r}×{r}", attn_off_default, where=col,
                                       help=f"Level {k}: every attention block at {r}×{r} (the bottleneck's too) "
                                            "passes its input through unchanged."):
                    off.add(k)
        st.markdown("**Inputs**")
        c1, c2 = st.columns(2)
        drop = params.toggle_param(f"{p}nocond", "no condition", False, where=c1,
                                   help="Give the null label / empty caption, as for the unconditional half of "
                                        "guidance.")
        lie = params.toggle_param(f"{p}wrong", "wrong t", False, where=c2, help="Tell the network a fixed t.")
        told = params.int_param(f"{p}told", "tell the model t =", 0, 999, 500) if lie else None
        idle = all(v == 1.0 for v in [*skip.values(), *bb.values()]) and not off and not drop and not lie
        hint = "Change something above first: the range says when it acts." if idle else None
        c1, c2 = st.columns(2)
        tmin = params.int_param(f"{p}tmin", "only while t ≥", 0, 999, 0, where=c1, disabled=idle, help=hint)
        tmax = params.int_param(f"{p}tmax", "and t ≤", 0, 999, 999, where=c2, disabled=idle, help=hint)
    iv = Interventions(skip_scale={k: v for k, v in skip.items() if v != 1.0},
                       backbone_scale={k: v for k, v in bb.items() if v != 1.0},
                       attention_off=frozenset(off), wrong_t=told, drop_condition=drop, t_min=tmin, t_max=tmax)
    parts = [f"skip {k} × {v:g}" for k, v in iv.skip_scale.items()]
    parts += [f"backbone {k} × {v:g}" for k, v in iv.backbone_scale.items()]
    parts += [f"attention off at {cfg.resolution(k)}×{cfg.resolution(k)}" for k in sorted(off)]
    parts += (["no condition"] if drop else []) + ([f"told t = {told}"] if told is not None else [])
    if iv.is_empty() or tmin > tmax:
        return Setup(name, None, parts if not iv.is_empty() else [], "")
    rng = "" if (tmin, tmax) == (0, 999) else f", only for {tmin} ≤ t ≤ {tmax}"
    return Setup(name, iv, parts, rng)


def differences(a: Setup, b: Setup) -> list[str]:
    """What differs between A and B, in words (empty: the two set-ups are the same)."""
    out = []
    if a.name != b.name:
        out.append(f"the model: A uses {a.name}, B uses {b.name}")
    pa = set(a.parts) if a.iv is not None else set()
    pb = set(b.parts) if b.iv is not None else set()
    out += [f"{x}: A only" for x in sorted(pa - pb)] + [f"{x}: B only" for x in sorted(pb - pa)]
    if a.iv is not None and b.iv is not None and (a.iv.t_min, a.iv.t_max) != (b.iv.t_min, b.iv.t_max):
        out.append(f"when the changes act: A for {a.iv.t_min} ≤ t ≤ {a.iv.t_max}, "
                   f"B for {b.iv.t_min} ≤ t ≤ {b.iv.t_max}")
    return out


def outcome_text(a: Setup, b: Setup, fa, fb, s, seeds) -> str:
    """The lab's prompt, phrased from this run's final images (N, C, H, W) of A and B: what the judge
    (class models) or the shapes checker (text models) reads in them, and how far apart they are."""
    from diffviz.probe import readings
    rms = max(float(readings.rmse(fa[i], fb[i])) for i in range(len(seeds)))
    if zoo.MODELS[a.name].kind == "class":
        from diffviz.evaluation import judge
        la, lb = judge.classify(fa), judge.classify(fb)
        read = (f"the judge (a digit classifier) reads A's images as {', '.join(map(str, la))} and B's as "
                f"{', '.join(map(str, lb))} (asked for: {s.label})")
    else:
        from diffviz.data import shapes_check
        try:
            ok = [[shapes_check.match(s.prompt, x)["full_match"] for x in f] for f in (fa, fb)]
            read = (f"the shapes checker finds the caption drawn exactly in {sum(ok[0])} of {len(seeds)} of "
                    f"A's images and {sum(ok[1])} of {len(seeds)} of B's")
        except (ValueError, IndexError, KeyError, AssertionError, TypeError):    # a caption or size it cannot read
            read = "the shapes checker cannot read these images (caption or image size)"
    now = f"Measured on these seeds: {read}; the final images differ by up to {rms:.3f} RMS (images span −1..1). "
    return (now + "Then in B switch on **no condition** (see what the condition was doing), or switch B's "
            "attention back on and cut **skip 0** only while **t ≤** 300 (late steps touch fine detail, early "
            "steps decide the whole layout), and watch these numbers and the “part ways” chart follow.")


# ---------------------------------------------------------------- measured quality, on request

def _measure(setup: Setup, s, progress) -> dict:
    """Sample a few hundred images with this set-up and score them (the judge / the shapes checker)."""
    from diffviz.diffusion import sampling
    from diffviz.evaluation.generation import draw_seeds
    model = runs.load_model(setup.name)[0]
    text = model.config.conditioning == "text"
    if text:
        from diffviz.evaluation.captions import random_captions
        conds = random_captions(N_CAPTIONS, seed=0)
    else:
        conds = [d for d in range(10) for _ in range(N_PER_DIGIT)]
    seeds, batch, xs = draw_seeds(len(conds), 0), 50, []
    for i in range(0, len(conds), batch):
        xs.append(sampling.sample(model, conds[i:i + batch], sampler=s.sampler, steps=s.steps, guidance=s.guidance,
                                  seeds=seeds[i:i + batch], interventions=setup.iv))
        progress(min(1.0, (i + batch) / len(conds)), f"{setup.describe()}: {min(i + batch, len(conds))} of "
                                                     f"{len(conds)} samples")
    x = np.concatenate(xs).astype(np.float32)
    if text:
        from diffviz.evaluation.captions import score_captions
        sc = score_captions(conds, x)
        return {"n": len(conds), "captions drawn exactly": sc["full_match"]}
    from diffviz.data.digits import mnist
    from diffviz.evaluation import judge
    from diffviz.evaluation.metrics import frechet_distance
    held = runs.derived(("held-features",), lambda: judge.features(mnist("held")[0]))
    acc = float((judge.classify(x) == np.asarray(conds)).mean())
    return {"n": len(conds), "label accuracy (judge)": acc,
            "Fréchet distance (judge features)": frechet_distance(judge.features(x), held)}


def measured(setup: Setup, s, progress=None) -> dict | None:
    """The set-up's measured quality at these settings: cached; computed only when ``progress`` is given."""
    key = setup.key() + (s.sampler, s.steps, s.guidance)
    if progress is None:
        return QUALITY.peek(key)
    return QUALITY.get_or_compute(key, lambda: _measure(setup, s, progress))


def quality_section(a: Setup, b: Setup, s) -> None:
    """The measured quality of both set-ups as they are now (inference-time ablations included)."""
    have = [measured(x, s) for x in (a, b)]
    text = runs.load_model(a.name)[0].config.conditioning == "text"
    n = f"{N_CAPTIONS} random captions" if text else f"{10 * N_PER_DIGIT} samples ({N_PER_DIGIT} per digit)"
    if not all(have):
        if st.button(f"Measure A and B as set up now ({n} each)", key="measure_setups",
                     help="Samples with the sidebar's sampler, steps and guidance, then scores them: the judge's "
                          "label accuracy and the Fréchet distance to held-out digits (class models), or the "
                          "shapes checker (text models). Takes from seconds to a minute; kept for this setting."):
            bar = st.progress(0.0, "Sampling…")
            for i, x in enumerate((a, b)):
                have[i] = measured(x, s, progress=lambda f, msg: bar.progress(f, msg))
            bar.empty()
    if all(have):
        keys = [k for k in have[0] if k != "n"]
        rows = {"set-up": ["A — " + a.describe(), "B — " + b.describe()]}
        for k in keys:
            rows[k] = [f"{q[k]:.1%}" if "accuracy" in k or "exactly" in k else f"{q[k]:.2f}" for q in have]
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption(f"Measured on {n} at {s.sampler.upper()} {s.steps} steps, w = {s.guidance:g}, seeds 0…"
                   + ("" if text else ". The Fréchet distance shrinks with more samples: compare A with B here, "
                      "not with the 500-sample table of the trained models."))
