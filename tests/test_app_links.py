"""Tampered permalinks on every page, for every parameter the page binds to the address.

The parameters are not listed here: a default run of each page records every name it binds through
`diffviz.app.params` (sidebar and page alike), so a new parameter is covered without a new test.
Then the page is opened with every one of those names set to garbage (HTML and unicode), and with
each set to a huge or a negative number: it must run without an exception or an error box, every
widget must hold a legal value (the default; for a number out of range, the range's end), and a
notice must name each parameter whose garbage was refused. Seen by a student: a notice and the
default view.
"""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app

from benchmarks.pages import app_pages
from diffviz.app import params, settings

pytestmark = pytest.mark.usefixtures("as_served")   # conftest: every run goes through app.py

PAGES = [script for _, script in app_pages()]
GARBAGE = "七<b>x</b> 😀\u202e"       # no number, no option; HTML, CJK, an emoji, a right-to-left override
HUGE, NEGATIVE = "9" * 40, "-7"         # far past every range; below every range (and no option)


def tampered(names: list[str]) -> dict[str, dict[str, str]]:
    """Two links for a page: every parameter = garbage; then every other one huge, the rest negative
    (by position, so the sidebar's ``steps`` is clamped down to 5 and the run stays cheap)."""
    return {"garbage": dict.fromkeys(names, GARBAGE),
            "out of range": {n: HUGE if i % 2 == 0 else NEGATIVE for i, n in enumerate(names)}}


class Recorder:
    """Wraps `params._init_from_url`: the (key, default) of every parameter name bound in a run."""

    def __init__(self, monkeypatch):
        self.seen: dict[str, tuple[str, object]] = {}
        real = params._init_from_url

        def init_from_url(name, key, default, parse):
            self.seen[name] = (key, default)
            return real(name, key, default, parse)
        for module in (params, settings):                # settings imported the name itself
            monkeypatch.setattr(module, "_init_from_url", init_from_url)

    def run(self, page: str, **query):
        self.seen = {}
        return app(page, **query)


def legal(value, default) -> bool:
    """A widget value a page can hold for this parameter: its default's type, finite."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and np.isfinite(value)
    return type(value) is type(default)


@pytest.mark.parametrize("page", PAGES)
def test_every_parameter_of_the_page_survives_tampering(page, monkeypatch):
    rec = Recorder(monkeypatch)
    at = rec.run(page)
    assert not at.exception, [e.message for e in at.exception]
    bound = dict(rec.seen)
    sidebar = {"seed", "sampler", "steps", "guidance"} | ({"a_model", "b_model"} if "ablation" in page else {"model"})
    assert sidebar <= set(bound), bound        # the sidebar at least (the ablation lab: set-ups A and B own the model)
    for kind, link in tampered(list(bound)).items():
        at = rec.run(page, **link)
        where = f"{page} with every parameter {kind}"
        assert not at.exception, (where, [e.message[:300] for e in at.exception])
        assert not at.error, (where, [e.value for e in at.error])
        assert set(rec.seen) >= set(bound), (where, "parameters went missing", set(bound) - set(rec.seen))
        shown = " ".join(w.value for w in at.warning)
        for name, (key, default) in rec.seen.items():
            held = at.session_state[key] if key in at.session_state else default
            assert legal(held, default), (where, name, held, default)
            if kind == "garbage" and name in bound:
                if isinstance(default, str) and held == GARBAGE:         # a text box keeps the text ...
                    assert "instead" in shown, (where, name, shown)      # ... and says the default is used
                else:
                    assert held == default, (where, name, held, default)
                    assert f"“{name}”" in shown, (where, name, "no notice names it", shown)
            elif name in bound and not isinstance(default, (int, float)) or isinstance(default, bool):
                assert held == default, (where, name, held, default)     # not an option: the default
        assert "<b>" not in " ".join(m.value for m in at.markdown), where
