"""The guided path's lessons, read from lessons/*.yaml (one file per lesson, no Streamlit here).

A lesson file holds the text a teacher edits or translates, in the order of the lecture notes:

    id: denoise                       # also the value of the link's ``lesson``
    order: 2                          # position on the path
    title: Denoising, step by step
    steps:                            # 2 to 5
      - view: {page: denoise, step: 0}   # the permalink state the step sets (page + query parameters)
        highlight: x0                 # optional: the key of the panel the text talks about
        look: Two or three sentences on what to look at.
        question:                     # optional: predict, then reveal
          ask: At which step ...?
          kind: slider                # slider | choice | click
          range: [0, 24, 1]           # slider: lo, hi, step ("steps" as hi = the run's last step)
          options: [...]              # choice: fixed options, or options_from: <a name in answers>
          size: [32, 32]              # click: the image's width and height in pixels (the view's model's)
          level: 0.5                  # click: right = inside the cells with at least this share of the peak weight
          hides: [attn-main]          # optional: panels that show the answer, hidden until the reveal
          tolerance: 2                # slider: how far off still counts as right; click: "close" within
                                      #   this many pixels of that region
          reveals: first_read_step    # the measured quantity (diffviz.app.lesson_answers.MEASURES)
          args: {}                    # its fixed arguments (e.g. the model whose accuracy is asked)
          why: One general sentence that is true on every setting.

`load` checks every file and raises `LessonError` with the file and the problem; the test suite
checks every shipped file and every name it uses (pages, parameters, measured quantities).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"

# The permalink parameters a step may set, per page (the sidebar's work on every page). A test checks
# that each one is read by that page (or the sidebar), so this list cannot drift from the pages.
DEFAULT_PAGE = "overview"                                     # app.py's default page (served at "/")
SIDEBAR = ("model", "seed", "sampler", "steps", "label", "prompt", "guidance")
VIEW_PARAMS = {
    "overview": ("block",),
    "forward": ("t", "digit"),
    "denoise": ("mode", "step", "t"),
    "inside": ("step", "level", "stat"),
    "skips": ("level", "step", "cut", "skip0", "skip1", "skip2", "bb0", "bb1", "bb2", "tmin", "tmax"),
    "attention": ("level", "head", "step", "qx", "qy", "xlevel"),
    "timestep": ("block", "step", "wrong_t"),
    "ablation": ("a_model", "b_model", "a_skip0", "b_skip0", "a_skip1", "b_skip1", "a_attn2", "b_attn2",
                 "a_nocond", "b_nocond", "a_wrong", "b_wrong", "a_told", "b_told", "seeds", "step"),
}
KINDS = ("slider", "choice", "click")
LESSON_PARAMS = ("lesson", "lstep", "revealed", "answer")      # the lesson's own permalink state


class LessonError(ValueError):
    """A lesson file that cannot be used (the message names the file and the problem)."""


@dataclass(frozen=True)
class Question:
    """A predict-then-reveal question: the learner answers, then the measured truth is shown."""

    ask: str
    kind: str                     # "slider", "choice" or "click"
    reveals: str                  # a name in lesson_answers.MEASURES
    why: str
    options: tuple = ()
    options_from: str = ""
    range: tuple = ()             # (lo, hi, step); hi may be "steps" (the run's last step)
    tolerance: float = 0          # slider: in its units; click: in pixels
    args: dict = field(default_factory=dict)
    width: int = 0                # click: the image's size in pixels (as the class store's questions)
    height: int = 0
    level: float = 0.5            # click: a click inside the cells with ≥ level × the peak weight is right
    hides: tuple = ()             # panels (element keys) of the page that show the answer: hidden until the reveal


@dataclass(frozen=True)
class Step:
    """One step of a lesson: the view it sets, what to look at, and maybe a question."""

    view: dict
    look: str
    highlight: str = ""
    question: Question | None = None

    @property
    def page(self) -> str:
        return self.view["page"]

    def params(self) -> dict[str, str]:
        """The view's query parameters (page excluded), as link text."""
        return {k: _text(v) for k, v in self.view.items() if k != "page"}


@dataclass(frozen=True)
class Lesson:
    """One lesson file: its id (the link's ``lesson``), place on the path, title and steps."""

    id: str
    order: int
    title: str
    steps: tuple


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _need(d: dict, key: str, kind, where: str):
    if key not in d:
        raise LessonError(f"{where}: “{key}” is missing")
    if not isinstance(d[key], kind):
        raise LessonError(f"{where}: “{key}” should be {getattr(kind, '__name__', kind)}")
    return d[key]


def _question(q, where: str) -> Question:
    if not isinstance(q, dict):
        raise LessonError(f"{where}: a question is a mapping")
    kind = _need(q, "kind", str, where)
    if kind not in KINDS:
        raise LessonError(f"{where}: kind “{kind}” is not one of {KINDS}")
    out = Question(ask=_need(q, "ask", str, where), kind=kind, reveals=_need(q, "reveals", str, where),
                   why=_need(q, "why", str, where), options=tuple(q.get("options") or ()),
                   options_from=str(q.get("options_from") or ""), range=tuple(q.get("range") or ()),
                   tolerance=float(q.get("tolerance", 0)), args=dict(q.get("args") or {}),
                   hides=_hides(q, where), **_size(q, kind, where))
    if kind == "slider" and len(out.range) != 3:
        raise LessonError(f"{where}: a slider question needs range: [lo, hi, step]")
    if kind == "choice" and not out.options and not out.options_from:
        raise LessonError(f"{where}: a choice question needs options or options_from")
    return out


def _hides(q: dict, where: str) -> tuple:
    """The element keys of the panels that would give the answer away (hidden until the reveal)."""
    keys = q.get("hides") or []
    if not (isinstance(keys, list) and all(isinstance(k, str) and re.fullmatch(r"[A-Za-z0-9_-]+", k) for k in keys)):
        raise LessonError(f"{where}: hides is a list of panel keys (letters, digits, - and _)")
    return tuple(keys)


def _size(q: dict, kind: str, where: str) -> dict:
    """A click question's image size and level: {"width", "height", "level"} ({} for other kinds)."""
    if kind != "click":
        return {}
    size = q.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise LessonError(f"{where}: a click question needs size: [width, height] in pixels")
    level = q.get("level", 0.5)
    if not (isinstance(level, (int, float)) and 0 < level <= 1):
        raise LessonError(f"{where}: a click question's level is a share of the peak weight, in (0, 1]")
    return {"width": size[0], "height": size[1], "level": float(level)}


def parse(data, name: str) -> Lesson:
    """One lesson from a file's parsed YAML ``data`` (``name`` for messages)."""
    if not isinstance(data, dict):
        raise LessonError(f"{name}: the file should hold a mapping")
    steps = _need(data, "steps", list, name)
    if not 2 <= len(steps) <= 5:
        raise LessonError(f"{name}: a lesson has 2 to 5 steps, not {len(steps)}")
    out = []
    for i, st in enumerate(steps, 1):
        where = f"{name}, step {i}"
        if not isinstance(st, dict):
            raise LessonError(f"{where}: a step is a mapping")
        view = _need(st, "view", dict, where)
        page = _need(view, "page", str, where)
        if page not in VIEW_PARAMS:
            raise LessonError(f"{where}: page “{page}” is not one of {list(VIEW_PARAMS)}")
        unknown = [k for k in view if k != "page" and k not in SIDEBAR + VIEW_PARAMS[page]]
        if unknown:
            raise LessonError(f"{where}: {unknown} are not parameters of the {page} page")
        look = _need(st, "look", str, where)
        q = _question(st["question"], where) if st.get("question") is not None else None
        out.append(Step(view=dict(view), look=look.strip(), highlight=str(st.get("highlight") or ""), question=q))
    return Lesson(id=_need(data, "id", str, name), order=int(_need(data, "order", int, name)),
                  title=_need(data, "title", str, name), steps=tuple(out))


def load(folder: Path = LESSONS_DIR) -> list[Lesson]:
    """Every lesson in ``folder``, in path order; raises `LessonError` on a broken file."""
    lessons = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise LessonError(f"{path.name}: not valid YAML ({e})") from None
        lessons.append(parse(data, path.name))
    lessons.sort(key=lambda les: les.order)
    ids = [les.id for les in lessons]
    if len(set(ids)) != len(ids):
        raise LessonError(f"two lessons share an id: {ids}")
    return lessons
