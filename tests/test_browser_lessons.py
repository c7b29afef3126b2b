"""The guided path in a real browser: every step of every lesson by its Next link, each question answered
before its measured answer appears; presenter mode's → key. One server, one Chromium, 5 sampling steps."""

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
    """Give a guess: one step right on the slider, or the first option."""
    if kind == "slider":
        thumb = pg.locator(f'{PANEL} [data-testid="stSlider"] input[type="range"]').first
        thumb.focus()
        thumb.press("ArrowRight")
    else:
        pg.locator(f'{PANEL} [data-testid="stRadio"] [role="radiogroup"] label').first.click()
    settle(pg)


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
                assert reveal.is_disabled() == (step.question.kind == "choice"), where
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
