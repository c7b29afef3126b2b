"""The guided path in a real browser: every step of every lesson by its Next link, each question answered
before its measured answer appears (sliders and choices from the keyboard, click questions with the mouse);
a click question answered from the keyboard alone, with a visible focus on each control it reaches;
presenter mode's → ← and space. One server, one Chromium, 5 sampling steps."""

from __future__ import annotations

import re
import time

import pytest
from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    AppServer,
    problems,
    query,
    settle,
    unavailable,
)

from diffviz.app import lesson_files

pytestmark = pytest.mark.browser
PANEL = '[data-testid="stMain"] .st-key-lesson-panel'


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    server = AppServer().start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            pg = browser.new_page(viewport={"width": 1280, "height": 720})
            pg.server = server
            yield pg
            browser.close()
    finally:
        server.stop()


def metrics(pg) -> dict:
    return pg.evaluate(f"""() => Object.fromEntries([...document.querySelectorAll('{PANEL} [data-testid="stMetric"]')]
        .map(m => [m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
                   m.querySelector('[data-testid="stMetricValue"]').innerText.trim()]))""")


def answer(pg, kind: str) -> None:
    """Give a guess: one step right on the slider and the first option, from the keyboard; a click on the image
    with the mouse (it fills the x and y boxes)."""
    if kind == "slider":
        thumb = pg.locator(f'{PANEL} [data-testid="stSlider"] input[type="range"]').first
        thumb.focus()
        thumb.press("ArrowRight")
    elif kind == "choice":
        pg.locator(f'{PANEL} [data-testid="stRadio"] input[type="radio"]').first.focus()
        pg.keyboard.press("Space")
    else:
        box = pg.locator(f'{PANEL} [data-testid="stPlotlyChart"]').first.bounding_box()
        pg.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.55)
        pg.wait_for_function(f"""() => [...document.querySelectorAll('{PANEL} [data-testid="stNumberInput"] input')]
                                     .every(i => i.value !== '')""", timeout=30_000)
    settle(pg)


def tab_to(pg, selector: str, most: int = 120) -> int:
    """Press Tab until the element matching ``selector`` has the focus; how many presses it took."""
    for n in range(1, most + 1):
        pg.keyboard.press("Tab")
        if pg.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return n
    raise AssertionError(f"Tab never reached {selector}")


def focus_shows(pg, selector: str) -> bool:
    """Whether the focused element looks different from the same element unfocused (a visible focus)."""
    el = pg.locator(selector).first
    b = el.bounding_box()
    clip = {"x": max(b["x"] - 6, 0), "y": max(b["y"] - 6, 0), "width": b["width"] + 12, "height": b["height"] + 12}
    focused = pg.screenshot(clip=clip)
    pg.evaluate("() => document.activeElement.blur()")
    plain = pg.screenshot(clip=clip)
    el.focus()
    return focused != plain


def test_walk_the_whole_path_answering_every_question(page):
    pg = page
    lessons = lesson_files.load()
    pg.goto(pg.server.url("forward", "lesson=forward&lstep=1&steps=5"))
    settle(pg)
    asked = 0
    for li, les in enumerate(lessons):
        for si, step in enumerate(les.steps):
            where = f"{les.id} step {si + 1}"
            assert problems(pg) == [], where
            q = query(pg.url)
            assert (q.get("lesson"), q.get("lstep")) == (les.id, str(si + 1)), (where, pg.url)
            assert f"step {si + 1} of {len(les.steps)}" in pg.locator(PANEL).inner_text(), where
            if step.highlight:
                assert pg.locator(f".st-key-{step.highlight}").count() == 1, (where, step.highlight)
            if step.question is not None:
                asked += 1
                assert "Measured now" not in metrics(pg), where                    # nothing before the answer
                reveal = pg.locator(f'{PANEL} .st-key-lesson-reveal button')
                assert reveal.is_disabled() == (step.question.kind in ("choice", "click")), where
                answer(pg, step.question.kind)
                assert "Measured now" not in metrics(pg), where                    # a guess is not a reveal
                reveal.click()
                settle(pg)
                shown = metrics(pg)
                assert shown.get("Your guess") and re.search(r"\d|yes|no|top|bottom|left|right|centre|level",
                                                             shown.get("Measured now", "")), (where, shown)
                assert query(pg.url).get("revealed") == "1", where
            nxt = pg.locator(f"{PANEL} .st-key-lesson-next a")
            if li == len(lessons) - 1 and si == len(les.steps) - 1:
                assert nxt.count() == 0                                          # the end of the path
                break
            nxt.click()
            pg.wait_for_url(re.compile(r"lstep="), timeout=30_000)
            time.sleep(0.3)
            settle(pg)
    assert asked >= 10


def test_presenter_mode_steps_with_the_arrow_key(page):
    pg = page
    pg.goto(pg.server.url("denoise", "lesson=denoise&lstep=1&present=1&steps=5"))
    settle(pg)
    assert not pg.locator('[data-testid="stSidebar"]').is_visible()
    size = pg.evaluate("""() => parseFloat(getComputedStyle(document.querySelector(
        '[data-testid="stMain"] .st-key-lesson-panel p')).fontSize)""")
    assert size >= 24
    assert not pg.locator('[data-testid="stMain"] .st-key-p_mode').locator('[data-testid="stRadio"]').is_visible()
    pg.keyboard.press("ArrowRight")
    pg.wait_for_url(re.compile(r"lstep=2"), timeout=30_000)
    settle(pg)
    assert query(pg.url).get("lstep") == "2" and "step 2 of 3" in pg.locator(PANEL).inner_text()
    pg.keyboard.press("ArrowLeft")
    pg.wait_for_url(re.compile(r"lstep=1"), timeout=30_000)
    settle(pg)
    pg.keyboard.press("Space")                                           # space plays the denoising animation
    pg.locator('[data-testid="stImage"] img[alt^="Animation"]').wait_for(timeout=30_000)
    assert pg.locator('.st-key-play input[type="checkbox"]').is_checked()


def test_a_click_question_from_the_keyboard_alone_with_visible_focus(page):
    """Tab to the x and y boxes, type, Tab to the reveal button, Enter; then Tab to Next, Enter."""
    pg = page
    pg.goto(pg.server.url("attention", "lesson=attention&lstep=2&model=shapes&steps=5"))
    settle(pg)
    x, y = (f"{PANEL} .st-key-lq-attention-1-{k} input" for k in "xy")
    tab_to(pg, x)
    assert focus_shows(pg, x)
    pg.keyboard.type("24")
    tab_to(pg, y, most=5)
    assert focus_shows(pg, y)
    pg.keyboard.type("8")
    pg.keyboard.press("Enter")                                           # commits the number
    settle(pg)
    reveal = f"{PANEL} .st-key-lesson-reveal button"
    pg.wait_for_function(f"() => !document.querySelector('{reveal}').disabled", timeout=30_000)
    tab_to(pg, reveal, most=10)
    assert focus_shows(pg, reveal)
    pg.keyboard.press("Enter")
    pg.wait_for_url(re.compile(r"revealed=1"), timeout=30_000)
    settle(pg)
    assert query(pg.url)["answer"] == "24,8" and re.match(r"x [\d.]+, y [\d.]+", metrics(pg)["Measured now"])
    nxt = f"{PANEL} .st-key-lesson-next a"
    tab_to(pg, nxt)
    assert focus_shows(pg, nxt)
    pg.keyboard.press("Enter")
    pg.wait_for_url(re.compile(r"lesson=timestep"), timeout=30_000)
