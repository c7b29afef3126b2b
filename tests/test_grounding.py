"""The grounding term: which tokens it supervises, how it reads a map, that it leaves no hooks and that it teaches."""

import numpy as np
import pytest
import torch

from diffviz.cli import train
from diffviz.data import shapes, text
from diffviz.diffusion.schedulers import NoiseSchedule
from diffviz.evaluation import captions
from diffviz.model.config import preset
from diffviz.model.unet import UNet
from diffviz.training import grounding, recipe

SMALL_TEXT = dict(base_channels=8, channel_mults=(1, 2), attention_levels=(1,), cross_levels=(0, 1),
                  text_dim=16, text_layers=1)


def _scene():
    return (shapes.Shape("circle", "red", "large", "top left"),
            shapes.Shape("square", "blue", "small", "bottom right"))


def test_token_masks_give_each_object_word_its_own_shape():
    scene = _scene()
    cap = shapes.caption(scene)
    _, masks = shapes.render(scene, return_masks=True)
    tm, sup = grounding.token_masks([cap, ""], [masks, []])
    assert tm.shape == (2, text.MAX_TOKENS, 32, 32) and sup.shape == (2, text.MAX_TOKENS)
    labels = text.token_labels(cap)
    supervised = [labels[i] for i in np.flatnonzero(sup[0].numpy())]
    assert supervised == ["large", "red", "circle", "small", "blue", "square"]
    for i in np.flatnonzero(sup[0].numpy()):
        phrase = 0 if i < labels.index("and") else 1
        assert torch.equal(tm[0, i].bool(), torch.from_numpy(masks[phrase]))
    assert not sup[1].any() and tm[1].sum() == 0                 # the empty caption: nothing to ground
    assert not sup[0, 0] and not sup[0, labels.index("top")]     # <start> and place words are free


def test_inside_share_reads_maps_like_the_evaluation():
    g = torch.Generator().manual_seed(0)
    masks = torch.from_numpy(np.stack([shapes.shape_mask(s) for s in _scene()]))        # (2, 32, 32)
    for r in (16, 8):
        p = torch.rand(2, 3, r * r, 5, generator=g)                                     # (B, heads, N, M)
        share = grounding.inside_share(p, masks[:, None].expand(2, 5, 32, 32).float())  # (B, M)
        for j in range(5):
            want = captions.attention_mass_share(p.mean(1)[:, :, j].numpy(), masks.numpy())
            np.testing.assert_allclose(share[:, j].numpy(), want, rtol=1e-5, atol=1e-6)
    inside = masks.float()[:, None].expand(2, 5, 32, 32)
    cover = torch.nn.functional.adaptive_avg_pool2d(inside, 16).flatten(2).transpose(1, 2)[:, None]
    full = (cover == 1).float()                                    # only cells wholly inside the shape
    assert torch.allclose(grounding.inside_share(full, inside), torch.ones(2, 5))
    part = grounding.inside_share(cover, inside)                   # a map that spills onto the edge cells
    assert (part < 1).all() and (part > 0.5).all()


def test_recording_keeps_gradients_and_leaves_no_hooks():
    model = UNet(preset("shapes", **SMALL_TEXT))
    x = torch.randn(2, 3, 32, 32)
    cond = text.tokenize_batch([shapes.caption(_scene()), "a small red circle in the centre"])
    with grounding.record_cross_attention(model) as found:
        model(x, torch.tensor([10, 500]), cond)
    assert len(found) == 5 and all(p.requires_grad for p in found)           # encoder 0, 1, bottleneck, decoder 1, 0
    assert {p.shape[2] for p in found} == {32 * 32, 16 * 16}
    assert not any(m._forward_hooks for m in model.modules())

    class Stop(Exception):
        """Only this exception is expected: an error from the forward pass itself fails the test."""

    with pytest.raises(Stop), grounding.record_cross_attention(model) as found:
        model(x, torch.tensor([10, 500]), cond)
        assert len(found) == 5
        raise Stop
    assert not any(m._forward_hooks for m in model.modules())               # removed on the error path too


def test_grounding_term_moves_the_word_maps_onto_the_shapes():
    torch.manual_seed(0)
    cfg = preset("shapes", **SMALL_TEXT)
    model = UNet(cfg)
    imgs, caps, masks = shapes.make_batch(16, seed=1, return_masks=True)
    x0, cond = torch.from_numpy(imgs), text.tokenize_batch(caps)
    tm = grounding.token_masks(caps, masks)
    sched = NoiseSchedule("linear")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    shares = []
    for step in range(25):
        gen = torch.Generator().manual_seed(step)
        loss, share = recipe.diffusion_loss(model, sched, x0, cond, gen, 0.0, 5.0, ground=1.0, token_masks=tm)
        opt.zero_grad()
        loss.backward()
        opt.step()
        shares.append(share["share"].item())
    assert shares[-1] > shares[0] + 0.1, shares
    gen = torch.Generator().manual_seed(0)
    plain, none = recipe.diffusion_loss(model, sched, x0, cond, gen, 0.0, 5.0)
    assert none is None and plain.item() > 0


def test_train_cli_logs_the_grounding_share(tmp_path):
    out = tmp_path / "g"
    train.main(["--preset", "shapes", "--set", "base_channels=8", "--set", "channel_mults=[1,2]",
                "--set", "attention_levels=[1]", "--set", "text_dim=16", "--steps", "25", "--batch", "4",
                "--threads", "1", "--sample-every", "0", "--ground", "0.5", "--out", str(out)])
    torch.set_num_threads(1)
    rows = (out / "ground.csv").read_text().splitlines()
    assert rows[0] == "step,inside_share,inside_weight" and rows[1].startswith("25,")
    share, weight = map(float, rows[1].split(",")[1:])
    assert 0 < share < 1 and 0 < weight < 1


def test_inside_weight_and_pixel_loss():
    g = torch.Generator().manual_seed(1)
    masks = torch.from_numpy(np.stack([shapes.shape_mask(s) for s in _scene()]))        # (2, 32, 32)
    tok_masks = masks[:, None].expand(2, 5, 32, 32).float()
    p = torch.rand(2, 2, 8 * 8, 5, generator=g).softmax(dim=-1)                          # (B, heads, N, M)
    w = grounding.inside_weight(p, tok_masks)
    for j in range(5):
        want = captions.attention_weight_inside(p.mean(1)[:, :, j].numpy(), masks.numpy())
        np.testing.assert_allclose(w[:, j].numpy(), want, rtol=1e-5, atol=1e-6)
    sup = torch.ones(2, 5, dtype=torch.bool)
    cover = torch.nn.functional.adaptive_avg_pool2d(tok_masks, 8).flatten(2).transpose(1, 2)[:, None]   # (B, 1, N, M)
    full = (cover == 1).float()                                 # the cells wholly inside the shape
    faint, strong = full * 0.05, full * 0.9                     # both all inside; only one is read by the shape
    assert grounding.inside_share(faint, tok_masks).min() > 0.99 and grounding.inside_share(strong, tok_masks).min() > 0.99
    assert grounding.pixel_loss(strong, tok_masks, sup) < grounding.pixel_loss(faint, tok_masks, sup)
    assert grounding.inside_weight(faint, tok_masks).max() < grounding.inside_weight(strong, tok_masks).min()
