"""Class mode on a guided lesson (lessons/1-forward.yaml) in AppTest: a teacher and students, end to end.

The teacher starts a class on the lesson; a student's join link brings them to the step's own page
and view; the teacher's Next moves them on (the view changes); the student answers in the class box
(and sees only that before the reveal); the teacher's live count; the reveal shows each student the
truth measured by `lesson_answers` on the class's settings; the CSV; a closed class refuses answers.
"""

from __future__ import annotations

import pytest
from apptest import app, untold_figures

from diffviz.app import class_lessons, lesson_answers, settings
from diffviz.app.classroom import csv_text
from diffviz.classroom.config import open_store
from diffviz.classroom.store import ClassOver

pytestmark = pytest.mark.usefixtures("as_served")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A class database in a temporary folder; every run goes through app.py, as on a server.

    (AppTest raises Streamlit's pages-folder flag before every run, and then runs a page's file alone;
    lowering the flag as the manager starts makes app.py run, so class mode's page changes happen.)
    """
    from streamlit.runtime.pages_manager import PagesManager
    init = PagesManager.__init__

    def __init__(self, *a, **kw):
        init(self, *a, **kw)
        PagesManager.uses_pages_directory = False
    monkeypatch.setattr(PagesManager, "__init__", __init__)
    monkeypatch.setenv("DIFFVIZ_DATA", str(tmp_path))
    monkeypatch.delenv("DIFFVIZ_DB_URL", raising=False)
    return open_store()


def problems(at) -> list[str]:
    assert not at.exception, [e.message for e in at.exception]
    return [e.value for e in at.error]


def box(at) -> str:
    """The class box's text (the markdown above the page)."""
    return "\n".join(m.value for m in at.markdown)


def test_a_class_follows_a_guided_lesson(store):
    teacher = app("pages/class.py", seed=3)
    teacher.selectbox(key="class_lesson").set_value("forward").run()
    assert any("The forward process, step 2 — a question" in m.value for m in teacher.markdown)
    teacher.button(key="class_start").click().run()
    code, key = teacher.query_params["class"], teacher.query_params["key"]
    info = store.info(code)
    assert info.settings["lesson"] == "forward" and info.settings["seed"] == 3 and not problems(teacher)
    assert "step 1 of 3" in box(teacher)

    amy = app("pages/class.py", **{"class": code})                    # the join link
    amy.switch_page("pages/forward.py")            # where the app moved her: AppTest's next runs start there
    token = amy.query_params["me"]
    assert amy.query_params["t"] == "0" and amy.query_params["seed"] == "3"   # step 1's page and view
    assert "Step 1 of 3" in amy.subheader[0].value and not problems(amy)
    assert any("noise ε" in m.value for m in amy.markdown)            # the step's text in the class box

    teacher.button(key="t_next").click().run()
    assert store.info(code).step == 1
    amy.run()                                                          # (a real page polls every 2 s)
    assert "t" not in amy.query_params and "Step 2 of 3" in amy.subheader[0].value   # the view changed
    amy.slider(key="a_forward-2").set_value(300)
    amy.button(key="FormSubmitter:answer_forward-2-Send my answer").click().run()
    assert store.mine(code, token, "forward-2") == "300" and not problems(amy)
    assert any("You answered **300**" in s.value for s in amy.success)
    assert "Measured" not in [m.label for m in amy.metric]             # no truth, no spread before the reveal
    bea = store.join(code)
    store.answer(code, bea.token, "forward-2", 500)
    teacher.run()
    assert "**2 of 2** students answered." in box(teacher)

    teacher.button(key="t_reveal").click().run()
    assert "forward-2" in store.info(code).revealed and "**Revealed.**" in box(teacher)
    s = class_lessons.step_settings(info.settings, {"page": "forward", "model": "mnist"})
    truth = lesson_answers.judge_loses_digit(s, {})                   # the lesson's own measure, same settings
    amy.run()
    got = {m.label: m.value for m in amy.metric}
    assert got["Your answer"] == "300" and got["The class"] == "2 answered" and got["Measured"] == truth.shown
    assert truth.why in box(amy)
    mark = "right" if abs(300 - truth.value) <= 50 else "close" if abs(300 - truth.value) <= 100 else "off"
    assert f"Your answer is {mark}" in box(amy)                         # graded as the lesson box grades

    rows = store.export_rows(code, key)
    assert sorted(r["answer"] for r in rows) == ["300", "500"] and token not in csv_text(rows)
    assert teacher.get("download_button")
    teacher.button(key="t_close").click().run()
    with pytest.raises(ClassOver):
        store.answer(code, token, "forward-2", 200)
    amy.run()
    assert any("closed by its teacher" in w.value for w in amy.warning)


def test_a_student_explores_and_rejoins_the_lesson(store):
    c = class_lessons.settings(settings.Settings("mnist", 0, "ddim", 25, 7, "", 2.0, "class"), "forward")
    new = store.create(class_lessons.questions(c), settings=c)
    store.set_step(new.code, new.key, 2)
    me = store.join(new.code)
    at = app("pages/class.py", **{"class": new.code, "me": me.token})
    at.switch_page("pages/forward.py")
    assert at.query_params["t"] == "500"                              # step 3's view on the forward page
    at.toggle(key="p_follow").set_value(False).run()
    at.slider(key="p_t").set_value(100).run()                         # exploring: the page is theirs
    store.set_step(new.code, new.key, 0)
    at.run()
    assert at.query_params["t"] == "100" and at.query_params["follow"] == "false"
    at.toggle(key="p_follow").set_value(True).run()                   # rejoin: the teacher's step and view
    assert at.query_params["t"] == "0" and "Step 1 of 3" in at.subheader[0].value and not problems(at)


def test_a_class_click_question_has_its_numbers_like_every_chart(store):
    """A click question in class mode (the attention lesson's first step): the student's clickable
    image has its text alternative below it, as every other chart of the page has."""
    teacher = app("pages/class.py", seed=3)
    teacher.selectbox(key="class_lesson").set_value("attention").run()
    teacher.button(key="class_start").click().run()
    code = teacher.query_params["class"]
    amy = app("pages/class.py", **{"class": code})
    amy.switch_page("pages/attention.py")
    amy.run()
    assert not problems(amy)
    assert any(c.proto.id.endswith("-click_attention-1") for c in amy.get("plotly_chart"))   # the clickable image
    assert untold_figures(amy) == []
