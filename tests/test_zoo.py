"""The registry of shipped models."""

from __future__ import annotations

import threading

import pytest
import torch
from ci_mode import in_ci

from diffviz.data import text
from diffviz.model import checkpoint, zoo
from diffviz.model.config import preset
from diffviz.model.unet import UNet


def test_every_entry_is_described():
    assert list(zoo.MODELS) == ["mnist", "mnist-noskip", "mnist-step1500", "mnist-noattn", "shapes", "shapes-ungrounded"]
    for name, e in zoo.MODELS.items():
        assert e.name == name
        assert e.description.strip() and "\n" not in e.description
        assert e.kind in ("class", "text")
        assert e.default_guidance == (3.0 if e.kind == "text" else 2.0)
        assert e.prefix == zoo.MODELS_DIR / name and e.prefix.parent.name == "models"
        assert zoo.describe(name).startswith(f"{name}: {e.description}")
    assert zoo.MODELS["shapes"].kind == "text"
    assert set(zoo.available()) <= set(zoo.MODELS)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(zoo.UnknownModelError, match="unknown model 'mnsit'.*mnist, mnist-noskip") as e:
        zoo.load("mnsit")
    assert isinstance(e.value, ValueError) and isinstance(e.value, KeyError)
    with pytest.raises(ValueError):
        zoo.describe("nope")


def _forward(model):
    cfg = model.config
    x = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size)
    cond = (torch.tensor([3, 7]) if cfg.conditioning == "class"
            else text.tokenize_batch(["a small blue square at the top right", ""]))
    dev = model.stem.weight.device
    with torch.inference_mode():
        eps = model(x.to(dev), torch.tensor([500, 20], device=dev), cond.to(dev)).cpu()
    return x, eps


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_shipped_models_load_and_predict(name):
    e = zoo.MODELS[name]
    if not e.exists():
        if in_ci():
            pytest.fail(f"{name}: {e.prefix}.safetensors/.json must be shipped (CI is set)")
        pytest.skip(f"{name} is not exported yet")
    model, meta = zoo.load(name)
    assert model.config.conditioning == e.kind
    assert not model.training
    x, eps = _forward(model)
    assert eps.shape == x.shape and torch.isfinite(eps).all()
    assert zoo.load(name) is zoo.load(name)


@pytest.fixture
def tiny_entry(tmp_path, monkeypatch):
    torch.manual_seed(0)
    checkpoint.save_checkpoint(UNet(preset("tiny")), tmp_path / "tiny")
    entry = zoo.Entry("tiny", "A tiny test model", "class", 2.0, prefix=tmp_path / "tiny")
    monkeypatch.setitem(zoo.MODELS, "tiny", entry)
    yield entry
    zoo.clear_cache()


def test_load_is_cached_and_thread_safe(tiny_entry):
    first, meta = zoo.load("tiny", "cpu")
    assert zoo.load("tiny", "cpu")[0] is first
    got = []
    threads = [threading.Thread(target=lambda: got.append(zoo.load("tiny", "cpu")[0])) for _ in range(4)]
    [t.start() for t in threads], [t.join() for t in threads]
    assert all(m is first for m in got)
    assert "tiny" in zoo.available()
    x, eps = _forward(first)
    assert eps.shape == x.shape


def test_missing_files_raise_checkpoint_error(tmp_path, monkeypatch):
    monkeypatch.setitem(zoo.MODELS, "ghost", zoo.Entry("ghost", "Not there", "class", 2.0, prefix=tmp_path / "ghost"))
    assert "ghost" not in zoo.available()
    with pytest.raises(checkpoint.CheckpointError, match=r"ghost\.json: file is missing"):
        zoo.load("ghost", "cpu")
    assert "not exported yet" in zoo.describe("ghost")
