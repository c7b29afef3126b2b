"""The cross-session batcher: a run's arrays are the same bits alone or inside anyone's batch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from diffviz.diffusion import sampling
from diffviz.diffusion.batcher import ROWS, Batcher, padded_forward
from diffviz.model.capture import hooks_left


def _inputs(model, n: int, seed: int = 0):
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    t = torch.randint(0, 1000, (n,), generator=g)
    cond = sampling.encode_conditions(model, [i % 10 for i in range(n)] if cfg.conditioning == "class"
                                      else ["a red circle", "a large blue square"] * (n // 2) + ["a circle"] * (n % 2))
    return x, t, cond


@pytest.mark.parametrize("threads", [1])
@pytest.mark.parametrize("rows", [4, ROWS])
@pytest.mark.parametrize("which", ["tiny_model", "text_model"])
def test_padded_rows_do_not_depend_on_the_batch(request, which, rows, threads):
    model = request.getfixturevalue(which)
    torch.set_num_threads(threads)
    x, t, cond = _inputs(model, 40)
    with torch.inference_mode():
        alone = torch.cat([padded_forward(model, x[i:i + 1], t[i:i + 1], cond[i:i + 1], rows=rows)[0]
                           for i in range(40)])
        for lo, hi in ((0, 2), (3, 11), (5, 6), (0, 40), (17, 40)):
            out, _ = padded_forward(model, x[lo:hi], t[lo:hi], cond[lo:hi], rows=rows)
            assert torch.equal(out, alone[lo:hi]), (lo, hi)


def test_a_padded_pass_is_one_pass_of_rows_rows(tiny_model):
    """Two rows padded with repeats give exactly the bits those rows get among ROWS other rows; an
    unpadded small batch is only close (other kernels), which is why every pass has ROWS rows."""
    x, t, cond = _inputs(tiny_model, ROWS)
    with torch.inference_mode():
        full = tiny_model(x, t, cond)
        small = tiny_model(x[:2], t[:2], cond[:2])
        padded, _ = padded_forward(tiny_model, x[:2], t[:2], cond[:2])
    torch.testing.assert_close(small, full[:2])
    assert torch.equal(padded, full[:2])


def _run_together(model, jobs, batcher, **kw):
    """Each job (seed, condition) as its own sampling run in its own thread, all at once."""
    out = [None] * len(jobs)
    go = threading.Barrier(len(jobs))

    def one(k, seed, cond):
        go.wait()
        out[k] = sampling.run(model, [cond], seeds=[seed], steps=6, guidance=2.0, batcher=batcher, **kw)
    threads = [threading.Thread(target=one, args=(k, *job)) for k, job in enumerate(jobs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert all(o is not None for o in out)
    return out


def test_same_seed_same_bits_alone_or_batched(tiny_model):
    jobs = [(7, 3), (8, 1), (7, 3), (9, None), (10, 5), (11, 3)]
    alone = [sampling.run(tiny_model, [c], seeds=[s], steps=6, guidance=2.0, batcher=Batcher()) for s, c in jobs]
    shared = Batcher(window_s=0.05)
    together = _run_together(tiny_model, jobs, shared)
    assert shared.batches < 6 * len(jobs)                  # passes were shared between runs
    assert shared.rows / shared.batches > 2                # (each run alone has 2 rows: guided)
    for a, b in zip(alone, together):
        for name in ("x_t", "eps", "pred_x0", "final"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(together[0].final, together[2].final)        # seed 7 twice: the same picture
    assert not np.array_equal(together[0].final, together[1].final)


def test_passes_side_by_side_give_the_same_bits(tiny_model):
    """A batch's passes on a pool of threads (one core each) give what one thread gives, pass by pass."""
    x, t, cond = _inputs(tiny_model, 3 * ROWS + 3)
    with torch.inference_mode():
        alone, _ = padded_forward(tiny_model, x, t, cond)
    with ThreadPoolExecutor(2) as pool, torch.inference_mode():
        side, _ = padded_forward(tiny_model, x, t, cond, pool=pool)
    assert torch.equal(alone, side)
    jobs = [(7, 3), (8, 1), (9, None), (10, 5), (11, 3)]
    one = _run_together(tiny_model, jobs, Batcher(window_s=0.05))
    two = _run_together(tiny_model, jobs, Batcher(window_s=0.05, workers=2))
    for a, b in zip(one, two):
        assert np.array_equal(a.eps, b.eps) and np.array_equal(a.final, b.final)


def test_captures_ride_along(text_model):
    keys = ["encoder.0", "bottleneck", "decoder.1.attn.0.*"]
    jobs = [(1, "a red circle"), (2, "a large blue square"), (1, "a red circle")]
    alone = sampling.run(text_model, ["a red circle"], seeds=[1], steps=6, guidance=2.0,
                         batcher=Batcher(), capture_select=keys)
    together = _run_together(text_model, jobs, Batcher(window_s=0.05), capture_select=keys)
    assert hooks_left(text_model) == 0
    for run in (together[0], together[2]):
        assert set(run.traces) == set(alone.traces)
        for i, tr in alone.traces.items():
            assert set(tr) == set(run.traces[i])
            for k, v in tr.items():
                assert v.shape[0] == 1 and torch.equal(v, run.traces[i][k]), k
                for held in (v, run.traces[i][k]):                     # no view holding the whole batch
                    assert held.untyped_storage().nbytes() == held.nbytes, k


def test_a_failing_pass_reaches_every_caller_and_none_hangs(tiny_model):
    b = Batcher(window_s=0.05)
    x, t, cond = _inputs(tiny_model, 2)
    errors = []

    def one():
        try:
            with b.active():
                b.forward(tiny_model, x, t, torch.full_like(cond, 999))  # no such class: the pass fails
        except Exception as e:                                            # noqa: BLE001
            errors.append(type(e))
    threads = [threading.Thread(target=one) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert not any(th.is_alive() for th in threads)
    assert len(errors) == 3
