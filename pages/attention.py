"""6 · Attention: where one pixel looks (self-attention), and where each caption word lands (cross-attention)."""

import numpy as np
import streamlit as st

from diffviz.app import notices, params, readouts, render, runs, sources
from diffviz.data import text
from diffviz.figures import curves, maps
from diffviz.model import zoo
from diffviz.probe import readings

s, model, meta = runs.open_page("attention", "level")   # "level" means something else on other pages
cfg = model.config
KEYS = model.capture_keys()


def level_of(block: str) -> int:
    return cfg.levels - 1 if block.startswith("bottleneck") else int(block.split(".")[1])


def flow(block: str) -> tuple:
    """Sort key: the order data flows through (down the encoder, bottleneck, up the decoder)."""
    part = block.split(".")[0]
    return {"encoder": 0, "bottleneck": 1, "decoder": 2}[part], (-1 if part == "decoder" else 1) * level_of(block)


SELF = sorted((k[: -len(".self_attn.probs")] for k in KEYS if k.endswith(".self_attn.probs")), key=flow)
CROSS = sorted((k[: -len(".cross_attn.probs")] for k in KEYS if k.endswith(".cross_attn.probs")), key=flow)


def where(block: str) -> str:
    r = cfg.resolution(level_of(block))
    part = "bottleneck" if block.startswith("bottleneck") else f"{block.split('.')[0]} level {level_of(block)}"
    return f"{part} · {r}×{r}"


try_box = notices.intro(
    "Attention",
    "A convolution only mixes a pixel with its neighbours. **Self-attention** lets every position of a "
    "feature map look at every other one: each position (the *query*) hands out weights that add up to 1 "
    "over all positions, and takes in their features in those proportions. Several **heads** do this in "
    "parallel, each with its own idea of what to look for. Pick a query pixel and see where it looks, "
    "drawn over the U-Net's current guess x̂0.")
ONTO = "the digit's stroke" if cfg.conditioning == "class" else "one of the shapes"


if not SELF:
    st.info(f"“{s.model}” has no self-attention blocks (it was trained without attention), so there is "
            "nothing to show here. Choose **mnist** in the sidebar's Model menu.", icon="ℹ️")
    st.stop()

capture = ["*.self_attn.probs"] + (["*.cross_attn.probs"] if CROSS else [])
src = sources.pick(s, cfg)                       # sampling, or your drawing's SDEdit or inversion
traj, rk = sources.trajectory(s, src, capture=capture), sources.key(s, src)
if src.from_drawing:
    st.caption(sources.note(s, src, traj))
S = traj.steps

# ---------------------------------------------------------------- controls
c1, c2 = st.columns([1, 2])
bi = params.choice_param("level", "Attention block", list(range(len(SELF))), len(SELF) - 1, where=c1,
                     format_func=lambda i: where(SELF[i]),
                     help="The blocks that have self-attention, in the order the data flows.")
block = SELF[bi]
head = params.choice_param("head", "Head", ["mean"] + list(range(cfg.heads)), "mean", where=c2, widget="segmented",
                       format_func=lambda h: "mean of heads" if h == "mean" else f"head {h}")
side = cfg.resolution(level_of(block))
c1, c2, c3 = st.columns([2, 1, 1])
step = sources.step(s, src, traj, where=c1)
t = int(traj.timesteps[step])
qx = params.int_param("qx", "Query x (column)", 0, side - 1, side * 4 // 7, where=c2)
qy = params.int_param("qy", "Query y (row)", 0, side - 1, side * 2 // 7, where=c3)
key = f"{block}.self_attn.probs"


def query_rows():
    """This query's attention at every step: rows (S, heads, N), entropies, the largest weight."""
    probs = readings.stack_steps(traj.traces, key)                      # (S, heads, N, N)
    rows = probs[:, :, qy * side + qx, :]                               # (S, heads, N)
    mean = rows.mean(axis=1)
    ent = np.array([[readings.concentration(r)["entropy_bits"] for r in list(rs) + [m]]
                    for rs, m in zip(rows, mean)])                      # (S, heads + 1)
    return {"rows": rows, "mean": mean, "entropy": ent, "zmax": float(max(rows.max(), 1e-6)),
            "zmax_head": {h: float(max(rows[:, h].max(), 1e-6)) for h in range(rows.shape[1])} | {
                "mean": float(max(mean.max(), 1e-6))}}


q = runs.derived(("attn-rows", rk, key, qy, qx), query_rows)
row = q["mean"][step] if head == "mean" else q["rows"][step, head]
conc = readings.concentration(row)
notices.you_should_see(try_box, readouts.habits_text(q["entropy"][:, :cfg.heads], step, side, ONTO))
base = np.clip(traj.pred_x0[step, 0].astype(np.float32), -1, 1)          # (C, H, W): colour stays colour
name = "mean of heads" if head == "mean" else f"head {head}"

# ---------------------------------------------------------------- the chosen head
a, b = st.columns([3, 2])
with a:
    render.plot(maps.overlay_grid(base, row.reshape(1, side, side), [f"{name}, query ({qx}, {qy})"], q["zmax_head"][head],
                            query=(qy, qx), title=f"{where(block)}: where the query looks (step {step}, t = {t})",
                            size=420), key="attn-main")
with b:
    st.markdown(f"**How concentrated is it?** ({name}, step {step})")
    m1, m2 = st.columns(2)
    m1.metric("entropy", f"{conc['entropy_bits']:.2f} bits", help="0 bits = all weight on one position; "
              f"{conc['uniform_bits']:.2f} bits = spread evenly over all {conc['n']}.")
    m2.metric("positions holding 90%", f"{conc['n_mass']} of {conc['n']}",
              help=f"A uniform spread needs {conc['uniform_n_mass']}.")
    st.caption(f"Uniform (looking everywhere equally): {conc['uniform_bits']:.2f} bits and "
               f"{conc['uniform_n_mass']} positions. The orange square is the query; the heat shows the "
               f"weights on one colour scale for every step (0 to {q['zmax_head'][head]:.2f}: the largest "
               f"weight {'the mean of heads' if head == 'mean' else name} gives this query in the whole run).")
    labels = [f"head {h}" for h in range(cfg.heads)] + ["mean of heads"]
    render.plot(curves.lines_vs_t(traj.timesteps, dict(zip(labels, q["entropy"].T)), "entropy (bits)", current_t=t,
                          dashed={"mean of heads"}, title="Entropy of this query's weights, step by step",
                          height=330), key="attn-entropy")

heads = np.concatenate([q["rows"][step], q["mean"][step][None]]).reshape(-1, side, side)
render.plot(maps.overlay_grid(base, heads, labels, q["zmax"], query=(qy, qx),
                        title=f"Every head side by side, on one scale (0 to {q['zmax']:.2f})", size=190),
        key="attn-heads")
st.caption("Attention lives on the feature map's grid: each of its cells covers "
           f"{cfg.image_size // side}×{cfg.image_size // side} image pixels, so the heat is drawn in blocks over x̂0 "
           "(never smoothed). A head that piles almost all its weight on one background cell, whatever the query, "
           "is using it as a *sink*: somewhere to put attention when there is nothing worth fetching (trained "
           "transformers do this too). The mean of heads is only a summary: each head's output goes its own way "
           "into the next layer.")

# ---------------------------------------------------------------- cross-attention
st.subheader("Cross-attention: which word goes where")
if not CROSS:
    texts = zoo.available("text")
    if texts:
        st.info(f"Cross-attention connects pixels to the words of a caption, so it needs a text-conditioned "
                f"model: choose **{texts[0]}** in the sidebar's Model menu (this model, “{s.model}”, is "
                "told a digit label, which enters through the timestep embedding instead).", icon="ℹ️")
    else:
        st.info("Cross-attention connects pixels to the words of a caption, so it needs the text-conditioned "
                "model **shapes**, which is not available yet (it is still being trained). This model, "
                f"“{s.model}”, is told a digit label, which enters through the timestep embedding instead.",
                icon="ℹ️")
else:
    tokens = text.token_labels(s.prompt)
    xi = params.choice_param("xlevel", "Cross-attention block", list(range(len(CROSS))), len(CROSS) - 1,
                         format_func=lambda i: where(CROSS[i]))
    xblock = CROSS[xi]
    xside = cfg.resolution(level_of(xblock))
    xkey = f"{xblock}.cross_attn.probs"

    def token_summary():
        probs = readings.stack_steps(traj.traces, xkey)                  # (S, heads, N, M)
        per_step = np.stack([readings.token_maps(p, len(tokens), xside) for p in probs])   # (S, T, h, w)
        agg = per_step.mean(axis=0)
        return {"maps": per_step, "agg": agg, "zmax": float(max(per_step.max(), agg.max(), 1e-6))}

    tm = runs.derived(("attn-tokens", rk, xkey, tuple(tokens)), token_summary)
    st.markdown(f"Every pixel of the {xside}×{xside} map splits its attention over the caption's "
                f"{len(tokens)} tokens (the weights add up to 1 at each pixel). One map per token, "
                f"`<start>` and `<end>` included, mean of the {cfg.heads} heads, on one colour scale "
                f"from 0 to {tm['zmax']:.2f}.")
    ncol = min(len(tokens), 6)
    render.plot(maps.overlay_grid(base, tm["maps"][step], tokens, tm["zmax"], ncol=ncol, size=170,
                            title=f"{where(xblock)} at step {step} (t = {t}), over x̂0"), key="cross-step")
    render.plot(maps.overlay_grid(np.clip(traj.final[0], -1, 1), tm["agg"], tokens, tm["zmax"], ncol=ncol, size=170,
                            title=f"{where(xblock)}, mean over all {S} steps, over the final image"),
            key="cross-mean")
    focus, pos_less = readouts.word_focus(s.prompt, traj.final[0], tokens, tm["agg"], xside, where(xblock))
    if focus:
        st.caption(focus)
    if cfg.pixel_positions:
        phrase = (" in which each word reads only the words of its own phrase (the caption is split at “and”)"
                  if cfg.text_phrases else "")
        st.caption(("Why do the position words get so little? " if pos_less else "Where is position carried? ")
                   + "Position is carried elsewhere. "
                   f"Convolutions look the same everywhere, so this model adds a learned position vector to every "
                   f"pixel's query (`pixel_positions`): a pixel knows where it sits without asking the caption. "
                   f"And the caption goes through a {cfg.text_layers}-layer text encoder{phrase}: the colour and "
                   "shape words of “a red circle at the top left” come out carrying “top left” with them, so the "
                   "pixels up there pick “red” and “circle” and never need to look at “top” or “left” "
                   "themselves. A model that reads the caption as a bag of words draws the right colours at the "
                   "right places but often swaps them.")
    if float((meta.get("args") or {}).get("ground") or 0) > 0:
        st.caption("These word maps were also *taught*: for its last steps of training this model had a second, "
                   "small loss (“grounding”, as in TokenCompose) that rewards each colour, shape and size word for "
                   "keeping its attention on the shape its phrase describes, and that shape's pixels for reading "
                   "those words; the generator knows every shape's mask. "
                   "Without it the words still look at their shapes, only blurrily, because a pixel can read its "
                   "colour from any word of the phrase: compare with **shapes-ungrounded** in the sidebar's Model "
                   "menu (same network before that last run). The maps you see here are the ones the U-Net uses to "
                   "draw.")

notices.show_code(sources.code(s, src, capture) + f"""\
probs = traj.traces[{step}]["{key}"][0]        # (heads, N, N): softmax(Q Kᵀ/√d), N = {side}×{side}
weights = readings.attention_map(probs, qy={qy}, qx={qx}, head={None if head == 'mean' else head})
# ({side}, {side}): where the query looks; the weights sum to 1
readings.concentration(weights)               # entropy in bits, positions holding 90% of the weight
""")
