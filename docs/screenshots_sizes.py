"""Screenshots of every page at 1280×720 and 1440×900 (docs/screenshots/<page>-<w>x<h>.png).

Run from the repository root: python docs/screenshots_sizes.py [page ...]. One server, one browser."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, CHROMIUM_ARGS, AppServer, app_pages, problems, screenshot, settle  # noqa: E402

SIZES = [(1280, 720), (1440, 900)]


def main(names: list[str]) -> None:
    from playwright.sync_api import sync_playwright
    pages = [p for p in app_pages() if not names or p.name in names]
    server = AppServer().start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            for w, h in SIZES:
                page = browser.new_context(viewport={"width": w, "height": h}).new_page()
                page.set_default_timeout(300_000)
                for p in pages:
                    page.goto(server.url(p.url), wait_until="domcontentloaded")
                    settle(page, timeout_ms=300_000)
                    out = ROOT / "docs" / "screenshots" / f"{p.name}-{w}x{h}.png"
                    size = screenshot(page, out)
                    print(out.name, size, problems(page) or "clean", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
