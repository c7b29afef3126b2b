"""Page 9 · Your digit in a real Chromium: draw a "1" and a "0" with the mouse, reopen the permalink.

The canvas is our own components-v2 element, mounted in an open shadow root (Playwright's CSS
locators pierce it). Checks: after each drawing the model's input and the SDEdit result appear;
the link reopened in a fresh browser context shows the same drawing on the canvas and the same
figures; the "invert, read and place" toggle (``deep=true``) brings the zero-shot reading's bar
chart; Clear (an empty canvas), a dot, a filled canvas and a tampered link give messages, never
an exception box. Runs with 10 sampling steps to stay quick. Screenshot to a temporary folder (docs' pictures: python docs/screenshots.py).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from browser import (
    RUN_TIMEOUT_MS,
    problems,
    query,
    screenshot,
    settle,
    snapshot,
)

pytestmark = pytest.mark.browser

VIEW = {"width": 1280, "height": 720}
TIMEOUT = max(180_000, RUN_TIMEOUT_MS)          # DIFFVIZ_BROWSER_TIMEOUT raises it on a busy machine

# The canvas's pixels: how many are lit (R > 100), read inside the component's shadow root.
_INK = """() => { for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
    const c = host.shadowRoot && host.shadowRoot.querySelector('canvas.dv-canvas');
    if (!c) continue;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
    for (let i = 0; i < d.length; i += 4) n += d[i] > 100 ? 1 : 0;
    return n; } return -1; }"""

_TITLES = """() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
                  .map(p => (p.layout && p.layout.title && p.layout.title.text) || '')"""

# The zero-shot reading's bar chart: one bar per label, drawn (plotly's SVG bars) under its title.
_READING_BARS = """() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
    .filter(p => ((p.layout && p.layout.title && p.layout.title.text) || '').includes('Noise-prediction error per label'))
    .map(p => p.querySelectorAll('g.point path').length)"""


def stroke(page, points) -> None:
    """Draw one stroke through ``points`` given as fractions (0..1) of the canvas."""
    canvas = page.locator("canvas.dv-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for p in xy[1:]:
        page.mouse.move(*p, steps=2)
    page.mouse.up()


def clear(page) -> None:
    page.get_by_role("button", name="Clear the canvas").click()
    settle(page, TIMEOUT, need_content=False)


def shows_the_views(page) -> None:
    """The model's input and the repair are drawn (plotly's charts mount a moment after the run ends)."""
    want = ["the model's input x0", "the repaired picture"]
    try:
        page.wait_for_function(f"w => {{ const t = ({_TITLES})().join(' | '); return w.every(s => t.includes(s)); }}",
                               arg=want, timeout=TIMEOUT)
    except Exception:                                                  # noqa: BLE001 (the assert below says what is shown)
        pass
    titles = " | ".join(page.evaluate(_TITLES))
    assert all(w in titles for w in want), titles
    assert not problems(page), problems(page)


def test_draw_a_one_and_a_zero_and_share_the_link(chromium, server):
    ctx = chromium.new_context(viewport=VIEW)
    page = ctx.new_page()
    page.goto(server.url("your-digit", "steps=10"))
    settle(page, TIMEOUT)
    shows_the_views(page)
    assert page.evaluate(_INK) > 0                                   # the default digit is on the canvas

    clear(page)                                                      # an empty canvas: a message, no views
    assert page.evaluate(_INK) == 0 and not problems(page)
    assert "empty" in page.inner_text('[data-testid="stMain"]')

    stroke(page, [(0.5, 0.12 + 0.76 * k / 12) for k in range(13)])  # a "1"
    settle(page, TIMEOUT)
    shows_the_views(page)
    one = query(page.url)["drawing"]

    clear(page)
    stroke(page, [(0.5 + 0.22 * math.sin(2 * math.pi * k / 36), 0.5 - 0.36 * math.cos(2 * math.pi * k / 36))
                  for k in range(37)])                               # a "0"
    settle(page, TIMEOUT)
    shows_the_views(page)
    zero = query(page.url)["drawing"]
    assert zero != one and len(page.url) < 2000
    ink, seen = page.evaluate(_INK), snapshot(page)
    screenshot(page, Path(tempfile.mkdtemp(prefix="diffviz-digit-shots-")) / "your-digit-drawn.png")

    fresh = chromium.new_context(viewport=VIEW)                      # a student opening the teacher's link
    other = fresh.new_page()
    other.goto(page.url)
    settle(other, TIMEOUT)
    assert abs(other.evaluate(_INK) - ink) < 0.05 * ink              # the same drawing (painted by cells)
    again = snapshot(other)
    assert again["plots"] == seen["plots"] and again["images"] == seen["images"]
    fresh.close()

    page.get_by_text("Invert, read and place my digit").click()        # ?deep=true: inversion, reading, map
    page.wait_for_function(f"() => ({_READING_BARS})().some(n => n === 10)", timeout=TIMEOUT)
    settle(page, TIMEOUT)                                            # the map too: nothing left running after
    assert query(page.url).get("deep") == "true" and not problems(page), problems(page)
    ctx.close()


@pytest.mark.parametrize("how", ["dot", "filled", "tampered"])
def test_odd_drawings_and_bad_links_leave_no_exception(chromium, server, how):
    ctx = chromium.new_context(viewport=VIEW)
    page = ctx.new_page()
    qs = "steps=10" + ("&drawing=eNoTlGEYBYMCAABGsA" if how == "tampered" else "")
    page.goto(server.url("your-digit", qs))
    settle(page, TIMEOUT)
    if how == "tampered":
        assert "drawing cannot be used" in page.inner_text('[data-testid="stMain"]')
    else:
        clear(page)
        if how == "dot":
            stroke(page, [(0.3, 0.3), (0.3, 0.3)])
        else:
            rows = [(0.02 + k / 11 * 0.96) for k in range(12)]      # one zig-zag stroke fills the canvas
            stroke(page, [(x, y) for k, y in enumerate(rows) for x in ((0.02, 0.98) if k % 2 == 0 else (0.98, 0.02))])
        settle(page, TIMEOUT)
        text = page.inner_text('[data-testid="stMain"]')
        assert ("only a dot" if how == "dot" else "solid block") in text
    shows_the_views(page)
    ctx.close()
