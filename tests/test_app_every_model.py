"""Every lesson page renders cleanly with every shipped model (the zoo's real checkpoints), and every figure it
shows has its text alternative (a chart its "The numbers" expander, an image its alt text)."""

import sys
from pathlib import Path

import pytest
import torch
from ci_mode import in_ci

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)

from apptest import untold_figures  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from benchmarks.pages import app_pages  # noqa: E402
from diffviz.model import zoo

PAGES = [script for _, script in app_pages()]


pytestmark = pytest.mark.usefixtures("as_served")   # conftest: every run goes through app.py


@pytest.mark.parametrize("model", zoo.names())
def test_every_page_is_clean_with_every_shipped_model(model):
    if not zoo.MODELS[model].exists():
        if in_ci():
            pytest.fail(f"{model} is in the registry but not shipped")
        pytest.skip(f"{model} not exported")
    for script in PAGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params["model"] = model
        at.switch_page(script).run()
        problems = ([str(e.message)[:300] for e in at.exception] + [e.value for e in at.error]
                    + [w.value for w in at.warning])
        assert not problems, f"{script} with {model}: {problems}"
        assert untold_figures(at) == [], f"{script} with {model}: figures without a text alternative"
        assert at.session_state["settings"].model == model
