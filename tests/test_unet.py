import itertools
import json
from pathlib import Path

import pytest
import torch
from conftest import make_model, tiny_text_config

from diffviz.data import text
from diffviz.model.config import UNetConfig, preset
from diffviz.model.unet import UNet, count_parameters


def _cond_for(cfg: UNetConfig, B: int):
    if cfg.conditioning == "class":
        return torch.arange(B) % cfg.num_classes
    if cfg.conditioning == "text":
        return text.tokenize_batch(["a red circle in the centre", "a small blue square at the top left"][:B] * B)[:B]
    return None


def _grid():
    """A spread of configurations covering every option at least once, in many combinations."""
    out = []
    sizes = {2: (8, 16, 28, 32), 3: (8, 16, 28, 32)}
    combos = itertools.product((1, 3), (2, 3), (1, 2), (True, False), (True, False), ("none", "class", "text"),
                               ("transposed", "nearest"))
    for i, (cin, levels, blocks, skips, attn, cond, up) in enumerate(combos):
        if i % 5:                      # every 5th of the 288 combinations (keeps the test fast) ...
            continue
        size = sizes[levels][(i // 5) % 4]
        use_time = (i // 5) % 3 != 0
        out.append(dict(in_channels=cin, levels=levels, blocks=blocks, use_skips=skips, use_attention=attn,
                        conditioning=cond, upsample=up, image_size=size, use_time=use_time,
                        pixel_positions=(i // 5) % 2 == 1))
    # ... plus every image size with every level count explicitly.
    for size, levels in itertools.product((8, 16, 28, 32), (2, 3)):
        out.append(dict(in_channels=1, levels=levels, blocks=1, use_skips=True, use_attention=True,
                        conditioning="class", upsample="transposed", image_size=size, use_time=True,
                        pixel_positions=False))
    return out


GRID = _grid()


def _build(p) -> UNetConfig:
    extra = {}
    if p["conditioning"] == "text":
        extra = dict(vocab_size=len(text.VOCAB), max_tokens=text.MAX_TOKENS, text_dim=16)
    return UNetConfig(image_size=p["image_size"], in_channels=p["in_channels"], base_channels=8,
                      channel_mults=(1, 2, 2)[: p["levels"]], blocks_per_level=p["blocks"],
                      attention_levels=(p["levels"] - 1, 0) if p["image_size"] <= 16 else (p["levels"] - 1,),
                      heads=2, upsample=p["upsample"], use_skips=p["use_skips"],
                      use_attention=p["use_attention"], use_time=p["use_time"],
                      conditioning=p["conditioning"], pixel_positions=p["pixel_positions"], **extra)


def test_grid_covers_every_option():
    for key, values in dict(in_channels=(1, 3), levels=(2, 3), blocks=(1, 2), use_skips=(True, False),
                            use_attention=(True, False), use_time=(True, False),
                            conditioning=("none", "class", "text"), upsample=("transposed", "nearest"),
                            image_size=(8, 16, 28, 32), pixel_positions=(True, False)).items():
        assert {p[key] for p in GRID} == set(values), key


@pytest.mark.parametrize("p", GRID, ids=lambda p: "-".join(f"{v}" for v in p.values()))
def test_output_shape_equals_input_shape(p):
    cfg = _build(p)
    model = make_model(cfg)
    B = 2
    x = torch.randn(B, cfg.in_channels, cfg.image_size, cfg.image_size)
    t = torch.tensor([999, 10])
    with torch.no_grad():
        eps = model(x, t, _cond_for(cfg, B))
    assert eps.shape == x.shape and eps.dtype == x.dtype
    assert torch.isfinite(eps).all()
    with torch.no_grad():
        eps_other_t = model(x, torch.tensor([500, 500]), _cond_for(cfg, B))
    if cfg.use_time:
        assert not torch.allclose(eps, eps_other_t)
    else:                               # the network is never told t
        assert torch.equal(eps, eps_other_t)
    # one scalar t broadcasts to the batch
    with torch.no_grad():
        assert torch.equal(model(x, torch.tensor([500]), _cond_for(cfg, B)), eps_other_t)


def test_unconditional_model_ignores_condition():
    model = make_model(preset("tiny", conditioning="none"))
    assert not hasattr(model, "label_embedding") and model.null_condition(2) is None
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x, torch.tensor([5, 5])), model(x, torch.tensor([5, 5]), None))


def test_named_module_paths_exist(tiny_model, text_model):
    names = dict(tiny_model.named_modules())
    for path in ("encoder.0", "encoder.1", "encoder.1.res.0", "bottleneck", "bottleneck.attn", "decoder.1.upsample",
                 "decoder.1.skip", "decoder.0.skip", "decoder.0.upsample", "embedding", "time_embedding.sinusoid",
                 "encoder.1.attn.0.self_attn.probs", "decoder.1.attn.0.self_attn.probs",
                 "bottleneck.attn.self_attn.probs", "encoder.0.res.0.film"):
        assert path in names, path
    assert "encoder.0.attn.0" not in names           # tiny: attention only at level 1
    keys = tiny_model.capture_keys()
    assert "encoder.1.attn.0.self_attn.probs" in keys and "decoder.1.skip" in keys
    tnames = dict(text_model.named_modules())
    for k in (0, 1):
        for part in ("encoder", "decoder"):
            assert f"{part}.{k}.attn.0.self_attn.probs" in tnames
            assert f"{part}.{k}.attn.0.cross_attn.probs" in tnames
    assert "bottleneck.attn.cross_attn.probs" in tnames
    assert "encoder.0.attn.0.cross_attn.probs" in text_model.capture_keys()
    assert not any(k.startswith("text_encoder.") and k.endswith("probs") for k in text_model.capture_keys())


def _probs(model, x, t, cond):
    """Float32 attention probabilities of every attention module (hooks, not capture: full precision)."""
    got, handles = {}, []
    for name, m in model.named_modules():
        if name.endswith(".probs"):
            handles.append(m.register_forward_hook(lambda _m, _i, out, name=name: got.__setitem__(name, out)))
    try:
        with torch.no_grad():
            model(x, t, cond)
    finally:
        for h in handles:
            h.remove()
    return got


def test_attention_probabilities_sum_to_one(tiny_model):
    x = torch.randn(3, 1, 8, 8)
    probs = _probs(tiny_model, x, torch.tensor([999, 500, 0]), torch.tensor([1, 2, 10]))
    assert "encoder.1.attn.0.self_attn.probs" in probs and "bottleneck.attn.self_attn.probs" in probs
    for name, p in probs.items():
        N = 4 * 4                                             # level 1 of an 8x8 model: 4x4 pixels
        assert p.shape == (3, 2, N, N), name
        assert (p >= 0).all()
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1]), rtol=0, atol=1e-5)


def test_cross_attention_gives_padding_zero_weight(text_model):
    captions = ["a red circle in the centre", "", "a large yellow triangle at the bottom right"]
    tokens = text.tokenize_batch(captions)
    x = torch.randn(3, 3, 8, 8)
    probs = _probs(text_model, x, torch.tensor([700, 700, 700]), tokens)
    cross = {k: v for k, v in probs.items() if "cross_attn" in k}
    assert len(cross) == 5                                    # encoder 0, 1, bottleneck, decoder 1, 0
    pad = tokens == text.PAD_ID                               # (B, M)
    for name, p in cross.items():
        assert p.shape[-1] == text.MAX_TOKENS, name
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1]), rtol=0, atol=1e-5)
        w = p.permute(0, 3, 1, 2)                             # (B, M, heads, N)
        assert torch.all(w[pad] == 0), name                   # exactly zero on padding
        assert torch.all(w[~pad].sum(dim=(-1, -2)) > 0), name


def test_no_fused_attention_kernel(monkeypatch, tiny_model, text_model):
    def boom(*a, **k):
        raise AssertionError("scaled_dot_product_attention must not be used: the app shows the probabilities")
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", boom)
    monkeypatch.setattr(torch.nn.functional, "multi_head_attention_forward", boom)
    with torch.no_grad():
        tiny_model(torch.randn(2, 1, 8, 8), torch.tensor([3, 4]), torch.tensor([1, 2]))
        text_model(torch.randn(2, 3, 8, 8), torch.tensor([3, 4]), text.tokenize_batch(["a red circle", ""]))
    assert not any(isinstance(m, torch.nn.MultiheadAttention) for m in text_model.modules())


def test_no_skip_model(noskip_model, tiny_model):
    names = [n for n, _ in noskip_model.named_modules()]
    assert not any(n.split(".")[-1] == "skip" for n in names)
    assert not any(k.endswith("skip") for k in noskip_model.capture_keys())
    for k in range(noskip_model.config.levels):
        with_skip = tiny_model.decoder[k].res[0].conv1.in_channels
        without = noskip_model.decoder[k].res[0].conv1.in_channels
        assert with_skip - without == tiny_model.config.channels[k]
    assert count_parameters(noskip_model) < count_parameters(tiny_model)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        eps = noskip_model(x, torch.tensor([10, 900]), torch.tensor([3, 4]))
    assert eps.shape == x.shape and torch.isfinite(eps).all()


def test_condition_matters_and_null_condition(tiny_model, text_model):
    x = torch.randn(1, 1, 8, 8).repeat(2, 1, 1, 1)
    t = torch.tensor([400, 400])
    with torch.no_grad():
        eps = tiny_model(x, t, torch.tensor([3, 7]))
        assert not torch.allclose(eps[0], eps[1])
        null = tiny_model.null_condition(2)
        assert null.tolist() == [10, 10]
        assert torch.equal(tiny_model(x, t, None), tiny_model(x, t, null))
        assert not torch.allclose(tiny_model(x, t, null), eps)
    xt = torch.randn(1, 3, 8, 8).repeat(2, 1, 1, 1)
    tok = text.tokenize_batch(["a red circle", "a blue square"])
    with torch.no_grad():
        e = text_model(xt, t, tok)
        assert not torch.allclose(e[0], e[1])
        tnull = text_model.null_condition(2)
        assert torch.equal(tnull, text.tokenize_batch(["", ""]))
        assert torch.equal(text_model(xt, t, None), text_model(xt, t, tnull))


def test_pixel_positions_tell_attention_where_a_pixel_is():
    """Position vectors (one per pixel, per attention block) start at zero, and then matter."""
    cfg = tiny_text_config()
    plain, placed = make_model(cfg), make_model(UNetConfig.from_dict({**cfg.to_dict(), "pixel_positions": True}))
    extra = set(placed.state_dict()) - set(plain.state_dict())
    assert extra and all(k.endswith(".position") for k in extra)
    for k in extra:
        block = placed.get_submodule(k.rsplit(".", 1)[0])
        res = cfg.resolution(block.level)
        assert placed.state_dict()[k].shape == (res * res, cfg.channels[block.level])
        assert not placed.state_dict()[k].any()
    placed.load_state_dict({**placed.state_dict(), **plain.state_dict()})
    xt, t = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size), torch.tensor([500, 20])
    cond = _cond_for(cfg, 2)
    with torch.no_grad():
        assert torch.equal(plain(xt, t, cond), placed(xt, t, cond))     # zero positions: the same network
        for k in extra:
            placed.get_submodule(k.rsplit(".", 1)[0]).position.normal_()
        assert not torch.allclose(plain(xt, t, cond), placed(xt, t, cond))
    assert preset("shapes").pixel_positions and not preset("mnist").pixel_positions


def test_text_phrases_keep_each_word_inside_its_phrase():
    """text_phrases: the first phrase's token features ignore the second phrase, and vice versa."""
    cfg = tiny_text_config(text_layers=2, text_phrases=True)
    enc = make_model(cfg).text_encoder
    a = text.tokenize_batch(["a large red square at the top left and a small blue circle in the centre",
                             "a large red square at the top left and a large white triangle at the bottom right",
                             "a small yellow circle at the top right and a small blue circle in the centre"])
    with torch.no_grad():
        h, mask = enc(a)
    phrase = enc.phrases(a)
    assert phrase[0].tolist()[:9] == [0] * 9 and phrase[0, 9] == 1            # <start> + 8 words, then "and"
    first = (phrase[0] == 0)
    torch.testing.assert_close(h[0, first], h[1, first])                      # same first phrase: same features
    assert not torch.allclose(h[0, 9], h[1, 9])                              # "and" opens a different phrase
    second = (phrase[0] == 1) & mask[0]
    torch.testing.assert_close(h[0, second], h[2, second])                    # same second phrase, same place
    everywhere = make_model(tiny_text_config(text_layers=2)).text_encoder    # without: words read everything
    everywhere.load_state_dict(enc.state_dict())
    with torch.no_grad():
        h2, _ = everywhere(a)
    assert not torch.allclose(h2[0, first], h2[1, first])


def test_unet_source_is_short():
    src = Path(__file__).resolve().parents[1] / "diffviz" / "model" / "unet.py"
    assert len(src.read_text().splitlines()) <= 250


def test_config_round_trip():
    for cfg in (preset("mnist"), preset("shapes"), preset("tiny", use_skips=False, upsample="nearest"),
                tiny_text_config()):
        d = cfg.to_dict()
        again = UNetConfig.from_dict(json.loads(json.dumps(d)))     # through JSON: tuples become lists
        assert again == cfg and again.to_dict() == d
        assert isinstance(again.channel_mults, tuple) and isinstance(again.attention_levels, tuple)
        assert UNet(again).state_dict().keys() == UNet(cfg).state_dict().keys()


@pytest.mark.parametrize("bad, match", [
    (dict(nonsense=1), "unknown"),
    (dict(conditioning="image"), "conditioning"),
    (dict(attention_levels=(3,)), "attention_levels"),
    (dict(attention_levels=(-1,)), "attention_levels"),
    (dict(image_size=30), "halve"),
    (dict(upsample="bilinear"), "upsample"),
    (dict(conditioning="text", vocab_size=0), "text"),
])
def test_config_errors(bad, match):
    d = preset("mnist").to_dict()
    d.update(bad)
    with pytest.raises(ValueError, match=match):
        UNetConfig.from_dict(d)


def test_presets():
    assert preset("mnist").channels == [32, 64, 128]
    assert preset("shapes").vocab_size == len(text.VOCAB) and preset("shapes").max_tokens == text.MAX_TOKENS
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
