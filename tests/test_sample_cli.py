"""python -m diffviz.cli.sample: grids from a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model
from PIL import Image

from diffviz.cli import sample
from diffviz.model import checkpoint, zoo
from diffviz.model.config import preset


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    checkpoint.save_checkpoint(make_model(preset("tiny")), d / "tiny")
    checkpoint.save_checkpoint(make_model(preset("shapes", base_channels=8, channel_mults=(1, 2),
                                                 attention_levels=(1,), text_dim=16, heads=2)), d / "tinytext")
    return d


def test_class_model_grid_and_npy(ckpts, tmp_path, capsys):
    png, npy = tmp_path / "g.png", tmp_path / "g.npy"
    rc = sample.main(["--model", str(ckpts / "tiny"), "--label", "3", "--n", "5", "--steps", "2",
                      "--out", str(png), "--npy", str(npy)])
    assert rc == 0
    x = np.load(npy)
    assert x.shape == (5, 1, 8, 8) and x.dtype == np.float32 and np.abs(x).max() <= 1
    img = Image.open(png)
    assert img.size == ((5 * (8 + 2) + 2) * 3, (8 + 2 + 2) * 3)         # 5 columns, 1 row, pad 2, scale 3
    assert "guidance 2.0" in capsys.readouterr().out


def test_same_seed_same_images(ckpts, tmp_path):
    args = ["--model", str(ckpts / "tiny"), "--n", "3", "--steps", "2", "--seed", "4", "--out", str(tmp_path / "a.png")]
    sample.main(args + ["--npy", str(tmp_path / "a.npy")])
    sample.main(args + ["--npy", str(tmp_path / "b.npy")])
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_text_model_captioned_grid(ckpts, tmp_path, capsys):
    png, npy = tmp_path / "t.png", tmp_path / "t.npy"
    rc = sample.main(["--model", str(ckpts / "tinytext"), "--prompt", "a small blue square at the top right",
                      "--prompt", "a large red circle in the centre", "--n", "2", "--steps", "2",
                      "--out", str(png), "--npy", str(npy)])
    assert rc == 0
    assert np.load(npy).shape == (4, 3, 32, 32)
    img = Image.open(png)
    grid_w = (2 * (32 + 2) + 2) * 3
    assert img.mode == "RGB" and img.height == (2 * (32 + 2) + 2) * 3 and img.width > grid_w   # + captions
    assert "guidance 3.0" in capsys.readouterr().out


def test_bad_prompt_exits_2_with_the_reason(ckpts, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        sample.main(["--model", str(ckpts / "tinytext"), "--prompt", "a purple blob", "--out", str(tmp_path / "x.png")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "'purple'" in err and "Unknown word" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--prompt", "a small red square in the centre"], "--prompt is for text models"),
    (["--label", "12"], "--label 12 is not a class"),
])
def test_wrong_condition_for_class_model_exits_2(ckpts, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        sample.main(["--model", str(ckpts / "tiny"), *args, "--out", str(tmp_path / "x.png")])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_unknown_model_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        sample.main(["--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.png")])
    assert e.value.code == 2 and "neither a zoo model" in capsys.readouterr().err


def test_zoo_name_uses_the_zoo(ckpts, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(zoo.MODELS, "tiny", zoo.Entry("tiny", "test", "class", 1.5, prefix=ckpts / "tiny"))
    try:
        assert sample.main(["--model", "tiny", "--n", "2", "--steps", "2", "--out", str(tmp_path / "z.png")]) == 0
    finally:
        zoo.clear_cache()
    assert "guidance 1.5" in capsys.readouterr().out
