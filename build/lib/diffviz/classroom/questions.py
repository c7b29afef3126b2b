"""The question interface class mode needs: an id, a kind and what a valid answer is.

A lesson (built in, or one of ``lessons/*.yaml``) hands the store its questions as `Question`s when a
class starts; the store keeps them with the class and checks every answer against them, so an answer
out of range is refused however it was sent. Answers are stored as short canonical text:

    choice   one of ``options``                  "7"
    slider   a number in lo..hi on the step grid  "12"  (formatted with :g)
    click    a point on a width × height image    "13.5,20.0"  (x to the right, y down, in pixels)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field

KINDS = ("choice", "slider", "click")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class BadAnswer(ValueError):
    """An answer that does not fit its question (the message says what would)."""


@dataclass(frozen=True)
class Question:
    """One predict-then-reveal question: what the store must know to check and count answers."""

    id: str                                    # stable within a lesson, e.g. "settle-step"
    kind: str                                  # "choice" | "slider" | "click"
    prompt: str = ""                           # the question as the class reads it
    options: tuple[str, ...] = ()              # choice: the options, in display order
    lo: float = 0.0                            # slider: the range and its step
    hi: float = 0.0
    step: float = 1.0
    width: int = 0                             # click: the image's size in pixels
    height: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)   # the lesson's own notes

    def __post_init__(self):
        if not _ID.match(self.id):
            raise ValueError(f"question id {self.id!r}: 1-64 characters a-z 0-9 . _ -")
        if self.kind not in KINDS:
            raise ValueError(f"question {self.id}: kind {self.kind!r} is not one of {KINDS}")
        if self.kind == "choice" and (len(self.options) < 2 or len(set(self.options)) != len(self.options)):
            raise ValueError(f"question {self.id}: a choice needs two or more distinct options")
        if self.kind == "slider" and not (self.hi > self.lo and self.step > 0):
            raise ValueError(f"question {self.id}: a slider needs lo < hi and step > 0")
        if self.kind == "click" and not (self.width > 0 and self.height > 0):
            raise ValueError(f"question {self.id}: a click question needs the image's width and height")

    def parse(self, value) -> str:
        """The canonical text of a valid answer; `BadAnswer` with a clear message otherwise."""
        if self.kind == "choice":
            text = str(value)
            if text not in self.options:
                raise BadAnswer(f"“{text[:40]}” is not one of the options ({', '.join(self.options)}).")
            return text
        if self.kind == "slider":
            v = _number(value)
            if not self.lo <= v <= self.hi:
                raise BadAnswer(f"{v:g} is outside {self.lo:g}..{self.hi:g}.")
            k = (v - self.lo) / self.step
            if abs(k - round(k)) > 1e-6:
                raise BadAnswer(f"{v:g} is not on the question's steps of {self.step:g} from {self.lo:g}.")
            return f"{self.lo + round(k) * self.step:g}"
        if isinstance(value, str):
            parts = value.split(",")
        else:
            try:
                parts = list(value)
            except TypeError:
                raise BadAnswer("a click is two numbers, x and y.") from None
        if len(parts) != 2:
            raise BadAnswer("a click is two numbers, x and y.")
        x, y = (_number(p) for p in parts)
        if not (-0.5 <= x <= self.width - 0.5 and -0.5 <= y <= self.height - 0.5):
            raise BadAnswer(f"the click ({x:g}, {y:g}) is outside the {self.width}×{self.height} image.")
        return f"{x:.1f},{y:.1f}"

    def value(self, text: str):
        """A stored answer back as a value: the option text, a float, or an (x, y) tuple."""
        if self.kind == "choice":
            return text
        if self.kind == "slider":
            return float(text)
        x, y = text.split(",")
        return float(x), float(y)

    def to_json(self) -> dict:
        """The question as plain JSON values (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> Question:
        """The question `to_json` wrote."""
        d = dict(d)
        d["options"] = tuple(d.get("options") or ())
        return cls(**d)


def _number(value) -> float:
    try:
        v = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        raise BadAnswer(f"“{str(value)[:20]}” is not a number.") from None
    if not math.isfinite(v):
        raise BadAnswer("the answer is not a finite number.")
    return v


def dumps(questions) -> str:
    """The questions as JSON text (stored with the class)."""
    return json.dumps([q.to_json() for q in questions], sort_keys=True)


def loads(text: str) -> dict[str, Question]:
    """Stored questions by id."""
    return {q.id: q for q in (Question.from_json(d) for d in json.loads(text or "[]"))}
