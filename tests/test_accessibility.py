"""axe-core in Chromium on every page, plain and in presenter mode: no violation of impact serious or critical.

axe-core comes from npm (`npm install --prefix tools/axe`, as .ci/run does); Playwright injects it into each
page after the page has settled. One server, one browser, every page, both URL variants (plain and presenter
mode, ``?present=1``), and the lesson box on a click question, plain and presenting.
"""

from __future__ import annotations

import json
import time

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, ROOT, RUN_TIMEOUT_MS, AppServer, app_pages, problems, settle, unavailable

pytestmark = pytest.mark.browser

AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
VARIANTS = ["", "present=1"]
# The lesson box on a step with a click question (the image to click, the x and y boxes), plain and presenting.
LESSON = "lesson=attention&lstep=2&model=shapes&steps=5"
EXTRA = [("attention", LESSON), ("attention", LESSON + "&present=1")]
BAD = ("serious", "critical")


def _violations(page) -> list[dict]:
    result = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
    }""")
    return [v for v in result if v["impact"] in BAD]


def test_no_serious_or_critical_axe_violation_on_any_page():
    if not AXE.exists():
        unavailable(f"{AXE} is missing (npm install --prefix tools/axe)")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        unavailable(f"playwright cannot be imported: {e}")
    t0 = time.monotonic()
    found, timings = {}, {}
    server = AppServer().start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
            context.set_default_timeout(RUN_TIMEOUT_MS)
            page = context.new_page()
            for path, qs in [(p.url, qs) for p in app_pages() for qs in VARIANTS] + EXTRA:
                t1 = time.monotonic()
                url = server.url(path, qs)
                page.goto(url, wait_until="domcontentloaded")
                settle(page, quiet_s=0.5)
                assert not problems(page), (url, problems(page))
                page.add_script_tag(path=str(AXE))
                bad = _violations(page)
                if bad:
                    found[url.split("/", 3)[-1]] = bad
                timings[f"{path}?{qs}"] = round(time.monotonic() - t1, 1)
            browser.close()
    finally:
        server.stop()
    print(json.dumps({"total_s": round(time.monotonic() - t0, 1), "per_page_s": timings}))
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)
