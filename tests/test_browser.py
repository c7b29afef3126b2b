"""The real app in a real browser: every page by its address, a slider moved, permalinks reproduced.

One Streamlit server (`streamlit run app.py`) and one headless Chromium for the whole module. For each
page: the defaults render without an exception or an error box and show images or figures; a
screenshot goes to a temporary folder (a test run leaves the work tree as it was; `python
docs/screenshots.py` regenerates the docs' pictures); a slider in the main area moved once with the keyboard (on a
page without one, the next option of a segmented control or radio) puts its new value in the
address, and that address opened in a fresh browser shows the same images, figures and widget
values. The permalink tests open pages with every parameter set to a non-default value; one test
opens a deep link as a fresh server's very first request.

Needs /usr/bin/chromium (Debian's `chromium`) and the `playwright` package: without them these tests
fail under CI (``CI`` truthy: 1, true, yes) and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib

import pytest
from browser import (
    ROOT,
    RUN_TIMEOUT_MS,
    VIEWPORT,
    AppPage,
    AppServer,
    app_pages,
    content_count,
    is_placeholder,
    move_main_widget,
    nav_text,
    notices,
    problems,
    query,
    screenshot,
    settle,
    snapshot,
    unavailable,
)

pytestmark = pytest.mark.browser

PAGES = app_pages()

# Every parameter a view depends on, each set to a value that is not its default (checked below:
# the app drops a default from the address, so a default here would be caught), except the values
# in LINK_DEFAULTS, which a link may spell out (the app then drops them from the address).
PERMALINKS = {
    "denoise": "model=mnist&seed=3&sampler=ddpm&steps=60&label=3&guidance=3&step=10",
    "forward": "seed=3&digit=12&t=400",
    "attention": "seed=3&label=3&steps=20&level=0&head=1&step=5&qx=2&qy=5",
}
LINK_DEFAULTS = {"model": "mnist"}


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where the test's screenshots go: a temporary folder, never docs/screenshots/."""
    return tmp_path_factory.mktemp("screenshots")


NOT_FOUND_WATCH = ("window.__notFound = [];"
                   "new MutationObserver(() => { const t = document.body ? document.body.innerText : '';"
                   " if (/page not found/i.test(t)) window.__notFound.push(location.href); })"
                   ".observe(document, {subtree: true, childList: true, characterData: true});")


@contextlib.contextmanager
def visit(browser, url: str, server: AppServer, need_content: bool = True):
    """A page in a fresh browser context (no cookies, no session), opened at ``url`` and settled."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(RUN_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(NOT_FOUND_WATCH)      # a page name of the navigation must open its page directly
    page.log_mark = server.log_mark()          # check_clean shows what the server printed from here on
    try:
        page.goto(url, wait_until="domcontentloaded")
        try:
            settle(page, need_content=need_content)
        except Exception as e:
            raise AssertionError(f"{url}: {e}\nshown: {problems(page)}\n"
                                 f"server log:\n{server.log_tail(since=page.log_mark)}") from e
        yield page, errors
    finally:
        context.close()


def check_clean(page, errors, server, where: str) -> None:
    """No exception box, no error alert, no script error in the browser; images or figures shown."""
    shown = problems(page)
    assert not shown, f"{where}: {shown}\nserver log:\n{server.log_tail(since=getattr(page, 'log_mark', 0))}"
    assert not errors, f"{where}: script errors in the browser: {errors}"
    nav = nav_text(page)
    missing = [p.title for p in PAGES if p.title not in nav]
    assert not missing, (f"{where}: the sidebar navigation lacks {missing}: app.py did not run first "
                         f"(Streamlit's pages/-folder mode?). Navigation shows: {nav!r}")
    n = content_count(page)
    assert n["images"] + n["plots"] > 0, f"{where}: no image and no figure in the main area"


def assert_same_view(a: dict, b: dict, where: str) -> None:
    assert a["widgets"] == b["widgets"], f"{where}: widget values differ:\n{a['widgets']}\n{b['widgets']}"
    assert a["images"] == b["images"], f"{where}: images differ ({len(a['images'])} vs {len(b['images'])})"
    assert len(a["plots"]) == len(b["plots"]), f"{where}: {len(a['plots'])} vs {len(b['plots'])} figures"
    for i, (pa, pb) in enumerate(zip(a["plots"], b["plots"])):
        assert pa == pb, f"{where}: figure {i} differs: {pa[:300]} ... vs {pb[:300]} ..."


def require_written(p: AppPage) -> None:
    if is_placeholder(p.path):
        unavailable(f"{p.path.relative_to(ROOT)} is still a placeholder")


def test_a_deep_link_is_the_first_request(chromium):
    """A student's permalink can be the first request a fresh server gets: it must run app.py (the
    navigation, the sidebar, the notices) and not the page file alone, which Streamlit does for a
    script beside a pages/ folder until some session has run st.navigation."""
    p = next((p for p in PAGES if p.url), None)
    assert p is not None, "app.py has only the default page: nothing to deep-link to"
    require_written(p)
    fresh = AppServer().start()
    try:
        with visit(chromium, fresh.url(p.url), fresh) as (page, errors):
            check_clean(page, errors, fresh, f"/{p.url} as a fresh server's first request")
    finally:
        fresh.stop()


@pytest.mark.parametrize("p", PAGES, ids=[p.name for p in PAGES])
def test_page(p: AppPage, chromium, server, shots):
    require_written(p)
    name = p.name
    with visit(chromium, server.url(p.url), server) as (page, errors):
        check_clean(page, errors, server, f"/{name} on defaults")
        assert page.evaluate("window.__notFound") == [], f"/{name} flashed 'Page not found'"
        assert not p.url or page.url.split("?")[0].rstrip("/").endswith("/" + p.url), f"/{name} went to {page.url}"
        assert query(page.url) == {}, f"/{name} on defaults wrote parameters into the address: {page.url}"
        size = screenshot(page, shots / f"{name}.png")
        assert size < 300_000, f"screenshot of /{name} is {size} bytes"

        if name == "class":        # not a lesson page (no view to move): tests/test_class_browser.py drives it
            return
        before, url0 = query(page.url), page.url
        did = move_main_widget(page)
        assert did is not None, (f"/{name} has no slider, segmented control or radio in the main area: "
                                 "every lesson page has one, and this test moves it")
        page.wait_for_function("u => location.href !== u", arg=url0, timeout=RUN_TIMEOUT_MS)
        settle(page)
        where = f"/{name} after {did}"
        check_clean(page, errors, server, where)
        after = query(page.url)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        assert changed, f"{where}: the address did not take the new value ({page.url})"
        moved_url, moved = page.url, snapshot(page)

    with visit(chromium, moved_url, server) as (page, errors):
        check_clean(page, errors, server, f"{moved_url} in a fresh browser")
        assert query(page.url) == after, f"{moved_url} became {page.url}"
        assert_same_view(moved, snapshot(page), f"{moved_url} in a fresh browser")


def test_one_session_through_the_navigation(chromium, server):
    """A student's path: one session, every page reached by its sidebar link, a widget moved on each
    before going on (values one page leaves behind must not break the next one)."""
    written = [p for p in PAGES if not is_placeholder(p.path)]
    if not written:
        unavailable("every page is still a placeholder")
    with visit(chromium, server.url(""), server) as (page, errors):
        for p in written:
            if p.url:
                url0 = page.url
                page.locator('[data-testid="stSidebarNav"] a').filter(has_text=p.title).first.click()
                page.wait_for_function("u => location.href !== u", arg=url0, timeout=RUN_TIMEOUT_MS)
                settle(page)
            where = f"/{p.url} reached through the navigation"
            check_clean(page, errors, server, where)
            url0 = page.url
            did = move_main_widget(page)
            if did is not None:
                page.wait_for_function("u => location.href !== u", arg=url0, timeout=RUN_TIMEOUT_MS)
                settle(page)
                check_clean(page, errors, server, f"{where}, after {did}")


@pytest.mark.parametrize("name", list(PERMALINKS))
def test_permalink(name, chromium, server):
    p = next((p for p in PAGES if p.name == name), None)
    assert p is not None, f"app.py has no page {name}"
    require_written(p)
    url = server.url(p.url, PERMALINKS[name])
    wanted = {k: v for k, v in query(url).items() if LINK_DEFAULTS.get(k) != v}
    with visit(chromium, url, server) as (page, errors):
        check_clean(page, errors, server, url)
        assert not notices(page), f"{url}: the app rejected a value: {notices(page)}"
        assert query(page.url) == wanted, f"{url} became {page.url} (a value was a default, clamped or dropped)"
        first = snapshot(page)
    with visit(chromium, url, server) as (page, errors):
        check_clean(page, errors, server, f"{url} in a fresh browser")
        assert_same_view(first, snapshot(page), f"{url} in a fresh browser")
    with visit(chromium, server.url(p.url), server) as (page, errors):
        default = snapshot(page)
    assert default["images"] != first["images"] or default["plots"] != first["plots"], \
        f"{url} shows the same images and figures as the defaults: the parameters had no effect"


def test_bad_link_values_fall_back(chromium, server):
    """Nonsense in the address gives a notice and the default view, never an exception."""
    require_written(PAGES[0])
    url = server.url(PAGES[0].url, "seed=banana&steps=-4&sampler=<b>x</b>&guidance=nan")
    with visit(chromium, url, server) as (page, errors):
        check_clean(page, errors, server, url)
        shown = notices(page)
        assert shown, f"{url}: no notice about the bad values"
        assert not page.locator('[data-testid="stMain"] b, [data-testid="stSidebar"] b').filter(
            has_text="x").count(), "a value from the address was rendered as HTML"
