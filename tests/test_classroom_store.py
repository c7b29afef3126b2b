"""The class store on SQLite and on a real PostgreSQL server: who may do what, answers, reveals, floods.

The PostgreSQL runs need ``DIFFVIZ_TEST_PG_URL`` (`.ci/postgres start` prints it): without it they
fail under CI (``CI`` set) and are skipped elsewhere; a URL that does not connect always fails.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from diffviz.classroom import codes
from diffviz.classroom.backends import PostgresBackend, SQLiteBackend
from diffviz.classroom.config import open_store
from diffviz.classroom.questions import Question
from diffviz.classroom.store import (
    AnswerRefused,
    ClassError,
    ClassOver,
    ClassStore,
    UnknownClass,
    UnknownStudent,
    WrongKey,
)

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    Question("digit", "choice", "Which digit?", options=tuple("0123456789")),
    Question("settle", "slider", "At which step?", lo=0, hi=24, step=1),
    Question("where", "click", "Click the middle", width=28, height=28),
]


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _pg_url() -> str:
    url = os.environ.get("DIFFVIZ_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("DIFFVIZ_TEST_PG_URL is not set: .ci/run must start PostgreSQL (.ci/postgres start)",
                        pytrace=False)
        pytest.skip("no PostgreSQL server (eval \"$(.ci/postgres start)\" starts one)")
    return url


@pytest.fixture(scope="module")
def pg_fresh():
    """Once per run: the test database emptied, so the store creates its tables itself."""
    url = _pg_url()
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS answers, reveals, students, classes")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def make(request, tmp_path):
    """A factory of stores on one database (each call: a new store object, as after a restart)."""
    made = []

    def factory(**kw) -> ClassStore:
        if request.param == "sqlite":
            s = ClassStore(SQLiteBackend(tmp_path / "data" / "classes.sqlite3"), **kw)
        else:
            s = ClassStore(PostgresBackend(request.getfixturevalue("pg_fresh")), **kw)
        made.append(s)
        return s
    yield factory
    for s in made:
        s.backend.close()


@pytest.fixture
def store(make) -> ClassStore:
    return make()


def test_codes_and_keys_are_random_and_stored_hashed(store):
    a, b = store.create(QUESTIONS), store.create(QUESTIONS)
    assert a.code != b.code and a.key != b.key
    assert codes.normalise_code(a.code) == a.code and len(a.code) == 8
    assert not set(a.code) & set("0O1IL")
    assert len(a.key) >= 22                                   # 128 bits, URL-safe base64
    with store.backend.transaction() as db:
        stored = db.query("SELECT key_hash FROM classes WHERE code = ?", (a.code,))[0][0]
    assert stored != a.key and stored == codes.digest(a.key)
    assert store.info(a.code.lower()).code == a.code          # typed in lower case: the same class


def test_join_rename_and_identity_from_the_token(store):
    c = store.create(QUESTIONS)
    s = store.join(c.code)
    assert s.name and store.student(c.code, s.token).name == s.name
    assert store.rename(c.code, s.token, "  Ada \n L. ") == "Ada L."
    assert store.student(c.code, s.token).name == "Ada L."
    with pytest.raises(ClassError, match="at least one"):
        store.rename(c.code, s.token, " \t ")
    with pytest.raises(UnknownStudent):
        store.student(c.code, codes.new_token())
    assert store.info(c.code).students == 1


def test_answers_are_checked_stored_once_and_changeable(store):
    c = store.create(QUESTIONS)
    s = store.join(c.code)
    assert store.answer(c.code, s.token, "digit", "7") == "7"
    assert store.answer(c.code, s.token, "digit", "3") == "3"       # changed, still one answer
    assert store.answer(c.code, s.token, "settle", 12.0) == "12"
    assert store.answer(c.code, s.token, "where", (13.26, 20)) == "13.3,20.0"
    assert store.mine(c.code, s.token, "digit") == "3"
    assert store.tally(c.code, c.key, "digit").n == 1
    for qid, bad, why in [("digit", "11", "not one of"), ("settle", 25, "outside"), ("settle", "2.5", "steps"),
                          ("settle", "nan", "finite"), ("where", "40,3", "outside"), ("where", "x", "two numbers"),
                          ("nope", "1", "no such question")]:
        with pytest.raises(AnswerRefused, match=why):
            store.answer(c.code, s.token, qid, bad)
    assert store.mine(c.code, s.token, "settle") == "12"            # a refused answer harms nothing


def test_students_see_the_class_only_after_the_reveal(store):
    c = store.create(QUESTIONS)
    s1, s2 = store.join(c.code), store.join(c.code)
    store.answer(c.code, s1.token, "digit", "7")
    store.answer(c.code, s2.token, "digit", "1")
    with pytest.raises(ClassError, match="after the teacher reveals"):
        store.result(c.code, s1.token, "digit")
    store.reveal(c.code, c.key, "digit")
    assert "digit" in store.info(c.code).revealed
    got = store.result(c.code, s1.token, "digit")
    assert got.n == 2 and got.counts["7"] == 1 and got.counts["1"] == 1 and got.counts["0"] == 0
    with pytest.raises(AnswerRefused, match="revealed"):
        store.answer(c.code, s1.token, "digit", "2")
    store.reset(c.code, c.key, "digit")                              # ask again
    assert store.tally(c.code, c.key, "digit").n == 0 and "digit" not in store.info(c.code).revealed
    assert store.answer(c.code, s1.token, "digit", "2") == "2"


def test_only_the_teacher_key_can_steer_reveal_export_close(store):
    c = store.create(QUESTIONS)
    other = store.create(QUESTIONS)
    for key in (other.key, codes.new_key(), "", "x' OR '1'='1", c.key[:-1]):
        for act in (lambda k: store.set_step(c.code, k, 2), lambda k: store.tally(c.code, k, "digit"),
                    lambda k: store.reveal(c.code, k, "digit"), lambda k: store.reset(c.code, k, "digit"),
                    lambda k: store.export_rows(c.code, k), lambda k: store.close(c.code, k)):
            with pytest.raises(WrongKey):
                act(key)
    info = store.info(c.code)
    assert info.step == 0 and not info.revealed and info.closed is None      # nothing happened
    for bad in ("ZZZZZZZZ", "", "<script>", "A" * 500, c.code + "X"):
        with pytest.raises(UnknownClass, match="No class has this code"):
            store.info(bad)
    store.set_step(c.code, c.key, 2)
    assert store.info(c.code).step == 2


def test_one_class_never_sees_another(store):
    a, b = store.create(QUESTIONS), store.create(QUESTIONS)
    sa = store.join(a.code)
    store.answer(a.code, sa.token, "digit", "7")
    with pytest.raises(UnknownStudent):
        store.answer(b.code, sa.token, "digit", "7")                 # A's token means nothing in B
    assert store.tally(b.code, b.key, "digit").n == 0 and store.export_rows(b.code, b.key) == []
    assert store.info(b.code).students == 0
    rows = store.export_rows(a.code, a.key)
    assert [r["answer"] for r in rows] == ["7"] and {r["class"] for r in rows} == {a.code}
    assert sa.token not in str(rows) and a.key not in str(rows)


def test_closed_and_expired_classes_refuse_answers(make):
    clock = Clock()
    store = make(clock=clock)
    c = store.create(QUESTIONS, hours=1)
    s = store.join(c.code)
    store.answer(c.code, s.token, "digit", "7")
    clock.t += 3601
    with pytest.raises(ClassOver, match="expired"):
        store.answer(c.code, s.token, "digit", "8")
    with pytest.raises(ClassOver, match="expired"):
        store.join(c.code)
    d = store.create(QUESTIONS)
    sd = store.join(d.code)
    store.close(d.code, d.key)
    with pytest.raises(ClassOver, match="closed"):
        store.answer(d.code, sd.token, "digit", "1")
    assert store.info(d.code).over(clock()) == "closed"
    assert store.mine(c.code, s.token, "digit") == "7" and len(store.export_rows(c.code, c.key)) == 1


def test_floods_from_one_session_are_refused(store):
    c = store.create(QUESTIONS)
    for _ in range(5):
        store.join(c.code, session="tab-1")
    with pytest.raises(ClassError, match="Too many joins"):
        store.join(c.code, session="tab-1")
    with pytest.raises(ClassError, match="Too many joins"):
        store.join("ZZZZZZZZ", session="tab-1")                      # guessing codes counts too
    s = store.join(c.code, session="tab-2")                          # another session is not harmed
    for i in range(30):
        store.answer(c.code, s.token, "settle", i % 25, session="tab-2")
    with pytest.raises(ClassError, match="Too many answers"):
        store.answer(c.code, s.token, "settle", 3, session="tab-2")
    assert store.mine(c.code, s.token, "settle") == "4"              # the last accepted answer stands
    assert store.tally(c.code, c.key, "settle").n == 1


def _forward_question() -> Question:
    """The guided lesson "forward"'s question (a slider over t), as class mode hands it to the store."""
    from diffviz.app import class_lessons
    c = {"lesson": "forward", "model": "mnist", "seed": 0, "sampler": "ddim", "steps": 25, "label": 7,
         "prompt": "a large red circle at the top left", "guidance": 2.0}
    return class_lessons.questions(c)[0]


@pytest.mark.parametrize("lesson", ["built-in", "yaml"])
def test_thirty_students_answer_at_once(store, lesson):
    qs = QUESTIONS if lesson == "built-in" else [_forward_question()]
    qid = qs[0].id
    c = store.create(qs)
    students = [store.join(c.code) for _ in range(30)]
    sent = [str(i % 7) if lesson == "built-in" else str(i % 7 * 100) for i in range(30)]
    barrier, errors = threading.Barrier(30), []

    def answer(s, v):
        try:
            barrier.wait()
            store.answer(c.code, s.token, qid, v, session=s.token)
        except Exception as e:                                     # noqa: BLE001 (reported below)
            errors.append(repr(e))
    threads = [threading.Thread(target=answer, args=(s, v)) for s, v in zip(students, sent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    tally = store.tally(c.code, c.key, qid)
    assert tally.n == 30 and len(store.export_rows(c.code, c.key)) == 30
    assert {k: v for k, v in tally.counts.items() if v} == dict(Counter(sent))


def test_truths_show_only_after_the_reveal(store):
    truth = {"value": "90", "shown": "t = 90", "why": "measured"}
    c = store.create(QUESTIONS, truths={"settle": truth})
    s = store.join(c.code)
    store.answer(c.code, s.token, "settle", 3)
    assert store.tally(c.code, c.key, "settle").truth is None                # not even on the projector
    store.reveal(c.code, c.key, "settle")
    assert store.tally(c.code, c.key, "settle").truth == truth
    assert store.result(c.code, s.token, "settle").truth == truth
    assert store.tally(c.code, c.key, "digit").truth is None                 # no truth stored for it
    other = store.create(QUESTIONS)
    store.reveal(other.code, other.key, "settle")
    assert store.tally(other.code, other.key, "settle").truth is None        # one class's truth stays its own
    store.reset(c.code, c.key, "settle")
    assert store.tally(c.code, c.key, "settle").truth is None
    with pytest.raises(ValueError):
        store.create(QUESTIONS, truths={"nope": truth})


def test_a_flood_cannot_fill_the_database(store):
    """However many answers one student sends (from any number of sessions), one row per question."""
    c = store.create(QUESTIONS)
    s = store.join(c.code)
    for i in range(200):
        store.answer(c.code, s.token, "settle", i % 25, session=f"tab-{i}")
    with store.backend.transaction() as db:
        rows = db.query("SELECT COUNT(*) FROM answers WHERE code = ?", (c.code,))[0][0]
    assert rows == 1 and store.mine(c.code, s.token, "settle") == str(199 % 25)


def test_clicks_and_slider_tallies(store):
    c = store.create(QUESTIONS)
    for v, p in [(3, (1, 2)), (3, (5.5, 6)), (10, (27, 0))]:
        s = store.join(c.code)
        store.answer(c.code, s.token, "settle", v)
        store.answer(c.code, s.token, "where", p)
    assert store.tally(c.code, c.key, "settle").counts == {"3": 2, "10": 1}
    assert sorted(store.tally(c.code, c.key, "where").points) == [(1.0, 2.0), (5.5, 6.0), (27.0, 0.0)]


def test_nothing_answered_is_lost_on_restart(make):
    first = make()
    c = first.create(QUESTIONS, settings={"model": "mnist"}, title="Period 3")
    s = first.join(c.code)
    first.answer(c.code, s.token, "where", "4,5")
    first.reveal(c.code, c.key, "where")
    first.backend.close()
    again = make()                                                   # a new process would do the same
    info = again.info(c.code)
    assert info.title == "Period 3" and info.settings == {"model": "mnist"} and "where" in info.revealed
    assert again.mine(c.code, s.token, "where") == "4.0,5.0"
    assert set(info.questions) == {"digit", "settle", "where"}


def test_an_answer_survives_the_server_process_dying(make, tmp_path):
    """A child process answers and is killed at once (os._exit: no close, no clean-up); the answer is there."""
    import json
    import subprocess
    import sys
    store = make()
    url = (f"sqlite:///{store.backend.path}" if isinstance(store.backend, SQLiteBackend) else store.backend.url)
    child = (
        "import json, os, sys\n"
        "from diffviz.classroom.config import open_store\n"
        "from diffviz.classroom.questions import Question\n"
        "s = open_store(sys.argv[1])\n"
        "c = s.create([Question('digit', 'choice', options=tuple('0123456789'))])\n"
        "me = s.join(c.code)\n"
        "s.answer(c.code, me.token, 'digit', '6')\n"
        "print(json.dumps([c.code, c.key, me.token]), flush=True)\n"
        "os._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", child, url], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    code, key, token = json.loads(out.stdout)
    assert store.mine(code, token, "digit") == "6" and store.tally(code, key, "digit").n == 1


def test_open_store_from_config(tmp_path, monkeypatch):
    monkeypatch.delenv("DIFFVIZ_DB_URL", raising=False)
    monkeypatch.setenv("DIFFVIZ_DATA", str(tmp_path / "d"))
    s = open_store()
    assert isinstance(s.backend, SQLiteBackend) and s.backend.path == tmp_path / "d" / "classes.sqlite3"
    with s.backend.transaction() as db:
        assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    with pytest.raises(ValueError, match="postgresql://"):
        open_store("mysql://x")


def test_question_definitions_are_checked():
    with pytest.raises(ValueError):
        Question("Bad Id", "choice", options=("a", "b"))
    with pytest.raises(ValueError):
        Question("q", "choice", options=("a",))
    with pytest.raises(ValueError):
        Question("q", "slider", lo=3, hi=3)
    with pytest.raises(ValueError):
        Question("q", "sketch")
    q = Question("q", "slider", lo=0, hi=1, step=0.25)
    assert q.parse("0.5") == "0.5" and Question.from_json(q.to_json()) == q
