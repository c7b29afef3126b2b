"""The class store: classes, students, answers and reveals, in SQLite or PostgreSQL (`backends`).

Who may do what is decided here, not by the page that calls it:
- anyone with a class's code may read its public state (`info`) and `join` it;
- a student (their token) may `rename` themself, `answer` until the question is revealed and the
  class is open, read their own answer (`mine`) and, only after the reveal, the class's (`result`);
- the teacher (the key) may `set_step`, `tally` at any time, `reveal`, `reset`, `export_rows`, `close`.
Every query names the class's code, and a student's token belongs to one class only: one class's
data never shows in another's. Each refusal is a `ClassError` whose message can be shown as it is.
"""

from __future__ import annotations

import json
import time

from diffviz.classroom import codes
from diffviz.classroom.errors import (
    AnswerRefused,
    ClassError,
    ClassOver,
    UnknownClass,
    UnknownStudent,
    WrongKey,
)
from diffviz.classroom.limits import RateLimiter, TooMany
from diffviz.classroom.questions import BadAnswer, dumps, loads
from diffviz.classroom.records import ClassInfo, NewClass, Student, Tally  # noqa: F401 (the store's records)

HOURS = 12                      # a class expires this long after it starts
MAX_STUDENTS = 500              # joins beyond this are refused (a flood from many sessions)
LIMITS = {"join": (5, 60.0), "answer": (30, 60.0), "rename": (10, 60.0), "class": (5, 600.0)}


class ClassStore:
    """The store over one backend; ``clock`` (seconds) is injectable for expiry tests."""

    def __init__(self, backend, clock=time.time, limits: dict | None = None):
        self.backend = backend
        self.clock = clock
        self.limiter = RateLimiter(limits if limits is not None else LIMITS)

    # ------------------------------------------------------------ helpers

    def _limit(self, action: str, session) -> None:
        try:
            self.limiter.hit(action, session)
        except TooMany as e:
            raise ClassError(str(e)) from None

    def _class_row(self, db, code: str):
        canon = codes.normalise_code(code)
        rows = db.query("SELECT code, key_hash, title, settings, questions, step, created, expires, closed "
                        "FROM classes WHERE code = ?", (canon,)) if canon else []
        if not rows:
            raise UnknownClass("No class has this code. Check the code (8 letters and digits) or ask your "
                               "teacher for the link again.")
        return rows[0]

    def _teacher(self, db, code: str, key: str):
        row = self._class_row(db, code)
        if not codes.looks_like_token(key) or not codes.same_digest(key, row[1]):
            raise WrongKey("This link's teacher key does not fit this class: only the teacher's own link can "
                           "do that.")
        return row

    def _student(self, db, code: str, token: str):
        row = self._class_row(db, code)
        found = db.query("SELECT token_hash, name FROM students WHERE token_hash = ? AND code = ?",
                         (codes.digest(token), row[0])) if codes.looks_like_token(token) else []
        if not found:
            raise UnknownStudent("This link's student token does not belong to this class. Join again with "
                                 "the class's code.")
        return row, found[0]

    def _open(self, row) -> None:
        if row[8] is not None:
            raise ClassOver("This class has been closed by its teacher: it takes no more answers.")
        if self.clock() >= row[7]:
            raise ClassOver("This class has expired: it takes no more answers.")

    # ------------------------------------------------------------ anyone

    def create(self, questions, settings: dict | None = None, title: str = "", hours: float = HOURS,
               session=None, truths: dict | None = None) -> NewClass:
        """Start a class with these questions; returns its code and the teacher key (never stored).

        ``truths`` (question id -> JSON-able, measured when the class starts) are kept with the class and
        shown with the answers only after each question's reveal (`Tally.truth`).
        """
        self._limit("class", session)
        qs, truths = list(questions), dict(truths or {})
        if len({q.id for q in qs}) != len(qs) or not set(truths) <= {q.id for q in qs}:
            raise ValueError("two questions share an id, or a truth names no question")
        key, now = codes.new_key(), self.clock()
        for _ in range(5):                                   # a clash is a 1-in-10^11 event; try again
            code = codes.new_code()
            with self.backend.transaction() as db:
                if db.query("SELECT 1 FROM classes WHERE code = ?", (code,)):
                    continue
                db.execute("INSERT INTO classes (code, key_hash, title, settings, questions, step, created, "
                           "expires) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                           (code, codes.digest(key), str(title)[:120], json.dumps(settings or {}, sort_keys=True),
                            dumps(qs), now, now + hours * 3600))
                for qid, t in truths.items():
                    db.execute("INSERT INTO truths (code, question, truth) VALUES (?, ?, ?)", (code, qid, json.dumps(t)))
            return NewClass(code, key)
        raise ClassError("Could not find a free class code; try again.")

    def info(self, code: str) -> ClassInfo:
        """The class's public state (UnknownClass for a wrong or tampered code)."""
        with self.backend.transaction() as db:
            row = self._class_row(db, code)
            revealed = db.query("SELECT question FROM reveals WHERE code = ?", (row[0],))
            n = db.query("SELECT COUNT(*) FROM students WHERE code = ?", (row[0],))[0][0]
        return ClassInfo(row[0], row[2], json.loads(row[3]), loads(row[4]), int(row[5]),
                         frozenset(r[0] for r in revealed), float(row[6]), float(row[7]),
                         None if row[8] is None else float(row[8]), int(n))

    def join(self, code: str, session=None) -> Student:
        """A new anonymous student in this class (refused when it is over or full)."""
        self._limit("join", session)
        token, name = codes.new_token(), codes.anonymous_name()
        with self.backend.transaction() as db:
            row = self._class_row(db, code)
            self._open(row)
            if db.query("SELECT COUNT(*) FROM students WHERE code = ?", (row[0],))[0][0] >= MAX_STUDENTS:
                raise ClassError(f"This class is full ({MAX_STUDENTS} students).")
            db.execute("INSERT INTO students (token_hash, code, name, joined) VALUES (?, ?, ?, ?)",
                       (codes.digest(token), row[0], name, self.clock()))
        return Student(token, name)

    # ------------------------------------------------------------ a student

    def student(self, code: str, token: str) -> Student:
        """The student this token belongs to in this class (their current name)."""
        with self.backend.transaction() as db:
            _, st = self._student(db, code, token)
        return Student(token, st[1])

    def rename(self, code: str, token: str, name: str, session=None) -> str:
        """Give the student a name of their choice (1-30 printable characters); returns it as stored."""
        self._limit("rename", session)
        clean = codes.clean_name(name)
        if clean is None:
            raise ClassError("A name needs at least one letter or digit.")
        with self.backend.transaction() as db:
            _, st = self._student(db, code, token)
            db.execute("UPDATE students SET name = ? WHERE token_hash = ?", (clean, st[0]))
        return clean

    def answer(self, code: str, token: str, question_id: str, value, session=None) -> str:
        """Record (or change) this student's answer; returns it as stored.

        Refused, with the reason: an unknown question, an answer out of range, a revealed question,
        a closed or expired class, too many answers from one session.
        """
        self._limit("answer", session)
        with self.backend.transaction() as db:
            row, st = self._student(db, code, token)
            self._open(row)
            q = loads(row[4]).get(str(question_id))
            if q is None:
                raise AnswerRefused("This class has no such question.")
            try:
                text = q.parse(value)
            except BadAnswer as e:
                raise AnswerRefused(f"Answer refused: {e}") from None
            if db.query("SELECT 1 FROM reveals WHERE code = ? AND question = ?", (row[0], q.id)):
                raise AnswerRefused("The answers to this question have been revealed: it takes no more answers.")
            db.execute("INSERT INTO answers (token_hash, question, code, value, answered) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (token_hash, question) DO UPDATE SET value = excluded.value, "
                       "answered = excluded.answered", (st[0], q.id, row[0], text, self.clock()))
        return text

    def mine(self, code: str, token: str, question_id: str) -> str | None:
        """This student's answer to the question, or None."""
        with self.backend.transaction() as db:
            row, st = self._student(db, code, token)
            got = db.query("SELECT value FROM answers WHERE token_hash = ? AND question = ? AND code = ?",
                           (st[0], str(question_id), row[0]))
        return got[0][0] if got else None

    def result(self, code: str, token: str, question_id: str) -> Tally:
        """The class's answers, for a student: only once the teacher has revealed the question."""
        with self.backend.transaction() as db:
            row, _ = self._student(db, code, token)
            if not db.query("SELECT 1 FROM reveals WHERE code = ? AND question = ?", (row[0], str(question_id))):
                raise ClassError("The class's answers are shown after the teacher reveals them.")
            return self._tally(db, row, question_id)

    # ------------------------------------------------------------ the teacher

    def check_key(self, code: str, key: str) -> bool:
        """True when ``key`` is this class's teacher key; WrongKey (or UnknownClass) otherwise."""
        with self.backend.transaction() as db:
            self._teacher(db, code, key)
        return True

    def set_step(self, code: str, key: str, step: int) -> None:
        """Move the class to lesson step ``step`` (the students' pages follow)."""
        with self.backend.transaction() as db:
            row = self._teacher(db, code, key)
            db.execute("UPDATE classes SET step = ? WHERE code = ?", (max(0, int(step)), row[0]))

    def tally(self, code: str, key: str, question_id: str) -> Tally:
        """The class's answers so far (the teacher's live view)."""
        with self.backend.transaction() as db:
            return self._tally(db, self._teacher(db, code, key), question_id)

    def _tally(self, db, row, question_id) -> Tally:
        q = loads(row[4]).get(str(question_id))
        if q is None:
            raise ClassError("This class has no such question.")
        values = [r[0] for r in db.query("SELECT value FROM answers WHERE code = ? AND question = ?",
                                         (row[0], q.id))]
        truth = db.query("SELECT t.truth FROM truths t JOIN reveals r ON r.code = t.code AND r.question = t.question "
                         "WHERE t.code = ? AND t.question = ?", (row[0], q.id))
        truth = json.loads(truth[0][0]) if truth else None
        if q.kind == "click":
            return Tally(q, len(values), points=tuple(q.value(v) for v in values), truth=truth)
        keys = list(q.options) if q.kind == "choice" else sorted(set(values), key=float)
        counts = {k: 0 for k in keys}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        return Tally(q, len(values), counts=counts, truth=truth)

    def reveal(self, code: str, key: str, question_id: str) -> None:
        """Show the class's answers and the truth to everyone; the question takes no more answers."""
        with self.backend.transaction() as db:
            row = self._teacher(db, code, key)
            if str(question_id) not in loads(row[4]):
                raise ClassError("This class has no such question.")
            db.execute("INSERT INTO reveals (code, question, revealed) VALUES (?, ?, ?) "
                       "ON CONFLICT (code, question) DO NOTHING", (row[0], str(question_id), self.clock()))

    def reset(self, code: str, key: str, question_id: str) -> None:
        """Forget a question's answers and its reveal (to ask it again)."""
        with self.backend.transaction() as db:
            row = self._teacher(db, code, key)
            db.execute("DELETE FROM answers WHERE code = ? AND question = ?", (row[0], str(question_id)))
            db.execute("DELETE FROM reveals WHERE code = ? AND question = ?", (row[0], str(question_id)))

    def export_rows(self, code: str, key: str) -> list[dict]:
        """Every answer of the class, one dict per answer (for a CSV): no tokens, no key."""
        with self.backend.transaction() as db:
            row = self._teacher(db, code, key)
            got = db.query("SELECT s.token_hash, s.name, a.question, a.value, a.answered FROM answers a "
                           "JOIN students s ON s.token_hash = a.token_hash "
                           "WHERE a.code = ? AND s.code = ? ORDER BY a.question, s.name, a.answered",
                           (row[0], row[0]))
        return [{"class": row[0], "student": h[:8], "name": name, "question": q, "answer": v,
                 "answered_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))}
                for h, name, q, v, t in got]

    def close(self, code: str, key: str) -> None:
        """End the class: no more joins or answers (its answers stay readable to the teacher)."""
        with self.backend.transaction() as db:
            row = self._teacher(db, code, key)
            db.execute("UPDATE classes SET closed = ? WHERE code = ? AND closed IS NULL", (self.clock(), row[0]))
