"""Regenerate the docs' screenshots of the app (docs/screenshots/*.png) in headless Chromium.

    python docs/screenshots.py                          # every page on its defaults -> docs/screenshots/<page>.png
    python docs/screenshots.py --only denoise --only forward
    python docs/screenshots.py --only attention --query "model=shapes" --name attention-shapes

The browser tests (tests/test_browser.py) take the same pictures but write them to a temporary
folder, so a test run never changes a tracked file; this command is the one that updates the docs.
Runs `streamlit run app.py` on a free port and Debian's /usr/bin/chromium (DIFFVIZ_CHROMIUM).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import (  # noqa: E402  (tests/browser.py: the same server, browser and screenshot helpers)
    CHROMIUM,
    CHROMIUM_ARGS,
    RUN_TIMEOUT_MS,
    VIEWPORT,
    AppServer,
    app_pages,
    problems,
    screenshot,
    settle,
)


def shoot(out: Path, only: list[str] | None = None, query: str = "", name: str | None = None) -> list[Path]:
    """Screenshot the pages named in ``only`` (default: every page) with ``query``; the PNGs written."""
    from playwright.sync_api import sync_playwright

    pages = [p for p in app_pages() if not only or p.name in only]
    unknown = sorted(set(only or ()) - {p.name for p in pages})
    if unknown:
        raise SystemExit(f"unknown page(s) {unknown}; app.py has {[p.name for p in app_pages()]}")
    if name and len(pages) != 1:
        raise SystemExit("--name needs exactly one page (--only PAGE)")
    written = []
    server = AppServer().start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                for p in pages:
                    context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
                    context.set_default_timeout(RUN_TIMEOUT_MS)
                    page = context.new_page()
                    page.goto(server.url(p.url, query), wait_until="domcontentloaded")
                    settle(page)
                    shown = problems(page)
                    if shown:
                        raise SystemExit(f"/{p.url}?{query}: the page shows {shown}; no screenshot written")
                    path = out / f"{name or p.name}.png"
                    size = screenshot(page, path)
                    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {size} bytes")
                    written.append(path)
                    context.close()
            finally:
                browser.close()
    finally:
        server.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="a page's url_path (repeatable); default: every page")
    ap.add_argument("--query", default="", help="link parameters, e.g. 'model=shapes&seed=3'")
    ap.add_argument("--name", help="file name (without .png) for a single page's picture")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args(argv)
    shoot(args.out, args.only, args.query, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
