"""In Chromium (each page opening directly, with no "Page not found" flash, is checked in test_browser.py):
the "Copy link" button puts the current permalink on the clipboard, and a choice widget shows the new
model's sizes after a model switch, as a fresh load of the same link does."""

from __future__ import annotations

import pytest
from browser import (
    chromium_browser,
    RUN_TIMEOUT_MS,
    AppServer,
    query,
    settle,
)

pytestmark = pytest.mark.browser

WATCH = ("window.__notFound = [];"
         "new MutationObserver(() => { const t = document.body ? document.body.innerText : '';"
         " if (/page not found/i.test(t)) window.__notFound.push(location.href); })"
         ".observe(document, {subtree: true, childList: true, characterData: true});")
SELECTED = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stSelectbox"] input')]
                      .map(i => i.getAttribute('aria-label') + ' = ' + i.value)"""


@pytest.fixture(scope="module")
def session():
    with chromium_browser() as browser:
        server = AppServer().start()
        try:
            yield browser, server
        finally:
            server.stop()


def _open(browser, url, **kw):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, **kw)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(WATCH)
    page.goto(url, wait_until="domcontentloaded")
    settle(page)
    return context, page


def test_copy_link_puts_the_permalink_on_the_clipboard(session):
    browser, server = session
    context, page = _open(browser, server.url("forward", "t=640&seed=5"),
                          permissions=["clipboard-read", "clipboard-write"])
    try:
        button = page.locator('[data-testid="stSidebar"] button.copy-link')
        assert button.count() == 1, "no Copy link button in the sidebar"
        button.click()
        page.locator('[data-testid="stSidebar"] button.copy-link', has_text="copied").wait_for()   # in a shadow root
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.url and query(copied) == {"t": "640", "seed": "5"}
    finally:
        context.close()


def test_after_a_model_switch_the_menus_show_the_new_models_sizes(session):
    browser, server = session
    context, page = _open(browser, server.url("attention"))
    try:
        assert any("7×7" in s for s in page.evaluate(SELECTED))
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="shapes", exact=True).click()
        page.wait_for_function("() => location.href.includes('model=shapes')")
        settle(page)
        switched, url = page.evaluate(SELECTED), page.url
    finally:
        context.close()
    context, page = _open(browser, url)
    try:
        fresh = page.evaluate(SELECTED)
    finally:
        context.close()
    assert switched == fresh and not any("7×7" in s for s in switched), (switched, fresh)
