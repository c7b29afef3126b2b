"""The lesson files: every one well formed, in the lecture notes' order, and every name it uses real
(pages, the parameters they read, the panels they highlight, the measured quantities they reveal)."""

from __future__ import annotations

import re

import pytest

from diffviz.app import lesson_answers, lesson_files
from diffviz.app.lesson_files import LessonError, parse
from diffviz.model import zoo

ROOT = lesson_files.LESSONS_DIR.parent
ORDER = ["forward", "denoise", "parity", "inside", "skips", "attention", "timestep", "ablation"]


@pytest.fixture(scope="module")
def lessons():
    return lesson_files.load()


def page_source(page: str) -> str:
    """A page's code, with the code of the app modules it imports that bind URL parameters for it
    (the picture picker's ``digit``, the ablation set-ups' ``a_model`` ...)."""
    src = (ROOT / "pages" / f"{page}.py").read_text()
    for line in re.findall(r"^from diffviz\.app import (.+)$", src, flags=re.M):
        for name in (n.strip() for n in line.split(",")):
            if name not in ("settings", "params") and (ROOT / "diffviz" / "app" / f"{name}.py").exists():
                src += (ROOT / "diffviz" / "app" / f"{name}.py").read_text()
    return src


def test_eight_lessons_in_the_order_of_the_notes(lessons):
    assert [les.id for les in lessons] == ORDER
    assert all(2 <= len(les.steps) <= 5 for les in lessons)


def test_at_least_ten_questions_and_one_per_lesson(lessons):
    per = {les.id: sum(s.question is not None for s in les.steps) for les in lessons}
    assert all(n >= 1 for n in per.values()), per
    assert sum(per.values()) >= 10


def test_every_question_names_a_measured_quantity(lessons):
    for les in lessons:
        for st in les.steps:
            q = st.question
            if q is None:
                continue
            assert q.reveals in lesson_answers.MEASURES, (les.id, q.reveals)
            assert callable(lesson_answers.MEASURES[q.reveals])
            if q.options_from:
                assert q.options_from in lesson_answers.OPTIONS, (les.id, q.options_from)
            if q.kind == "slider":
                _lo, hi, step = q.range
                assert isinstance(hi, int) or hi in ("steps", "bottleneck_channels"), hi
                assert step > 0 and q.tolerance >= 0
            if q.kind == "click":                                 # answered on an image of its stated size
                assert q.reveals in lesson_answers.CANVASES, (les.id, q.reveals)
                assert "model" in st.view, (les.id, "a click question's view names its model")
                size = zoo.load(st.view["model"])[0].config.image_size
                assert (q.width, q.height) == (size, size), (les.id, q.width, q.height, size)
                assert 0 < q.level <= 1 and q.tolerance >= 0
            assert q.kind in lesson_files.KINDS and q.ask.strip() and q.why.strip()


def test_every_kind_of_question_is_asked(lessons):
    kinds = {st.question.kind for les in lessons for st in les.steps if st.question is not None}
    assert kinds == set(lesson_files.KINDS), kinds


def test_every_step_text_is_two_or_three_sentences(lessons):
    for les in lessons:
        for i, st in enumerate(les.steps, 1):
            n = len(re.findall(r"[.!?:](\s|$)", st.look))
            assert 1 <= n <= 4, (les.id, i, st.look)


def test_every_view_parameter_is_read_by_its_page(lessons):
    sidebar = (ROOT / "diffviz" / "app" / "settings.py").read_text()
    for name in lesson_files.SIDEBAR:
        assert f'"{name}"' in sidebar, name
    for page, names in lesson_files.VIEW_PARAMS.items():
        src = page_source(page)
        for name in names:
            prefixed = re.fullmatch(r"([ab]_)(.+)", name)
            literal = f'"{name}"' in src or (name == "step" and "step_param" in src)
            pattern = prefixed and (f'f"{{p}}{re.sub(r"[0-9]+$", "", prefixed.group(2))}{{k}}"' in src
                                    or f'f"{{p}}{prefixed.group(2)}"' in src)
            numbered = re.fullmatch(r"(skip|bb)[0-9]", name) and f'f"{name[:-1]}{{k}}"' in src
            assert literal or pattern or numbered, (page, name)


def test_every_highlight_is_a_panel_of_its_page(lessons):
    for les in lessons:
        for st in les.steps:
            if st.highlight:
                assert f'"{st.highlight}"' in page_source(st.page), (les.id, st.highlight)   # a chart's key
            for key in st.question.hides if st.question else ():
                assert f'"{key}"' in page_source(st.page), (les.id, key)          # a panel the question hides


def test_default_page_is_the_overview():
    """ "/" opens the overview (through its hidden default twin, so /overview opens directly too)."""
    app = (ROOT / "app.py").read_text()
    assert re.search(r'st\.Page\(OVERVIEW, [^)]*default=True', app) and 'OVERVIEW = "pages/overview.py"' in app
    assert re.search(r'st\.Page\("pages/overview\.py", [^)]*url_path="overview"', app)


@pytest.mark.parametrize("data, problem", [
    ("not a mapping", "mapping"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "forward"}, "look": "a."}]}, "2 to 5"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "nowhere"}, "look": "a."}] * 2}, "nowhere"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "forward", "qx": 1}, "look": "a."}] * 2}, "qx"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "forward"}}] * 2}, "look"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "forward"}, "look": "a.",
                                                     "question": {"ask": "?", "kind": "slider", "reveals": "r",
                                                                  "why": "w"}}] * 2}, "range"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "forward"}, "look": "a.",
                                                     "question": {"ask": "?", "kind": "sketch", "reveals": "r",
                                                                  "why": "w"}}] * 2}, "kind"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "forward"}, "look": "a.",
                                                     "question": {"ask": "?", "kind": "click", "reveals": "r",
                                                                  "why": "w"}}] * 2}, "size"),
    ({"id": "x", "order": 1, "title": "t", "steps": [{"view": {"page": "forward"}, "look": "a.",
                                                     "question": {"ask": "?", "kind": "click", "reveals": "r",
                                                                  "why": "w", "size": [8, 8], "level": 2}}] * 2},
     "level"),
])
def test_a_broken_lesson_says_what_is_wrong(data, problem):
    with pytest.raises(LessonError, match=problem):
        parse(data, "broken.yaml")


def test_a_broken_file_is_refused_with_its_name(tmp_path):
    (tmp_path / "a.yaml").write_text("id: [unclosed\n")
    with pytest.raises(LessonError, match="a.yaml"):
        lesson_files.load(tmp_path)
