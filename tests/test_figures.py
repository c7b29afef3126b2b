"""Figure builders: right data, shared colour scales, no blurring, labelled axes, equations that match the samplers."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from diffviz.diffusion.schedulers import NoiseSchedule, make_sampler
from diffviz.figures import curves, diagram, equations, images, maps
from diffviz.model.config import UNetConfig, preset

torch.set_num_threads(1)
rng = np.random.default_rng(0)


# ---------------------------------------------------------------- PIL images (kept signatures)

def test_grid_image_and_save_grid(tmp_path):
    x = rng.uniform(-1, 1, (5, 1, 6, 6)).astype(np.float32)
    img = images.grid_image(x, ncol=3, pad=2, scale=2)
    assert img.size == ((3 * 8 + 2) * 2, (2 * 8 + 2) * 2) and img.mode == "L"
    path = images.save_grid(x, tmp_path / "sub" / "g.png", ncol=3, scale=3)
    assert Image.open(path).size == ((3 * 8 + 2) * 3, (2 * 8 + 2) * 3)


def test_upscale_is_nearest_neighbour():
    x = rng.uniform(-1, 1, (1, 7, 7)).astype(np.float32)
    img = np.asarray(images.upscale(x, width=70))
    assert img.shape == (70, 70)
    small = img[::10, ::10]
    assert np.array_equal(np.repeat(np.repeat(small, 10, 0), 10, 1), img)   # blocks, never blended


def test_signed_limit_covers_every_frame():
    frames = rng.normal(size=(10, 1, 4, 4))
    frames[7, 0, 1, 1] = -9.0
    assert images.signed_limit(frames) == 9.0
    assert images.signed_limit(frames[:3], frames[7]) == 9.0
    assert images.signed_limit(np.zeros(3)) > 0


# ---------------------------------------------------------------- plotly images

def test_grey_image_figure_fixed_scale_no_smoothing():
    x = rng.uniform(-2, 2, (1, 8, 8))
    fig = maps.image_figure(x, "x_t")
    (tr,) = fig.data
    assert tr.type == "heatmap" and (tr.zmin, tr.zmax) == (-1.0, 1.0)
    assert not tr.zsmooth                                       # one brick per pixel
    assert fig.layout.yaxis.autorange == "reversed"             # row 0 at the top, like an image
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    np.testing.assert_allclose(np.asarray(tr.z), x[0])


def test_signed_figure_is_diverging_and_symmetric():
    x = rng.normal(size=(1, 8, 8))
    fig = maps.image_figure(x, "ε̂", signed=True, limit=3.5)
    (tr,) = fig.data
    assert (tr.zmin, tr.zmax, tr.zmid) == (-3.5, 3.5, 0)
    names = [c[1] for c in tr.colorscale]
    assert names[0] != names[-1] and len(names) > 3            # a real diverging map (RdBu)


def test_rgb_image_is_repeated_not_interpolated():
    x = rng.uniform(-1, 1, (3, 8, 8))
    fig = maps.image_figure(x)
    (tr,) = fig.data
    z = np.asarray(tr.z)
    f = z.shape[0] // 8
    assert tr.type == "image" and f >= 8 and z.shape == (8 * f, 8 * f, 3)
    assert np.array_equal(z[::f, ::f], z[f - 1::f, f - 1::f])    # each pixel is a solid f×f block
    assert tr.dx == pytest.approx(1 / f)                          # hover still reports source pixels


def test_signed_rgb_shows_three_channels_on_one_scale():
    """Colour noise: on request three channel heat maps on one ±limit scale; by default one colour image."""
    x = rng.normal(size=(3, 8, 8))
    fig = maps.image_figure(x, signed=True, limit=2.0, channels=True)
    assert [t.type for t in fig.data] == ["heatmap"] * 3
    assert {(t.zmin, t.zmax) for t in fig.data} == {(-2.0, 2.0)}
    colour = maps.image_figure(x, signed=True, limit=2.0)
    assert [t.type for t in colour.data] == ["image"]


def test_image_figure_layout_is_what_the_style_helpers_make():
    """image_figure builds its layout in one call: the same axes, margins and fonts `_image_axes` and
    `_style` give a figure (so every page's picture stays as it was)."""
    import plotly.graph_objects as go

    from diffviz.figures.style import _image_axes, _style
    x = rng.normal(size=(1, 8, 8))
    for title in ("ε̂", None):
        ref = go.Figure(go.Heatmap(z=x[0]))
        _image_axes(ref)
        _style(ref, 340, title, tight=True)
        fig = maps.image_figure(x, title, signed=True, limit=2.0, height=340)
        assert fig.layout.to_plotly_json() == ref.layout.to_plotly_json(), title


def test_a_frozen_figure_gives_every_session_the_same_dict():
    from diffviz.app.render import frozen
    fig = maps.image_figure(rng.normal(size=(1, 8, 8)), "x", signed=True, limit=2.0)
    want = fig.to_dict()
    shared = frozen(maps.image_figure(np.asarray(fig.data[0].z)[None], "x", signed=True, limit=2.0))
    assert shared.to_dict() is shared.to_dict() and shared.to_dict() == want


# ---------------------------------------------------------------- curves

def test_schedule_figure_marks_t_on_both_schedules():
    t = 400
    fig = curves.schedule_figure(t)
    markers = [tr for tr in fig.data if tr.mode == "markers"]
    assert len(markers) == 6 and all(tr.x == (t,) for tr in markers)
    ab = {s: float(NoiseSchedule(s).alphas_cumprod[t]) for s in ("linear", "cosine")}
    got = sorted(tr.y[0] for tr in markers if tr.xaxis == "x2")
    assert got == pytest.approx(sorted(ab.values()), rel=1e-5)
    assert fig.layout.yaxis3.type == "log" and fig.layout.yaxis.type == "log"
    assert all(getattr(fig.layout, f"xaxis{i}").title.text == "t" for i in ("", "2", "3"))
    assert any("this model" in (tr.name or "") for tr in fig.data)


def test_error_curve_marks_current_t():
    ts = np.arange(19, 1000, 20)
    mse = np.linspace(0.5, 0.01, len(ts))
    fig = curves.error_curve_figure(ts, mse, 500)
    line, mark = fig.data
    assert list(line.x) == list(ts) and mark.x == (499,) and mark.y[0] == pytest.approx(mse[24])
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_parameter_figure_bars():
    fig = curves.parameter_figure({"stem": 320, "encoder.0": 1000, "bottleneck": 5000})
    (bar,) = fig.data
    assert list(bar.x) == [320, 1000, 5000] and "5,000" in bar.text[2]
    assert fig.layout.xaxis.title.text == "trainable parameters"


# ---------------------------------------------------------------- the U-Net diagram

def _texts(fig):
    return " | ".join(a.text or "" for a in fig.layout.annotations)


def test_diagram_shows_live_shapes_levels_skips_and_time():
    cfg = preset("mnist")
    shapes = {"input": (1, 1, 28, 28), "output": (1, 1, 28, 28), "encoder.1": (1, 64, 14, 14),
              "bottleneck": (1, 128, 7, 7), "embedding": (1, 128), "decoder.0.skip": (1, 32, 28, 28)}
    fig = diagram.unet_diagram(cfg, shapes, selected="encoder.1", t=999, condition="7")
    text = _texts(fig)
    for needle in ("encoder.0", "encoder.2", "bottleneck", "decoder.0", "skip 0", "skip 2", "time embedding",
                   "(1, 64, 14, 14)", "(1, 128, 7, 7)", "t = 999", "same shape as x_t", "self-attention"):
        assert needle in text, needle
    widths = [s.line.width for s in fig.layout.shapes if s.type == "rect" and s.line.width]
    assert max(widths) > min(widths)                            # the selected block stands out
    dotted = [s for s in fig.layout.shapes if s.type == "line" and s.line.dash == "dot"]
    assert len(dotted) == 2 * cfg.levels + 1                    # t reaches every level and the bottleneck


def test_diagram_without_skips_or_attention_and_for_text():
    no = diagram.unet_diagram(preset("mnist", use_skips=False, use_attention=False), {})
    assert "skip 0" not in _texts(no) and "attention" not in _texts(no)
    assert "no skip connections in this model" in _texts(no)
    assert "attention" not in diagram.unet_blocks(preset("mnist", use_attention=False))
    text_cfg = UNetConfig(image_size=8, in_channels=3, base_channels=8, channel_mults=(1, 2), attention_levels=(1,),
                          heads=2, conditioning="text", vocab_size=20, max_tokens=5)
    fig = diagram.unet_diagram(text_cfg, {}, selected="text encoder")
    assert "text encoder" in _texts(fig) and "cross-attention" in _texts(fig)
    assert diagram.unet_blocks(text_cfg)[-1] == "text encoder"
    shapes_cfg = preset("shapes")                                  # self+cross at the deepest level, cross only above
    text = _texts(diagram.unet_diagram(shapes_cfg, {}))
    assert "+ self/cross-attention" in text and "+ cross-attention" in text


# ---------------------------------------------------------------- exports

def test_panel_png_and_trajectory_gif():
    a = rng.uniform(-1, 1, (1, 8, 8))
    img = images.panel_image([a, a * 2, a], ["x_t", "eps", "x0"], signed=[False, True, False],
                              limits=[1, 2, 1], scale=4, title="t")
    png = images.png_bytes(img)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    S = 6
    gif = images.trajectory_gif(rng.uniform(-1, 1, (S, 1, 8, 8)), rng.uniform(-1, 1, (S, 1, 8, 8)),
                                 np.arange(S)[::-1] * 100, final=a)
    im = Image.open(io.BytesIO(gif))
    assert im.format == "GIF" and im.n_frames == S + 1 and im.info.get("loop") == 0


def test_long_runs_give_bounded_gifs():
    S = 250
    gif = images.trajectory_gif(rng.uniform(-1, 1, (S, 1, 8, 8)), rng.uniform(-1, 1, (S, 1, 8, 8)),
                                 np.arange(S)[::-1] * 4, final=rng.uniform(-1, 1, (1, 8, 8)), max_frames=60)
    assert Image.open(io.BytesIO(gif)).n_frames <= 61


# ---------------------------------------------------------------- equations match the samplers

def test_forward_equation_numbers():
    ab = float(NoiseSchedule("linear").alphas_cumprod[500])
    tex = equations.forward_equation(500, ab)
    assert "x_{500}" in tex and f"{np.sqrt(ab):.3f}" in tex and f"{np.sqrt(1 - ab):.3f}" in tex


@pytest.mark.parametrize("sampler, steps, i", [("ddim", 10, 0), ("ddim", 10, 9), ("ddpm", 20, 3), ("ddpm", 20, 19)])
def test_update_equation_coefficients_reproduce_the_step(sampler, steps, i):
    sch = make_sampler(sampler, "linear", steps)
    ts = sch.timesteps.tolist()
    t, prev = ts[i], ts[i + 1] if i + 1 < len(ts) else -1
    ab, ab_prev = float(sch.alphas_cumprod[t]), float(sch.alphas_cumprod[prev]) if prev >= 0 else 1.0
    g = torch.Generator().manual_seed(0)
    x, eps, z = (torch.randn(1, 1, 4, 4, generator=g) for _ in range(3))
    out = sch.step(eps, t, x, noise=z)
    x0 = out.pred_original_sample
    if sampler == "ddim":
        tex = equations.ddim_equation(t, prev, ab, ab_prev)
        want = np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * eps
    else:
        tex = equations.ddpm_equation(t, prev, ab, ab_prev)
        c0, ct, sigma = equations.ddpm_coefficients(ab, ab_prev, last=t == 0)
        want = c0 * x0 + ct * x + sigma * z
        assert f"{c0:.3f}" in tex and f"{ct:.3f}" in tex
        assert ("z" in tex.split("=")[-1]) == (sigma >= 5e-4)
    torch.testing.assert_close(out.prev_sample, want.float(), rtol=1e-4, atol=1e-4)
    assert tex.startswith("x_0 =") == (prev < 0)
    assert f"{np.sqrt(ab_prev):.3f}" in tex or sampler == "ddpm"
    assert "x_{" + str(t) + "}" in equations.pred_x0_equation(t, ab)
