import json
import pickle

import pytest
import torch
from conftest import make_model, tiny_text_config
from safetensors.torch import load_file, save_file

from diffviz.data import text
from diffviz.model import checkpoint
from diffviz.model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    paths,
    read_meta,
    save_checkpoint,
)
from diffviz.model.config import preset


@pytest.fixture(autouse=True)
def no_pickle(monkeypatch):
    """Nothing here may unpickle: torch.load and pickle.load(s) raise if anything calls them."""
    def boom(*a, **k):
        raise AssertionError("a checkpoint must never be unpickled")
    monkeypatch.setattr(torch, "load", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)


@pytest.fixture
def saved(tmp_path, tiny_model):
    prefix = tmp_path / "ckpt" / "tiny"
    save_checkpoint(tiny_model, prefix, {"steps": 12, "note": "test"})
    return prefix


def test_round_trip(saved, tiny_model):
    weights, info = paths(saved)
    assert weights.name == "tiny.safetensors" and info.name == "tiny.json"
    assert all(v.dtype == torch.float16 for v in load_file(str(weights)).values())
    model, meta = load_checkpoint(saved)
    assert meta["steps"] == 12 and meta["note"] == "test" and meta["config"] == tiny_model.config
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 8, 8, generator=g)
    t, y = torch.tensor([999, 600, 200, 0]), torch.tensor([0, 3, 9, 10])
    with torch.no_grad():
        a, b = tiny_model(x, t, y), model(x, t, y)
    assert (a - b).norm() / a.norm() < 1e-2
    torch.testing.assert_close(b, a, rtol=1e-2, atol=1e-2)
    # a suffix given is ignored; float32 saving is exact
    assert load_checkpoint(str(saved) + ".json")[1]["steps"] == 12
    save_checkpoint(tiny_model, saved.with_name("f32"), dtype=torch.float32)
    exact, _ = load_checkpoint(saved.with_name("f32"))
    with torch.no_grad():
        assert torch.equal(exact(x, t, y), a)


def test_text_model_round_trip(tmp_path):
    model = make_model(tiny_text_config())
    save_checkpoint(model, tmp_path / "txt")
    loaded, meta = load_checkpoint(tmp_path / "txt")
    assert meta["config"].conditioning == "text" and meta["config"].vocab_size == len(text.VOCAB)
    x, t, tok = torch.randn(2, 3, 8, 8), torch.tensor([5, 900]), text.tokenize_batch(["a red circle", ""])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, tok), model(x, t, tok), rtol=1e-2, atol=1e-2)


def _raises_naming(prefix, which, match):
    weights, info = paths(prefix)
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(prefix)
    assert str({"weights": weights, "json": info}[which]) in str(err.value)
    return err


def test_missing_weights(saved):
    paths(saved)[0].unlink()
    _raises_naming(saved, "weights", "missing")


def test_missing_json(saved):
    paths(saved)[1].unlink()
    _raises_naming(saved, "json", "missing")
    with pytest.raises(CheckpointError):
        read_meta(saved)


def test_nothing_there(tmp_path):
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "nope")


@pytest.mark.parametrize("keep", [0.5, 0.02, 8])
def test_truncated_safetensors(saved, keep):
    weights = paths(saved)[0]
    data = weights.read_bytes()
    weights.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    _raises_naming(saved, "weights", "truncated or corrupted")


def test_random_bytes_safetensors(saved):
    weights = paths(saved)[0]
    weights.write_bytes(torch.randint(0, 256, (5000,), generator=torch.Generator().manual_seed(0),
                                      dtype=torch.uint8).numpy().tobytes())
    _raises_naming(saved, "weights", "corrupted")


def test_empty_safetensors(saved):
    paths(saved)[0].write_bytes(b"")
    _raises_naming(saved, "weights", None)


def test_json_not_valid(saved):
    paths(saved)[1].write_text('{"config": {"image_size": 8,')
    _raises_naming(saved, "json", "not valid JSON")


def test_json_binary_garbage(saved):
    paths(saved)[1].write_bytes(b"\xff\xfe\x00garbage\x80")
    _raises_naming(saved, "json", None)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["config"].update(colour="red"), "unknown"),
    (lambda m: m["config"].update(conditioning="audio"), "conditioning"),
    (lambda m: m.pop("config"), "config"),
    (lambda m: m.update(config=[1, 2]), "config"),
])
def test_json_bad_config(saved, edit, match):
    info = paths(saved)[1]
    meta = json.loads(info.read_text())
    edit(meta)
    info.write_text(json.dumps(meta))
    _raises_naming(saved, "json", match)


def test_json_is_a_list(saved):
    paths(saved)[1].write_text("[1, 2, 3]")
    _raises_naming(saved, "json", None)


def test_config_does_not_match_tensors(saved):
    info = paths(saved)[1]
    meta = json.loads(info.read_text())
    meta["config"]["base_channels"] = 16
    info.write_text(json.dumps(meta))
    _raises_naming(saved, "weights", "shape")


def test_config_with_other_layers_does_not_match(saved):
    info = paths(saved)[1]
    meta = json.loads(info.read_text())
    meta["config"]["use_skips"] = False
    meta["config"]["blocks_per_level"] = 2
    info.write_text(json.dumps(meta))
    _raises_naming(saved, "weights", "does not match")


def test_missing_and_extra_tensors(saved):
    weights = paths(saved)[0]
    t = load_file(str(weights))
    t.pop("stem.weight")
    save_file(t, str(weights))
    _raises_naming(saved, "weights", "stem.weight")
    t["stem.weight"] = torch.zeros(8, 1, 3, 3, dtype=torch.float16)
    t["intruder"] = torch.zeros(1)
    save_file(t, str(weights))
    _raises_naming(saved, "weights", "intruder")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_tensor(saved, bad):
    weights = paths(saved)[0]
    t = load_file(str(weights))
    t["decoder.0.res.0.conv2.weight"][0, 0, 0, 0] = bad
    save_file(t, str(weights))
    err = _raises_naming(saved, "weights", "NaN or infinite")
    assert "decoder.0.res.0.conv2.weight" in str(err.value)


def test_load_does_not_unpickle(saved):
    # the autouse fixture makes torch.load / pickle.load raise: loading still works
    load_checkpoint(saved)
    assert "pickle" not in checkpoint.__dict__ and "torch.load" not in open(checkpoint.__file__).read()


def test_checkpoint_of_mnist_preset(tmp_path):
    model = make_model(preset("mnist", base_channels=8))
    save_checkpoint(model, tmp_path / "m")
    loaded, meta = load_checkpoint(tmp_path / "m")
    assert meta["config"] == model.config
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in model.parameters())
