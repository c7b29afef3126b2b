"""Class mode in a real browser: a teacher and two students, each in their own browser context.

The teacher starts a class on a guided lesson (the forward process); the students open the join link
(the app's URL + ?class=CODE), get anonymous names (one renames itself, then reloads) and land on the
lesson's first page; the teacher opens the step's page to project it and presses Next there; the
students' pages follow to the next step's view; each answers the slider question in the class box;
the teacher's live count reaches 2 of 2; before the reveal the students see only that they answered;
the teacher reveals and every student sees their answer, the class's and the measured truth; the CSV
export (on the class page) holds both answers and no secret. Screenshots at 1280×720 go to
a temporary folder (the docs' pictures: python docs/screenshots.py).

Needs /usr/bin/chromium and playwright: without them this fails under CI and is skipped elsewhere.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from browser import (
    CHROMIUM,
    AppServer,
    problems,
    query,
    screenshot,
    settle,
    unavailable,
)

pytestmark = pytest.mark.browser

FOLLOW_MS = 8000          # the students' pages poll every 2 s; allow a loaded CI machine some slack
SHOTS = Path(tempfile.mkdtemp(prefix="diffviz-class-shots-"))   # never docs/screenshots/ (python docs/screenshots.py)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    old = os.environ.get("DIFFVIZ_DATA")
    os.environ["DIFFVIZ_DATA"] = str(tmp_path_factory.mktemp("class-data"))     # never the repo's data/
    try:
        app = AppServer().start()
    finally:
        if old is None:
            os.environ.pop("DIFFVIZ_DATA")
        else:
            os.environ["DIFFVIZ_DATA"] = old
    try:
        yield app
    finally:
        app.stop()


def person(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US", timezone_id="UTC",
                              accept_downloads=True)
    ctx.set_default_timeout(90_000)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return ctx, page


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def clean(page, where: str) -> None:
    assert not problems(page), f"{where}: {problems(page)}"
    assert not page.errors, f"{where}: script errors {page.errors}"


class Laps:
    """Prints how long each phase took (shown with pytest -s; the times are never asserted)."""

    def __init__(self):
        self.t0 = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"[{time.monotonic() - self.t0:5.1f} s] {what}")


PANEL = ".st-key-lesson-panel"                                   # the class box above a lesson page


def panel_text(page) -> str:
    return page.locator(PANEL).inner_text()


def metrics(page) -> dict:
    return page.evaluate(f"""() => Object.fromEntries([...document.querySelectorAll('{PANEL} [data-testid="stMetric"]')]
        .map(m => [m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
                   m.querySelector('[data-testid="stMetricValue"]').innerText.trim()]))""")


def test_a_teacher_and_two_students(chromium, server):
    lap = Laps()
    tctx, teacher = person(chromium)
    teacher.goto(server.url("class"), wait_until="domcontentloaded")
    settle(teacher)
    teacher.get_by_role("combobox", name="The class's lesson").click()      # the picker: a guided lesson
    teacher.get_by_role("option", name="1 · The forward process").click()
    teacher.get_by_text("The forward process, step 2 — a question").wait_for()
    teacher.get_by_role("button", name="Start a class").click()
    teacher.wait_for_url(re.compile(r"key="))
    settle(teacher, need_content=False)
    clean(teacher, "teacher after Start")
    lap('teacher started')
    code, key = query(teacher.url)["class"], query(teacher.url)["key"]
    assert re.fullmatch(r"[A-Z2-9]{8}", code)
    assert teacher.locator('[data-testid="stMain"] [data-testid="stImage"] img').count() >= 1     # the QR code
    assert f"/?class={code}" in main_text(teacher) and key not in main_text(teacher)

    students = []
    for _ in range(2):
        ctx, page = person(chromium)
        page.goto(server.url("", f"class={code}"), wait_until="domcontentloaded")      # the join link
        page.wait_for_url(re.compile(r"/forward\?.*me="))          # joined, and on step 1's page
        settle(page, need_content=False)
        clean(page, "student after joining")
        assert "key" not in query(page.url) and key not in page.content() and query(page.url)["t"] == "0"
        assert re.search(r"You are \w+ \w+ \d+", panel_text(page))
        students.append((ctx, page))
    lap('students joined')
    (_, amy), (_, bea) = students
    bea.get_by_role("button", name="Change my name").click()
    bea.get_by_label("Your name").fill("Bea")
    bea.get_by_role("button", name="Save").click()
    bea.get_by_text("You are Bea").wait_for()
    bea_url = bea.url
    bea.reload(wait_until="domcontentloaded")                       # a reload: the same student
    bea.get_by_text("You are Bea").wait_for()
    assert query(bea.url)["me"] == query(bea_url)["me"]
    lap('renamed')

    teacher.get_by_role("link", name=re.compile("Show this step's page")).click()    # project the lesson page
    teacher.wait_for_url(re.compile(r"/forward\?"))
    settle(teacher, need_content=False)
    teacher.locator(PANEL).get_by_role("button", name="Next ▶").click()
    teacher.get_by_text("step 2 of 3").wait_for()
    for page in (amy, bea):                                         # the students follow, to the step's view
        page.get_by_role("heading", name=re.compile("Step 2 of 3")).wait_for(timeout=FOLLOW_MS)
        settle(page, need_content=False)
        assert "t" not in query(page.url)
    lap('followed')
    for page, presses in ((amy, 3), (bea, 5)):
        form = page.locator(f'{PANEL} [data-testid="stForm"]')
        thumb = form.locator('input[type="range"]')
        thumb.focus()
        for _ in range(presses):
            thumb.press("ArrowRight")
        form.get_by_role("button", name="Send my answer").click()
        page.get_by_text(f"You answered {presses * 10}").wait_for()
        shown = panel_text(page)
        assert not metrics(page) and "Measured" not in shown and "students answered" not in shown, \
            "the class's spread or the truth showed before the reveal"
    lap('answered')
    teacher.get_by_text("2 of 2 students answered").wait_for(timeout=FOLLOW_MS)
    screenshot(teacher, SHOTS / "class-teacher.png")
    lap('live count')

    teacher.get_by_role("button", name="Reveal to everyone").click()
    teacher.get_by_text("Revealed.").wait_for()
    for page, answered in ((amy, "30"), (bea, "50")):
        page.locator(PANEL).get_by_text("Measured", exact=True).wait_for(timeout=FOLLOW_MS)
        settle(page, need_content=False)
        clean(page, "student after the reveal")
        got = metrics(page)
        assert got["Your answer"] == answered and got["The class"] == "2 answered", got
        assert re.match(r"t = \d+ ", got["Measured"]) and "The judge reads a" in panel_text(page), got
    lap('revealed')
    screenshot(bea, SHOTS / "class-student.png")

    teacher.get_by_role("link", name=re.compile("The class page")).click()
    teacher.get_by_role("button", name="Answers as CSV").wait_for()
    settle(teacher, need_content=False)
    with teacher.expect_download() as dl:
        teacher.get_by_role("button", name="Answers as CSV").click()
    raw = Path(dl.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert sorted((r["name"] == "Bea", r["question"], r["answer"]) for r in rows) == \
        [(False, "forward-2", "30"), (True, "forward-2", "50")]
    assert key not in raw and query(amy.url)["me"] not in raw and query(bea.url)["me"] not in raw
    lap('exported')
    clean(teacher, "teacher after export")
    for ctx in [tctx] + [c for c, _ in students]:
        ctx.close()
