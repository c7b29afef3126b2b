"""What the class store hands back: a new class, a student, a class's public state, a question's tally."""

from __future__ import annotations

from dataclasses import dataclass, field

from diffviz.classroom.questions import Question


@dataclass(frozen=True)
class NewClass:
    """A class just started: its code and the teacher key (the key is shown once, never stored)."""

    code: str
    key: str                    # shown once, to the teacher, in their own link


@dataclass(frozen=True)
class Student:
    """A student of one class: their token (in their own link) and their current name."""

    token: str
    name: str


@dataclass(frozen=True)
class ClassInfo:
    """What anyone with the code may know: no answers, no key."""

    code: str
    title: str
    settings: dict
    questions: dict             # id -> Question
    step: int
    revealed: frozenset         # question ids
    created: float
    expires: float
    closed: float | None
    students: int

    def over(self, now: float) -> str | None:
        """Why the class takes no more answers ("closed" / "expired"), or None while it runs."""
        if self.closed is not None:
            return "closed"
        return "expired" if now >= self.expires else None


@dataclass(frozen=True)
class Tally:
    """The class's answers to one question: how many, and their spread."""

    question: Question
    n: int
    counts: dict = field(default_factory=dict)       # choice/slider: answer text -> count (display order)
    points: tuple = ()                               # click: (x, y) of every click
    truth: object = None                             # the truth stored at the start, once revealed (else None)
