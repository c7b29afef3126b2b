import threading
import time

import numpy as np
import pytest
import torch

from diffviz.data import text
from diffviz.diffusion import sampling
from diffviz.model import capture as capture_module
from diffviz.model import interventions
from diffviz.model.capture import CaptureError, capture, hooks_left
from diffviz.model.interventions import Interventions, applied


def _inputs(B=2, C=1, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, size, size, generator=g), torch.tensor([700, 300][:B] * B)[:B]


def test_capture_does_not_change_outputs(tiny_model, text_model):
    x, t = _inputs()
    y = torch.tensor([3, 10])
    with torch.no_grad():
        plain = tiny_model(x, t, y)
        with capture(tiny_model, "all") as trace:
            captured = tiny_model(x, t, y)
    assert torch.equal(plain, captured) and len(trace) == len(tiny_model.capture_keys())
    xt, _ = _inputs(C=3)
    tok = text.tokenize_batch(["a red circle", ""])
    with torch.no_grad():
        plain = text_model(xt, t, tok)
        with capture(text_model, "all"):
            captured = text_model(xt, t, tok)
    assert torch.equal(plain, captured)


def test_hooks_removed_after_block_and_after_exception(tiny_model):
    x, t = _inputs()
    assert hooks_left(tiny_model) == 0
    with torch.no_grad(), capture(tiny_model, "all"):
        assert hooks_left(tiny_model) == len(tiny_model.capture_keys())
        tiny_model(x, t)
    assert hooks_left(tiny_model) == 0
    with pytest.raises(ZeroDivisionError):
        with capture(tiny_model, "*.probs"):
            assert hooks_left(tiny_model) > 0
            1 / 0
    assert hooks_left(tiny_model) == 0
    # and a new capture works afterwards (the context variable was reset)
    with torch.no_grad(), capture(tiny_model, "bottleneck") as trace:
        tiny_model(x, t)
    assert list(trace) == ["bottleneck"]


def test_nesting_raises(tiny_model):
    with capture(tiny_model, "bottleneck"):
        with pytest.raises(CaptureError, match="nested"):
            with capture(tiny_model, "embedding"):
                pass
        assert hooks_left(tiny_model) == 1
    assert hooks_left(tiny_model) == 0


def test_unknown_key_lists_the_keys(tiny_model):
    with pytest.raises(CaptureError) as err:
        with capture(tiny_model, ["bottleneck", "decoder.7.skip"]):
            pass
    msg = str(err.value)
    assert "decoder.7.skip" in msg
    for k in tiny_model.capture_keys():
        assert k in msg
    assert hooks_left(tiny_model) == 0


def test_captured_tensors_are_float16_cpu_detached(tiny_model):
    x, t = _inputs()
    x.requires_grad_(True)
    with capture(tiny_model, "all") as trace:
        out = tiny_model(x, t, torch.tensor([1, 2]))
    assert out.requires_grad                             # grad mode was on, the trace is detached anyway
    for k, v in trace.items():
        assert v.dtype == torch.float16 and v.device.type == "cpu", k
        assert not v.requires_grad and v.grad_fn is None, k
    assert trace["bottleneck"].shape == (2, 16, 4, 4)
    assert trace["embedding"].shape == (2, tiny_model.config.time_dim)
    assert trace["encoder.0.res.0.film"].shape == (2, 16)
    assert set(trace.levels("encoder")) == {0, 1} and set(trace.levels("decoder")) == {0, 1}
    assert trace.nbytes() == sum(v.numel() * 2 for v in trace.values())
    # the captured values are the module outputs
    got = {}
    h = tiny_model.bottleneck.register_forward_hook(lambda m, i, o: got.setdefault("b", o.detach()))
    try:
        with torch.no_grad():
            tiny_model(x, t, torch.tensor([1, 2]))
    finally:
        h.remove()
    torch.testing.assert_close(trace["bottleneck"].float(), got["b"], rtol=1e-3, atol=1e-3)


def test_glob_selection_and_batch_slice(text_model):
    xt, t = _inputs(C=3)
    tok = text.tokenize_batch(["a red circle", "a blue square"])
    with torch.no_grad(), capture(text_model, "*.probs", batch=slice(0, 1)) as trace:
        text_model(xt, t, tok)
    expected = [k for k in text_model.capture_keys() if k.endswith(".probs")]
    assert sorted(trace) == sorted(expected) and len(expected) == 10   # 5 blocks x (self, cross)
    assert all(v.shape[0] == 1 for v in trace.values())
    with torch.no_grad(), capture(text_model, ["*.cross_attn.probs", "bottleneck"]) as trace:
        text_model(xt, t, tok)
    assert sorted(trace) == sorted([k for k in expected if "cross" in k] + ["bottleneck"])


def test_select_all_captures_every_key(tiny_model, text_model, noskip_model):
    for model, C, cond in ((tiny_model, 1, torch.tensor([0, 10])), (noskip_model, 1, None),
                           (text_model, 3, text.tokenize_batch(["a red circle", ""]))):
        x, t = _inputs(C=C)
        with torch.no_grad(), capture(model, "all") as trace:
            model(x, t, cond)
        assert list(trace) == model.capture_keys() or sorted(trace) == sorted(model.capture_keys())
        assert all(torch.isfinite(v.float()).all() for v in trace.values())


# --- thread safety: one shared model, many users --------------------------------------------

STEPS = 6
SETTINGS = [
    dict(sampler="ddim", seed=1, interventions=None, capture_select="all"),
    dict(sampler="ddim", seed=2, interventions=Interventions(skip_scale={0: 0.0}), capture_select="*.probs"),
    dict(sampler="ddpm", seed=3, interventions=Interventions(skip_scale={1: 2.5}, t_min=0, t_max=500),
         capture_select=["decoder.1.skip", "bottleneck"]),
    dict(sampler="ddim", seed=4, interventions=Interventions(attention_off=frozenset({1})), capture_select="all"),
    dict(sampler="ddim", seed=5, interventions=Interventions(wrong_t=10), capture_select=["embedding"]),
    dict(sampler="ddpm", seed=6, interventions=Interventions(backbone_scale={0: 1.4}), capture_select="decoder.*"),
    dict(sampler="ddim", seed=7, interventions=Interventions(drop_condition=True), capture_select=None),
    dict(sampler="ddim", seed=8, interventions=Interventions(skip_scale={0: 0.0, 1: 0.0}, t_min=600),
         capture_select=["encoder.1.attn.0.self_attn.probs"], capture_steps={0, 2}),
    dict(sampler="ddpm", seed=9, interventions=None, capture_select="*.film"),
]


def _run(model, s):
    return sampling.run(model, [s["seed"] % 10, None], steps=STEPS, guidance=2.0, **s)


def _same(a, b):
    assert np.array_equal(a.final, b.final) and np.array_equal(a.eps, b.eps)
    assert np.array_equal(a.x_t, b.x_t) and np.array_equal(a.pred_x0, b.pred_x0)
    assert sorted(a.traces) == sorted(b.traces)
    for i in a.traces:
        assert sorted(a.traces[i]) == sorted(b.traces[i])
        for k in a.traces[i]:
            assert torch.equal(a.traces[i][k], b.traces[i][k]), (i, k)


def test_threads_sharing_one_model_get_their_own_results(tiny_model, monkeypatch):
    solo = [_run(tiny_model, s) for s in SETTINGS]
    results, errors, spans = [None] * len(SETTINGS), [], [None] * len(SETTINGS)
    barrier = threading.Barrier(len(SETTINGS))
    # Force the overlap: every run stops after its first step until all nine have taken one, so all
    # nine are in the middle of sampling (captures and interventions live) at the same moment.
    middle, one_step, met = threading.Barrier(len(SETTINGS)), sampling.one_step, []

    def one_step_meeting_the_others(model, x, gens, sched, i, *a, **kw):     # every run's steps go through it
        st = one_step(model, x, gens, sched, i, *a, **kw)
        if i == 0:
            middle.wait(timeout=60)
            met.append(i)
        return st
    monkeypatch.setattr(sampling, "one_step", one_step_meeting_the_others)

    def work(i):
        try:
            barrier.wait(timeout=30)
            t0 = time.perf_counter()
            results[i] = _run(tiny_model, SETTINGS[i])
            spans[i] = (t0, time.perf_counter())
        except BaseException as e:             # noqa: BLE001 - reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(SETTINGS))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert hooks_left(tiny_model) == 0
    assert max(a for a, _ in spans) < min(b for _, b in spans)     # the runs really overlapped (forced)
    assert len(met) == len(SETTINGS) and not middle.broken
    for s, a, b in zip(SETTINGS, results, solo):
        _same(a, b)
        keys = set(capture_module.resolve(tiny_model, s["capture_select"])) if s["capture_select"] else set()
        steps = s.get("capture_steps", set(range(STEPS))) if keys else set()
        if s["interventions"] is not None and s["interventions"].attention_off:
            keys = {k for k in keys if "attn" not in k}          # switched-off blocks compute no maps
        assert set(a.traces) == set(steps)
        for tr in a.traces.values():
            assert set(tr) == keys
    # the settings really differ from each other
    finals = [r.final for r in results]
    assert all(not np.array_equal(finals[i], finals[j]) for i in range(len(finals)) for j in range(i))


# --- interventions ---------------------------------------------------------------------------

def _eps(model, x, t, cond, iv=None):
    with torch.no_grad(), applied(iv, t):
        return model(x, torch.full((x.shape[0],), t), cond)


def test_skip_cut_only_inside_its_t_range(tiny_model):
    x, _ = _inputs()
    y = torch.tensor([4, 5])
    iv = Interventions(skip_scale={0: 0.0}, t_min=200, t_max=600)
    for t in (0, 199, 601, 999):
        assert torch.equal(_eps(tiny_model, x, t, y, iv), _eps(tiny_model, x, t, y)), t
    for t in (200, 400, 600):
        assert not torch.allclose(_eps(tiny_model, x, t, y, iv), _eps(tiny_model, x, t, y)), t
    # skip scale 1 is no change; the skip module's output is what is scaled
    assert torch.equal(_eps(tiny_model, x, 400, y, Interventions(skip_scale={0: 1.0})), _eps(tiny_model, x, 400, y))
    with torch.no_grad(), applied(Interventions(skip_scale={1: 0.0}), 400), capture(tiny_model, "decoder.1.skip") as tr:
        tiny_model(x, torch.tensor([400, 400]), y)
    assert torch.count_nonzero(tr["decoder.1.skip"]) == 0


def test_attention_off_makes_blocks_identity(text_model):
    x, _ = _inputs(C=3)
    tok = text.tokenize_batch(["a red circle", "a blue square"])
    iv = Interventions(attention_off=frozenset({0}))
    seen = {}
    block = text_model.encoder[0].attn[0]
    h = block.register_forward_hook(lambda m, i, o: seen.update(inp=i[0], out=o))
    try:
        with capture(text_model, "*.probs") as trace:
            off = _eps(text_model, x, 500, tok, iv)
    finally:
        h.remove()
    assert torch.equal(seen["inp"], seen["out"])               # the block is the identity
    assert not torch.allclose(off, _eps(text_model, x, 500, tok))
    assert not any(k.startswith(("encoder.0.", "decoder.0.")) for k in trace)
    assert "encoder.1.attn.0.self_attn.probs" in trace and "bottleneck.attn.cross_attn.probs" in trace
    # the bottleneck counts as the deepest level
    with capture(text_model, "*.probs") as trace:
        _eps(text_model, x, 500, tok, Interventions(attention_off=frozenset({1})))
    assert not any(k.startswith(("bottleneck", "encoder.1", "decoder.1")) for k in trace)
    assert "encoder.0.attn.0.cross_attn.probs" in trace


def test_backbone_scale_changes_output(tiny_model):
    x, _ = _inputs()
    y = torch.tensor([1, 2])
    base = _eps(tiny_model, x, 300, y)
    for level in (0, 1):
        assert not torch.allclose(_eps(tiny_model, x, 300, y, Interventions(backbone_scale={level: 1.5})), base)
    assert torch.equal(_eps(tiny_model, x, 300, y, Interventions(backbone_scale={0: 1.0})), base)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_wrong_t_equals_running_with_that_t(tiny_model, guidance):
    x, _ = _inputs()
    y = torch.tensor([1, 2])
    eps, _ = sampling.guided_eps(tiny_model, x, 800, y, guidance, Interventions(wrong_t=50))
    with torch.no_grad():
        if guidance == 1.0:
            ref = tiny_model(x, torch.tensor([50, 50]), y)
        else:
            both = tiny_model(torch.cat([x, x]), torch.full((4,), 50), torch.cat([y, tiny_model.null_condition(2)]))
            ref = both[2:] + guidance * (both[:2] - both[2:])
    torch.testing.assert_close(eps, ref, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(eps, sampling.guided_eps(tiny_model, x, 800, y, guidance)[0])
    # outside its t-range wrong_t does nothing
    out, _ = sampling.guided_eps(tiny_model, x, 800, y, guidance, Interventions(wrong_t=50, t_max=700))
    assert torch.equal(out, sampling.guided_eps(tiny_model, x, 800, y, guidance)[0])


def test_drop_condition_equals_null_condition(tiny_model, text_model):
    x, _ = _inputs()
    y = torch.tensor([1, 2])
    eps, _ = sampling.guided_eps(tiny_model, x, 500, y, 2.0, Interventions(drop_condition=True))
    with torch.no_grad():
        ref = tiny_model(x, torch.tensor([500, 500]), tiny_model.null_condition(2))
    torch.testing.assert_close(eps, ref, rtol=1e-5, atol=1e-6)
    xt, _ = _inputs(C=3)
    tok = text.tokenize_batch(["a red circle", "a blue square"])
    eps, _ = sampling.guided_eps(text_model, xt, 500, tok, 2.0, Interventions(drop_condition=True))
    with torch.no_grad():
        ref = text_model(xt, torch.tensor([500, 500]), text.tokenize_batch(["", ""]))
    torch.testing.assert_close(eps, ref, rtol=1e-5, atol=1e-6)


def test_current_is_none_outside_applied():
    iv = Interventions(skip_scale={0: 0.5}, t_min=10, t_max=20)
    assert interventions.current() is None
    with applied(iv, 15):
        assert interventions.current() is iv
        assert interventions.skip_scale(0) == 0.5 and interventions.skip_scale(1) == 1.0
    assert interventions.current() is None
    with applied(iv, 25):                                # outside the range: nothing is active
        assert interventions.current() is None
    with pytest.raises(KeyError):
        with applied(iv, 15):
            raise KeyError("x")
    assert interventions.current() is None
    seen = []
    with applied(iv, 15):
        th = threading.Thread(target=lambda: seen.append(interventions.current()))
        th.start(), th.join()
    assert seen == [None]                                # another thread never sees this one's set
    assert Interventions().is_empty() and not iv.is_empty()
    assert hash(iv.key()) == hash(Interventions(skip_scale={0: 0.5}, t_min=10, t_max=20).key())
