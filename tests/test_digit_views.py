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


def test_the_bars_call_dropped_only_the_labels_a_later_stage_left_out(mnist_ready):
    """A digit that stops after the first stage (every label asked there) has no bar saying "dropped"; one
    that goes on with its best k labels has 10 - k. Digits picked from the shipped policy's own readings."""
    import numpy as np

    from diffviz.data.digits import mnist
    from diffviz.evaluation import zero_shot
    from diffviz.model import zoo
    x, _ = mnist("held")
    near = np.arange(340, 380)
    r = zero_shot.classify(zoo.load("mnist", "cpu")[0], x[near])
    cases = {int(near[np.argmax(r.stages)])}                             # one that went through the most stages
    if (r.stages == 1).any():                                            # and, where the policy stops sure digits, one of those
        cases.add(int(near[np.argmax(r.stages == 1)]))
    for i in sorted(cases):
        stages = int(r.stages[near == i][0])
        dropped = 0 if stages == 1 else 10 - zero_shot.POLICY[stages - 1].keep
        at = AppTest.from_string(ZERO_SHOT.format(i=i), default_timeout=120)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        text = " ".join(m.value for m in at.markdown)
        assert ("the reading stopped" in text) == (stages == 1)          # the text says which stages it took
        texts = bar_texts(at)
        assert texts.count("reading") == 1 and texts.count("dropped") == dropped, (i, texts)
