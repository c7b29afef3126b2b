"""Shared fixtures: tiny seeded models, one thread, and `require` for optional packages.

Under CI (``CI`` truthy: 1/true/yes) every skipped test fails the run: see ci_mode.py, whose hooks
are loaded here.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(1)
# One pass at a time in the app's batcher (its default is one per core): the suite runs on two workers
# already, and the app servers the browser tests start inherit this. Batcher(workers=N) has its own tests.
os.environ.setdefault("DIFFVIZ_PASS_WORKERS", "1")

from ci_mode import (  # noqa: E402,F401  (the CI-mode hooks, registered by being here)
    in_ci,
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_sessionstart,
)
from diffviz.data import text  # noqa: E402
from diffviz.model.config import UNetConfig, preset  # noqa: E402
from diffviz.model.unet import UNet  # noqa: E402


def require(module_name: str):
    """Import a module; when it is missing, fail under CI (``in_ci()``) and skip elsewhere."""
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        if in_ci():
            pytest.fail(f"{module_name} is required in CI but cannot be imported: {e}")
        pytest.skip(f"{module_name} is not installed")


def make_model(cfg: UNetConfig, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    return UNet(cfg).eval()


def tiny_text_config(**over) -> UNetConfig:
    d = dict(image_size=8, in_channels=3, base_channels=8, channel_mults=(1, 2), attention_levels=(0, 1),
             heads=2, conditioning="text", vocab_size=len(text.VOCAB), max_tokens=text.MAX_TOKENS,
             text_dim=16, text_layers=1)
    d.update(over)
    return UNetConfig(**d)


@pytest.fixture(scope="session")
def tiny_model() -> UNet:
    """A tiny class-conditioned model (8x8, 2 levels, attention at level 1)."""
    return make_model(preset("tiny"))


@pytest.fixture(scope="session")
def text_model() -> UNet:
    """A tiny caption-conditioned model with cross-attention at both levels."""
    return make_model(tiny_text_config())


@pytest.fixture(scope="session")
def noskip_model() -> UNet:
    """The tiny model without skip connections."""
    return make_model(preset("tiny", use_skips=False))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.fixture
def as_served(monkeypatch):
    """Every AppTest run goes through app.py (st.navigation), as on a running server.

    app.py sits beside a ``pages/`` folder, so AppTest (which resets Streamlit's flag before each
    run) would otherwise run a non-default page's script alone, in the old pages-folder mode.
    """
    from streamlit.runtime.pages_manager import PagesManager

    from diffviz.app import settings
    init = PagesManager.__init__

    def __init__(self, *a, **kw):
        init(self, *a, **kw)
        self.uses_pages_directory = False
    monkeypatch.setattr(PagesManager, "__init__", __init__)
    monkeypatch.setattr(settings, "_threads_done", True)


# ---------------------------------------------------------------- the real browser (tests/browser.py)

@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, for one test file (fails under CI, skips elsewhere, when missing)."""
    from browser import chromium_browser
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def server(chromium):
    """`streamlit run app.py` on a free local port for one test file (a file may define its own)."""
    from browser import AppServer
    app = AppServer().start()
    try:
        yield app
    finally:
        app.stop()
