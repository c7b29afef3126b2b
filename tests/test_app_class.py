"""The "Teach a class" page in AppTest: bad links refused with a clear message, roles kept apart.

Every run uses a class database in a temporary folder (DIFFVIZ_DATA). Streamlit's pages-folder shim
(`settings._leave_pages_folder_mode`) is switched off: AppTest raises its flag before every run, and
the shim's rerun would swallow a button click (a real server lowers the flag once, for good).
"""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app

from diffviz.app import class_lesson as lesson
from diffviz.app import settings
from diffviz.classroom import codes
from diffviz.classroom.config import open_store
from diffviz.classroom.store import ClassOver

pytestmark = pytest.mark.usefixtures("as_served")

C = {"model": "mnist", "seed": 0, "sampler": "ddim", "steps": 25, "label": 7, "guidance": 2.0}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFVIZ_DATA", str(tmp_path))
    monkeypatch.delenv("DIFFVIZ_DB_URL", raising=False)
    monkeypatch.setattr(settings, "_leave_pages_folder_mode", lambda: None)
    return open_store()


def messages(at) -> list[str]:
    assert not at.exception, [e.message for e in at.exception]
    return [e.value for e in at.error] + [w.value for w in at.warning]


def test_a_forged_or_malformed_code_is_refused(store):
    at = app("pages/class.py", **{"class": "ZZZZZZZZ"})
    assert any("No class has this code" in m for m in messages(at))
    assert at.text_input(key="class_code") is not None                  # the join box is offered
    at = app("pages/class.py", **{"class": "<b>x</b>"})
    assert any("is not a class code" in m and "<b>" not in m for m in messages(at))


def test_a_forged_key_gets_nothing_of_the_teacher(store):
    new = store.create(lesson.questions(C), settings=C)
    for key in (codes.new_key(), "short", new.key + "x"):
        at = app("pages/class.py", **{"class": new.code, "key": key})
        assert any("teacher key does not fit" in m for m in messages(at))
        assert not [b for b in at.button if b.key in ("t_next", "t_reveal", "t_reset", "t_close")]
        assert not at.get("download_button")
    assert store.info(new.code).step == 0 and not store.info(new.code).revealed


def test_the_teacher_steers_and_reveals(store):
    at = app("pages/class.py")
    at.button(key="class_start").click().run()
    code = at.query_params["class"]
    assert codes.looks_like_token(at.query_params["key"])
    assert at.title[0].value == f"Class {code}" and not messages(at)
    at.button(key="t_next").click().run()
    assert store.info(code).step == 1
    at.button(key="t_reveal").click().run()
    assert "first-read" in store.info(code).revealed
    assert any("Revealed." in m.value for m in at.markdown)


def test_a_student_answers_and_sees_only_that_before_the_reveal(store):
    new = store.create(lesson.questions(C), settings=C)
    store.set_step(new.code, new.key, 1)
    at = app("pages/class.py", **{"class": new.code})                   # the join link
    token = at.query_params["me"]
    assert store.student(new.code, token).name
    at.radio(key="a_first-read").set_value("4")
    at.button(key="FormSubmitter:answer_first-read-Send my answer").click().run()
    assert store.mine(new.code, token, "first-read") == "4"
    assert any("You answered **4**" in s.value for s in at.success)
    assert not at.metric and not messages(at)
    store.reveal(new.code, new.key, "first-read")
    at = app("pages/class.py", **{"class": new.code, "me": token})
    assert [m.value for m in at.metric][:2] == ["4", "1 answered"]
    assert at.metric[2].value == lesson.truth(C).of("first-read")


def test_an_answer_after_close_is_refused(store):
    new = store.create(lesson.questions(C), settings=C)
    me = store.join(new.code)
    store.set_step(new.code, new.key, 1)
    store.close(new.code, new.key)
    at = app("pages/class.py", **{"class": new.code, "me": me.token})
    assert any("closed by its teacher" in m for m in messages(at))
    assert not at.get("form") and not [r for r in at.radio if r.key == "a_first-read"]
    with pytest.raises(ClassOver):
        store.answer(new.code, me.token, "first-read", "4")
    at = app("pages/class.py", **{"class": new.code})                  # nobody joins a closed class
    assert any("closed by its teacher" in m for m in messages(at)) and "me" not in at.query_params


def test_a_forged_student_token_is_refused(store):
    new = store.create(lesson.questions(C), settings=C)
    at = app("pages/class.py", **{"class": new.code, "me": codes.new_token()})
    assert any("student token does not belong" in m for m in messages(at))
    assert at.button(key="s_rejoin") is not None


def test_the_truths_are_measured_on_the_class_run():
    """The revealed truths are the judge's readings of the class's own run, and move with its seed."""
    from diffviz.diffusion import sampling
    from diffviz.evaluation import judge
    from diffviz.model import zoo
    model, _ = zoo.load("mnist")
    seen = set()
    for seed in (0, 1, 2):
        c = dict(C, seed=seed, steps=10)
        t = lesson.truth(c)
        tr = sampling.run(model, [7], sampler="ddim", steps=10, guidance=2.0, seeds=[seed])
        reads = judge.classify(tr.pred_x0[:, 0].astype(np.float32))
        assert t.reads == tuple(int(r) for r in reads)
        assert t.of("first-read") == str(reads[0])
        if t.settle is not None:
            assert all(r == 7 for r in reads[t.settle:]) and (t.settle == 0 or reads[t.settle - 1] != 7)
        seen.add((t.reads, t.centre))
    assert len(seen) == 3


def test_a_student_explores_freely_and_rejoins(store):
    new = store.create(lesson.questions(C), settings=C)
    me = store.join(new.code)
    at = app("pages/class.py", **{"class": new.code, "me": me.token})
    assert at.subheader[0].value.startswith("Step 1 of 4")
    at.toggle(key="p_follow").set_value(False).run()
    assert at.query_params["follow"] == "false"
    at.select_slider(key="p_lstep").set_value(3).run()
    assert at.subheader[0].value.startswith("Step 4 of 4") and store.info(new.code).step == 0
    at.toggle(key="p_follow").set_value(True).run()                  # rejoin: the teacher's step again
    assert at.subheader[0].value.startswith("Step 1 of 4") and not messages(at)


def test_a_slider_answer_goes_through_the_form(store):
    new = store.create(lesson.questions(C), settings=C)
    me = store.join(new.code)
    store.set_step(new.code, new.key, 2)
    at = app("pages/class.py", **{"class": new.code, "me": me.token})
    at.slider(key="a_settle-step").set_value(5)
    at.button(key="FormSubmitter:answer_settle-step-Send my answer").click().run()
    assert store.mine(new.code, me.token, "settle-step") == "5" and not messages(at)
    store.reveal(new.code, new.key, "settle-step")
    at = app("pages/class.py", **{"class": new.code, "me": me.token})
    truth = lesson.truth(C)
    assert at.metric[2].value == (truth.of("settle-step") or "never")
    assert len(at.get("image")) == 1                                  # the guesses with the judge's readings
