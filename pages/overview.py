"""1 · Overview: the whole U-Net as one picture, with the live tensor shape at every point."""

import streamlit as st

from diffviz.app import notices, params, render, runs
from diffviz.figures import curves, diagram, images, maps
from diffviz.model.unet import count_parameters
from diffviz.probe import claims

s, model, meta = runs.open_page("overview")
cfg = model.config
H, ch, L = cfg.image_size, cfg.channels, cfg.levels
what = "a caption" if cfg.conditioning == "text" else "a digit label"

try_box = notices.intro(
    "The U-Net at a glance",
    f"A diffusion model draws by removing noise a little at a time, and this network is what it asks at "
    f"every step: *given the noisy image x_t, the step t and {what}, what noise ε is in it?* Below is the "
    f"trained “{s.model}” U-Net: the encoder (left) shrinks the image to a small, many-channel summary, the "
    f"decoder (right) grows it back, and skip connections carry detail straight across. Every shape is read "
    f"from one real forward pass on the first sampling step.")

with st.spinner("Running the U-Net once to read its shapes…"):
    fp = runs.first_pass(s)
e0, bn = fp.shapes.get("encoder.0"), fp.shapes.get("bottleneck")
if e0 and bn:
    notices.you_should_see(try_box, (
        f"pick **bottleneck** and then **encoder.0**: the measured shapes go from many pixels and few channels "
        f"({e0[2]}×{e0[3]}, {e0[1]} channels) to few pixels and many ({bn[2]}×{bn[3]}, {bn[1]} channels), yet "
        f"the output ε̂ {fp.shapes['output']} has "
        + ("exactly the input's shape." if fp.shapes["input"] == fp.shapes["output"] else "another shape than the "
           f"input {fp.shapes['input']}.")))

blocks = diagram.unet_blocks(cfg)
block = params.choice_param("block", "Explain a block", blocks, "encoder.0" if "encoder.0" in blocks else blocks[0],
                        widget="segmented", help="Click a part of the network to read what it does.")
cond_text = (f"label {s.label}" if cfg.conditioning == "class" else "the caption")
unet_fig = diagram.unet_diagram(cfg, fp.shapes, selected=block, t=fp.t,
                               condition=str(s.label) if cfg.conditioning == "class" else None)
render.chart(unet_fig, key="diagram", config={"staticPlot": True},
             numbers={"part": list(fp.shapes), "shape (batch, channels, height, width)":
                      [diagram.fmt_shape(v) for v in fp.shapes.values()]})
st.caption(f"Shapes are (batch, channels, height, width), read from the forward pass at t = {fp.t} with "
           f"{cond_text} and seed {s.seed}. This diagram is the legend of every page: blues = encoder levels, "
           "vermilions = decoder levels (the deeper the level, the darker), purple = bottleneck, green = skip "
           "connections, grey dotted = time embedding (it reaches every residual block)"
           + (", orange dashed = the text encoder's words." if cfg.conditioning == "text" else "."))


def shape(key):
    return diagram.fmt_shape(fp.shapes.get(key))


def explain(b):
    """(text, page, link label) for a block: two or three sentences and where to see it at work."""
    if b == "input":
        return (f"The network's input is x_t, the image with noise mixed in, {shape('input')}: one image, "
                f"{cfg.in_channels} channel(s), {H}×{H} pixels. On the first sampling step it is pure noise; "
                "the forward-process page shows how an image is noised to any t.",
                "pages/forward.py", "2 · Forward process: how x_t is made")
    if b == "stem":
        return (f"One 3×3 convolution turns the {cfg.in_channels} input channel(s) into {ch[0]} feature channels "
                f"at full size ({H}×{H}). Nothing is downsampled yet; it only gives every pixel a richer "
                "description to work with.", "pages/inside.py", "4 · Inside the U-Net: the feature maps")
    if b.startswith("encoder."):
        k = int(b.split(".")[1])
        has_attn = cfg.use_attention and k in cfg.attention_levels
        attn = " and self-attention between all its positions" if has_attn else ""
        down = (f" A stride-2 convolution then halves it to {cfg.resolution(k + 1)}×{cfg.resolution(k + 1)} for the "
                "next level." if k + 1 < L else " This is the deepest level; next comes the bottleneck.")
        return (f"Encoder level {k} works at {cfg.resolution(k)}×{cfg.resolution(k)} with {ch[k]} channels, "
                f"output {shape(b)}: {cfg.blocks_per_level} residual block(s){attn}, each told t through FiLM."
                f"{down}" + (f" Its output is also saved as skip {k} for decoder level {k}." if cfg.use_skips
                             else " (This model has no skips: nothing goes across.)"),
                "pages/inside.py", "4 · Inside the U-Net: what each level sees")
    if b == "bottleneck":
        r = cfg.resolution(L - 1)
        return (f"The bottleneck is the smallest map, {shape('bottleneck')}: {r}×{r} positions, each summarising a "
                f"large patch of the image in {ch[-1]} channels. "
                + ("Its self-attention lets every position look at every other one, so the network can relate "
                   "distant parts of the image." if cfg.use_attention else "This model has no attention here."),
                "pages/attention.py" if cfg.use_attention else "pages/inside.py",
                "6 · Attention: who looks at whom" if cfg.use_attention else "4 · Inside the U-Net")
    if b.startswith("decoder."):
        k = int(b.split(".")[1])
        skip = (f" concatenates skip {k} {shape(f'decoder.{k}.skip')} from encoder level {k}," if cfg.use_skips
                else " (this model has no skip connections),")
        return (f"Decoder level {k} brings the map up to {cfg.resolution(k)}×{cfg.resolution(k)}"
                f" ({shape(f'decoder.{k}.upsample')}),{skip} and runs residual blocks, output {shape(b)}. "
                "The deep path knows *what* is in the image; the skip tells it *where* the fine edges are.",
                "pages/skips.py", "5 · Skip connections: cut one and see")
    if b == "skip connections" and not cfg.use_skips:
        return (f"This model, “{s.model}”, was trained without skip connections (use_skips=False): the decoder "
                "sees only what comes up from the bottleneck, so fine detail has to survive the trip through "
                f"{cfg.resolution(L - 1)}×{cfg.resolution(L - 1)} pixels. Pick the model “mnist” in the sidebar to "
                "compare the same recipe with skips.", "pages/skips.py", "5 · Skip connections: what they carry")
    if b == "skip connections":
        return ("Each skip connection copies an encoder level's output straight across to the decoder level of the "
                "same size, where it is concatenated with the upsampled deep features. Without them the decoder "
                "has to rebuild fine detail from the tiny bottleneck alone, and images come out blurry.",
                "pages/skips.py", "5 · Skip connections: scale or cut them")
    if b == "out":
        return (f"The output head (GroupNorm, SiLU, 3×3 convolution) maps the {ch[0]} channels back to "
                f"{cfg.in_channels}: one predicted noise value per input value, {shape('output')}.",
                "pages/denoise.py", "3 · Denoising: what the sampler does with ε̂")
    if b == "output":
        return (f"The prediction ε̂ {shape('output')} has the same shape as x_t {shape('input')}: the network "
                "answers “this much noise, here” for every pixel. The sampler subtracts a scaled part of it to get "
                "the slightly cleaner $x_{t-1}$, and repeats.", "pages/denoise.py", "3 · Denoising, step by step")
    if b == "time embedding":
        return (f"The step t becomes a vector: sinusoids of many frequencies {shape('time_embedding.sinusoid')}, "
                f"then a small MLP, giving {shape('embedding')}"
                + (" (plus the digit label's embedding)" if cfg.conditioning == "class" else "")
                + ". Every residual block turns it into a per-channel scale and shift (FiLM), which is how one "
                "network knows whether it is looking at almost-pure noise or an almost-clean image.",
                "pages/timestep.py", "7 · Timestep conditioning: lie to it about t")
    if b == "attention":
        where = ", ".join([f"encoder/decoder level {k} ({cfg.resolution(k)}×{cfg.resolution(k)})"
                           for k in cfg.attention_levels] + ["the bottleneck"])
        cross = [k for k in cfg.cross_levels if k not in cfg.attention_levels]
        if cfg.conditioning == "text" and cross:
            where += "; cross-attention only at " + ", ".join(
                f"level {k} ({cfg.resolution(k)}×{cfg.resolution(k)})" for k in cross)
        kind = ("self-attention (pixels look at pixels) and cross-attention (pixels look at the caption's words)"
                if cfg.conditioning == "text" else "self-attention: every position looks at every other one")
        probs = [v for k, v in fp.shapes.items() if k.endswith("probs")]
        return (f"Attention sits at {where}: {kind}. Its weights form a map of shape "
                f"{diagram.fmt_shape(probs[0]) if probs else '?'} (batch, heads, queries, keys) that the "
                "attention page draws.", "pages/attention.py", "6 · Attention maps")
    if b == "text encoder":
        layers = f"a {cfg.text_layers}-layer transformer, so each word can read the rest of its phrase" + (
            ", and only its phrase: the caption is split at “and”" if cfg.text_phrases else "")
        return (f"The caption's words become tokens and then vectors ({layers}); they are the keys and "
                "values of every cross-attention block, so each pixel can pick the words that matter to it"
                + (" (every attention block also adds a learned position vector to each pixel's query, so a "
                   "pixel knows where it is)" if cfg.pixel_positions else "") + ".",
                "pages/attention.py", "6 · Attention: which word each pixel reads")
    return ("", None, None)


text, page, link = explain(block)
with st.container(border=True):
    st.markdown(f"#### {block}")
    st.markdown(text)
    if page:
        st.page_link(page, label=link, icon=":material/arrow_forward:")

st.subheader("Input and output: the same shape")
lim = images.signed_limit(fp.eps)
c1, c2, c3 = st.columns([5, 2, 5], vertical_alignment="center")
with c1:
    render.chart(maps.image_figure(fp.x[0], f"input x_T, t = {fp.t}  {shape('input')}"),
                    key="x_T")
with c2:
    st.markdown("#### → U-Net →")
with c3:
    render.chart(maps.image_figure(fp.eps[0], f"predicted noise ε̂  {shape('output')}", signed=True, limit=lim),
                    key="eps")
same = fp.shapes["input"] == fp.shapes["output"]
r = claims.correlation(fp.x[0], fp.eps[0])
st.markdown(f"**{'Same shape' if same else 'Different shapes'}:** x_T is {shape('input')} and ε̂ is "
            f"{shape('output')}. At t = {fp.t} the input *is* noise, so a good ε̂ looks "
            + ("almost like x_T itself: measured, they correlate r = " if r >= 0.8 else
               "only partly like x_T: measured, they correlate r = ") + f"{r:.2f} "
            + ("(colour −1 … +1 per channel; ε̂ in colour too, mid-grey = 0)." if cfg.in_channels == 3 else
               "(grey: −1 black … +1 white; noise: blue < 0 < red)."))

st.subheader("Where the parameters are")
parts = {"time embedding": count_parameters(model.time_embedding)}
if cfg.conditioning == "class":
    parts["label embedding"] = count_parameters(model.label_embedding)
if cfg.conditioning == "text":
    parts["text encoder"] = count_parameters(model.text_encoder)
parts["stem"] = count_parameters(model.stem)
parts.update({f"encoder.{k}": count_parameters(model.encoder[k]) for k in range(L)})
parts["bottleneck"] = count_parameters(model.bottleneck)
parts.update({f"decoder.{k}": count_parameters(model.decoder[k]) for k in reversed(range(L))})
parts["out"] = count_parameters(model.out)
total = count_parameters(model)
render.chart(curves.parameter_figure(parts), key="params")
deep = claims.deep_share(parts, [f"encoder.{L - 1}", "bottleneck", f"decoder.{L - 1}"])
st.caption(f"{total:,} trainable parameters in all; the deepest level and the bottleneck "
           f"({cfg.resolution(L - 1)}×{cfg.resolution(L - 1)}) hold {deep:.0%} of them: a 3×3 convolution "
           "costs channels_in × channels_out × 9 weights, and the channels grow as the image shrinks.")

skips = ', "decoder.*.skip"' if cfg.use_skips else ""
notices.show_code(f"""
import torch
from diffviz.diffusion import sampling
from diffviz.model import capture, zoo

model, meta = zoo.load("{s.model}")
x_T, _ = sampling.initial_noise(({cfg.in_channels}, {H}, {H}), seeds=[{s.seed}])     # (1, {cfg.in_channels}, {H}, {H})
cond = sampling.encode_conditions(model, [{s.condition!r}])
with capture.capture(model, select=["encoder.?", "bottleneck"{skips}]) as trace:
    eps = model(x_T, torch.tensor([{fp.t}]), cond)                 # ε̂: same shape as x_T
{{k: tuple(v.shape) for k, v in trace.items()}}   # e.g. 'encoder.1': {shape('encoder.1')}
""")
