"""The three digit views (inversion, zero-shot reading, bottleneck map) run in Streamlit on a held-out digit."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

SCRIPT = """
import numpy as np
from diffviz.app import digit_views
from diffviz.data.digits import mnist
x, y = mnist("held")
digit_views.show_inversion("mnist", x[354], int(y[354]), steps=10)
digit_views.show_zero_shot("mnist", x[354])
digit_views.show_bottleneck_map("mnist", x[354], int(y[354]), digits=40)
digit_views.show_inversion("mnist", np.zeros((3, 5, 5)), None)
"""


@pytest.fixture
def mnist_ready():
    from diffviz.model import zoo
    if not zoo.entry("mnist").exists():
        pytest.skip("the mnist checkpoint is not exported")


def test_three_views_on_a_held_out_digit(mnist_ready):
    at = AppTest.from_string(SCRIPT, default_timeout=120)
    at.query_params["map_t"] = "600"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "comes back at" in text and "The U-Net reads" not in text        # metrics are not markdown
    assert [m.label for m in at.metric][:1] == ["The U-Net reads"]
    assert "At t = 600" in text
    assert any("does not fit" in w.value for w in at.warning)              # a wrong-shaped input: a message
    assert at.select_slider[0].value == 600


ZERO_SHOT = """
from diffviz.app import digit_views
from diffviz.data.digits import mnist
x, y = mnist("held")
digit_views.show_zero_shot("mnist", x[{i}])
"""


def bar_texts(at) -> list[str]:
    """The per-label bars' texts ("reading", "dropped" or "") of the zero-shot chart."""
    import json
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith("zs-bars")).proto.spec)
    return spec["data"][0]["text"]


@pytest.mark.parametrize("i, dropped", [pytest.param(354, 0, id="sure-stops-after-stage-1"),
                                        pytest.param(356, 7, id="unsure-keeps-its-best-3")])
def test_the_bars_call_dropped_only_the_labels_a_later_stage_left_out(mnist_ready, i, dropped):
    """A sure digit stops after the first stage, where every label was asked: no bar says "dropped".
    An unsure one goes on with its 3 best labels: the other 7 are the dropped ones."""
    at = AppTest.from_string(ZERO_SHOT.format(i=i), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert ("the reading stopped" in text) == (dropped == 0)              # the text says which stages it took
    texts = bar_texts(at)
    assert texts.count("reading") == 1 and texts.count("dropped") == dropped, texts
