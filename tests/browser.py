"""Helpers for the real-browser tests: run the app, drive headless Chromium, read what a page shows.

Nothing here is a test. `AppServer` runs `streamlit run app.py` in its own process group; `settle`
waits until a page has finished running and stopped changing; `snapshot` reads what a student sees
(the bytes of every image, the data of every plotly figure, the value of every widget), so two
browsers can be compared; `screenshot` writes a small PNG of the whole page.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

import pytest
from ci_mode import in_ci

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("DIFFVIZ_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 1000}
# A first run samples; two test workers (pytest-xdist) may each drive a server and a browser on 2 cores.
RUN_TIMEOUT_MS = int(float(os.environ.get("DIFFVIZ_BROWSER_TIMEOUT", "180")) * 1000)
MAX_SHOT_BYTES = 200_000          # a larger PNG is reduced to a palette (then scaled down)
MAX_SHOT_HEIGHT = 3600


def unavailable(reason: str):
    """A missing browser tool: a failure under CI (``in_ci()``), a skip elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (required in CI)", pytrace=False)
    pytest.skip(reason)


class AppPage(NamedTuple):
    name: str           # url_path (or the file's stem): test ids and screenshot names
    url: str            # the path to open: "" for the default page, which Streamlit serves at "/" only
    path: Path          # the page's script
    title: str


@contextmanager
def chromium_browser():
    """Debian's Chromium, headless, through playwright (fails under CI and skips elsewhere when either is missing)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        unavailable(f"playwright cannot be imported: {e}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def app_pages(app: Path = ROOT / "app.py") -> list[AppPage]:
    """Every ``st.Page(...)`` in app.py, in navigation order."""
    out = []
    for m in re.finditer(r"st\.Page\(\s*[\"']([^\"']+)[\"'](.*?)\)", app.read_text(), re.S):
        opt = dict(re.findall(r"(\w+)\s*=\s*[\"']([^\"']+)[\"']", m.group(2)))
        path = ROOT / m.group(1)
        name = opt.get("url_path", path.stem)
        default = re.search(r"default\s*=\s*True", m.group(2)) is not None
        out.append(AppPage(name, "" if default else name, path, opt.get("title", "")))
    return out


def nav_text(page) -> str:
    """The text of the sidebar's page navigation ("" when there is none)."""
    return page.evaluate("""() => { const n = document.querySelector('[data-testid="stSidebarNav"]');
                                    return n ? n.innerText : ''; }""")


def is_placeholder(path: Path) -> bool:
    """A page not written yet (a few lines that say "placeholder")."""
    text = path.read_text() if path.exists() else ""
    return len(text.splitlines()) <= 8 and "placeholder" in text


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` on a free local port, in its own process group (killed whole)."""

    def __init__(self, root: Path = ROOT):
        self.root = root
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="diffviz-streamlit-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "AppServer":
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py",
               "--server.port", str(self.port), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false",
               "--client.showErrorDetails", "full"]      # a failing test shows the page's own message
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, cwd=self.root, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{tail}")

    def stop(self) -> None:
        """Stop the server's whole process group (SIGTERM, then SIGKILL) and remove its log."""
        if self.proc is not None and self.proc.poll() is None:
            pgid = os.getpgid(self.proc.pid)
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(pgid, sig)
                    self.proc.wait(wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def log_mark(self) -> int:
        """Where the server's log ends now (for `log_tail(since=...)`)."""
        return Path(self.log.name).stat().st_size

    def log_tail(self, n: int = 4000, since: int = 0) -> str:
        """The end of what the server printed (after ``since``, a `log_mark`)."""
        with open(self.log.name, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        return text[-n:] if text.strip() else "(nothing)"

    def url(self, page: str, qs: str = "") -> str:
        return f"{self.base}/{page}" + (f"?{qs}" if qs else "")


# ---------------------------------------------------------------- reading a page

_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (document.querySelector('[data-testid="stMain"] [data-stale="true"]')) return false;
  const imgs = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img')];
  return imgs.every(i => i.complete && i.naturalWidth > 0);
}"""

_CONTENT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return 0;
  return main.querySelectorAll('[data-testid="stImage"] img, .js-plotly-plot').length;
}"""

# What changes when a page changes: the address, the images' sources, the figures' data, the text.
_SIGNATURE_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return location.href;
  const imgs = [...main.querySelectorAll('[data-testid="stImage"] img')].map(i => i.src);
  let plots = '';
  for (const el of main.querySelectorAll('.js-plotly-plot')) {
    try { plots += JSON.stringify(el.data).length + ':' + JSON.stringify(el.data).slice(0, 2000); } catch (e) { plots += '?'; }
  }
  return [location.href, imgs.join('|'), plots, main.innerText.length].join('\\n');
}"""

_SNAPSHOT_JS = """async () => {
  const hex = b => [...new Uint8Array(b)].map(x => x.toString(16).padStart(2, '0')).join('');
  const drop = (k, v) => (k === 'uid' ? undefined : v);
  const main = document.querySelector('[data-testid="stMain"]');
  const out = {images: [], plots: [], widgets: []};
  for (const im of main.querySelectorAll('[data-testid="stImage"] img')) {
    const buf = await (await fetch(im.src)).arrayBuffer();
    out.images.push(hex(await crypto.subtle.digest('SHA-256', buf)) + ':' + buf.byteLength);
  }
  for (const el of main.querySelectorAll('.js-plotly-plot')) {
    out.plots.push(JSON.stringify(el.data || null, drop));
  }
  // Every widget: its kind, its label and what it holds (text in inputs, checked options, slider thumbs).
  const kinds = ['stSlider', 'stSelectSlider', 'stSelectbox', 'stMultiSelect', 'stRadio', 'stButtonGroup',
                 'stNumberInput', 'stTextInput', 'stTextArea', 'stCheckbox', 'stToggle'];
  for (const el of document.querySelectorAll(kinds.map(k => `[data-testid="${k}"]`).join(','))) {
    const l = el.querySelector('[data-testid="stWidgetLabel"]');
    const held = [
      ...[...el.querySelectorAll('input[type="range"], input[type="text"], input[type="number"], textarea')].map(i => i.value),
      ...[...el.querySelectorAll('input[type="radio"]:checked, input[type="checkbox"]')].map(i =>
          (i.type === 'checkbox' ? (i.checked ? 'on' : 'off') + ' ' : '') + (i.closest('label') || i).innerText.trim()),
      ...[...el.querySelectorAll('[role="radio"][aria-checked="true"], [aria-pressed="true"]')].map(b => b.innerText.trim()),
      ...[...el.querySelectorAll('[data-baseweb="tag"], [role="option"][aria-selected="true"]')].map(t => t.innerText.trim()),
    ];
    out.widgets.push(`${el.getAttribute('data-testid')} ${l ? l.innerText.trim() : ''} = ${held.join(' | ')}`);
  }
  return out;
}"""


def settle(page, timeout_ms: int = RUN_TIMEOUT_MS, quiet_s: float = 1.0, need_content: bool = True) -> None:
    """Wait until the script has finished, the main area shows images or figures (when
    ``need_content``), and the address and the figures have stayed the same for ``quiet_s``."""
    deadline = time.monotonic() + timeout_ms / 1000
    page.wait_for_function(_IDLE_JS, timeout=timeout_ms)
    if problems(page):              # an exception or an error box: nothing more will come
        return
    if need_content:
        page.wait_for_function(f"() => ({_CONTENT_JS})() > 0", timeout=max(1000, int((deadline - time.monotonic()) * 1000)))
    last, since = None, time.monotonic()
    while True:
        sig = page.evaluate(_SIGNATURE_JS) if page.evaluate(_IDLE_JS) else None
        now = time.monotonic()
        if sig is None or sig != last:
            last, since = sig, now
        elif now - since >= quiet_s:
            return
        if now > deadline:
            raise TimeoutError(f"{page.url} did not settle within {timeout_ms / 1000:.0f} s")
        page.wait_for_timeout(150)


def content_count(page) -> dict[str, int]:
    return page.evaluate("""() => {
      const main = document.querySelector('[data-testid="stMain"]');
      return {images: main.querySelectorAll('[data-testid="stImage"] img').length,
              plots: main.querySelectorAll('.js-plotly-plot').length};
    }""")


def problems(page) -> list[str]:
    """Exception boxes and error alerts on the page, as text."""
    return page.evaluate("""() => [
      ...[...document.querySelectorAll('[data-testid="stException"]')].map(e => 'exception: ' + e.innerText),
      ...[...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => 'error: ' + e.innerText),
      ...[...document.querySelectorAll('[role="dialog"]')].map(e => 'dialog: ' + e.innerText)
         .filter(t => /not found|not exist/i.test(t)),
    ]""")


def notices(page) -> list[str]:
    """Warnings the app shows about a bad permalink value ("The link's ...")."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stAlertContentWarning"]')]
                                  .map(e => e.innerText).filter(t => t.includes("link"))""")


def snapshot(page) -> dict:
    """What the page shows: image hashes, figure data and widget values (comparable across browsers)."""
    return page.evaluate(_SNAPSHOT_JS)


SLIDER_THUMB = '[data-testid="stSlider"] input[type="range"]'     # Streamlit 1.67: react-aria sliders


def main_slider(page):
    """The first slider thumb (an ``input type=range``) in the main area, not the sidebar, or None."""
    thumbs = page.locator(f'[data-testid="stMain"] {SLIDER_THUMB}')
    return thumbs.first if thumbs.count() else None


def slider_label(slider) -> str:
    return slider.get_attribute("aria-label") or "?"


def nudge(slider) -> str:
    """Press ArrowRight once on ``slider`` (ArrowLeft when it is at its maximum); the key pressed."""
    now, hi = slider.evaluate("el => [Number(el.value), Number(el.max)]")
    key = "ArrowLeft" if now >= hi else "ArrowRight"
    slider.focus()
    slider.press(key)
    return key


def move_main_widget(page) -> str | None:
    """Move the main area's first slider one step with the keyboard (see `nudge`); on a page with no
    slider, pick the next option of its first segmented control or radio. What was done, or None."""
    slider = main_slider(page)
    if slider is not None:
        return f"{nudge(slider)} on slider “{slider_label(slider)}”"
    for group in page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"], '
                              '[data-testid="stMain"] [data-testid="stRadio"]').all():
        options = group.locator('[role="radio"], [data-testid="stRadioOption"]')
        n = options.count()
        if n < 2:
            continue
        checked = group.evaluate("""g => [...g.querySelectorAll('[role="radio"], [data-testid="stRadioOption"]')]
            .findIndex(o => o.getAttribute('aria-checked') === 'true' || o.getAttribute('data-selected') === 'true'
                            || (o.querySelector('input') || {}).checked)""")
        target = options.nth((checked + 1) % n)
        text = target.inner_text().strip()
        label = group.locator('[data-testid="stWidgetLabel"]').first.inner_text().strip()
        target.click()
        return f"picked “{text}” in “{label}”"
    return None


def screenshot(page, path: Path) -> int:
    """A PNG of the whole page (Streamlit scrolls inside its main area, so the viewport is
    stretched to the content first), reduced to a palette when large. Returns its size in bytes."""
    from PIL import Image

    height = page.evaluate("""() => {
      const m = document.querySelector('[data-testid="stMain"]');
      return Math.max(m ? m.scrollHeight : 0, document.documentElement.scrollHeight);
    }""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), MAX_SHOT_HEIGHT))})
    try:
        page.wait_for_timeout(300)
        raw = page.screenshot(full_page=True, type="png", animations="disabled", caret="hide")
    finally:
        page.set_viewport_size(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.open(io.BytesIO(raw)).convert("RGB")
    data = raw
    for colors, scale in ((256, 1.0), (128, 1.0), (64, 0.75), (32, 0.6)):
        if len(data) <= MAX_SHOT_BYTES:
            break
        small = im if scale == 1.0 else im.resize((int(im.width * scale), int(im.height * scale)), Image.LANCZOS)
        buf = io.BytesIO()
        small.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
        data = buf.getvalue()
    path.write_bytes(data)
    return len(data)
