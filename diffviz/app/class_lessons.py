"""Class mode runs a guided lesson (lessons/*.yaml): its steps, questions and truths, fixed for the class.

The adapter between the lesson files (`lesson_files`, `lesson_answers`, the lesson box's `lessons`) and
the class store (`diffviz.classroom`), so neither has to know the other:

    settings(s, lesson_id)    the sidebar's settings when the class starts, plus the lesson's id
    steps(c)                  the class's steps as `LessonStep`s (a yaml step keeps its page and view)
    questions(c)              the lesson's questions as the store's `Question`s (ids "<lesson>-<step>")
    measure(c)                every question's truth, measured ONCE at the start on the class's settings
                              and each step's view, stored with the class: every student gets the same
    step_settings(c, step)    the class's settings with the step's own (e.g. a step's ``model: shapes``)

A class without a ``lesson`` in its settings runs the built-in lesson (`class_lesson`).
"""

from __future__ import annotations

import contextlib

import streamlit as st

from diffviz.app import class_lesson, lesson_answers, lesson_files, lessons
from diffviz.app.class_lesson import LessonStep
from diffviz.app.settings import Settings
from diffviz.classroom.questions import Question
from diffviz.diffusion import defaults
from diffviz.model import zoo

BUILTIN = ""                                   # the picker's value for the built-in lesson


def picker() -> dict[str, str]:
    """The lessons a class can run: value -> label (the built-in lesson first)."""
    out = {BUILTIN: "First guesses (built in: one run, a choice, a slider and a click)"}
    out.update({les.id: f"{les.order} · {les.title}" for les in lessons.lessons()})
    return out


def lesson_of(c: dict):
    """The class's yaml lesson, or None for the built-in lesson (or a lesson no longer on disk)."""
    lid = c.get("lesson")
    return next((les for les in lessons.lessons() if les.id == lid), None) if lid else None


def settings(s: Settings, lesson_id: str = BUILTIN) -> dict:
    """What a new class is fixed to: the built-in lesson's digit run, or the sidebar's settings and the lesson."""
    if not lesson_id:
        return class_lesson.class_settings(s)
    return {"lesson": lesson_id, "model": s.model, "seed": s.seed, "sampler": s.sampler, "steps": s.steps,
            "label": s.label, "prompt": s.prompt, "guidance": s.guidance}


def describe(c: dict) -> str:
    """A class's settings in words (a yaml step may still name its own model)."""
    if not c.get("lesson"):
        return class_lesson.describe(c)
    entry = zoo.MODELS.get(str(c["model"]))
    what = f"caption “{c.get('prompt', defaults.PROMPT)}”" if entry and entry.kind == "text" else f"digit {c['label']}"
    return (f"model {c['model']}, seed {c['seed']}, {what}, {str(c['sampler']).upper()} {c['steps']} steps, "
            f"guidance {float(c['guidance']):g}")


def step_settings(c: dict, view: dict | None) -> Settings:
    """The settings a step runs on: the class's, with the sidebar settings the step's view names."""
    d = dict(c)
    view = view or {}
    d.update({k: view[k] for k in lesson_files.SIDEBAR if k in view})
    model = str(d["model"])
    entry = zoo.MODELS[model]
    if model != c["model"] and "guidance" not in view:            # another model: its own default guidance
        d["guidance"] = entry.default_guidance
    return Settings(model, int(d["seed"]), str(d["sampler"]), int(d["steps"]), int(d.get("label", defaults.LABEL)),
                    str(d.get("prompt", defaults.PROMPT)), float(d["guidance"]), entry.kind)


def question_id(lesson_id: str, i: int) -> str:
    """The store's id of the question on step ``i`` (0-based) of a lesson, e.g. "forward-2"."""
    return f"{lesson_id}-{i + 1}"


def _click_size(q) -> tuple[int, int]:
    """A click question's image size in pixels (width, height), however the lesson file spells it."""
    size = getattr(q, "size", None) or getattr(q, "image_size", None)
    if size:
        return (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) else (int(size), int(size))
    return int(getattr(q, "width", 0) or 0), int(getattr(q, "height", 0) or 0)


def to_question(q: lesson_files.Question, qid: str, s: Settings) -> Question:
    """A lesson file's question as the store's: a slider's range and a choice's options on settings ``s``
    (from the lesson box's own helpers, so a class and a learner alone get the same ranges and options)."""
    extra = {"reveals": q.reveals, "tolerance": q.tolerance}
    if q.kind == "slider":
        lo, hi, step = lessons._range(s, q)
        return Question(qid, "slider", q.ask, lo=lo, hi=hi, step=step, extra=extra)
    if q.kind == "choice":
        return Question(qid, "choice", q.ask, options=tuple(str(o) for o in lessons._options(s, q)), extra=extra)
    if q.kind != "click":
        raise ValueError(f"question {qid}: class mode cannot ask a “{q.kind}” question")
    w, h = _click_size(q)
    if not (w and h):                                    # no size in the file: the step's model's images
        w = h = lesson_answers.runs.load_model(s.model)[0].config.image_size
    return Question(qid, "click", q.ask, width=w, height=h, extra=extra)


def steps(c: dict) -> list[LessonStep]:
    """The class's lesson as steps: the built-in one, or the yaml lesson's with their views and questions."""
    les = lesson_of(c)
    if les is None:
        return class_lesson.steps(c)
    out = []
    for i, step in enumerate(les.steps):
        q = None
        if step.question is not None:
            q = to_question(step.question, question_id(les.id, i), step_settings(c, step.view))
        out.append(LessonStep(f"{les.title}, step {i + 1}", step.look, q, dict(step.view)))
    return out


def questions(c: dict) -> list[Question]:
    """The lesson's questions (what the class store checks answers against)."""
    return [st_.question for st_ in steps(c) if st_.question is not None]


def answer_text(q: Question, value) -> str:
    """A measured value as the store writes an answer ("12", "level 1", "13.5,20.0")."""
    if q.kind == "slider":
        return f"{float(value):g}"
    if q.kind == "click":
        x, y = value
        return f"{float(x):.1f},{float(y):.1f}"
    return str(value)


@contextlib.contextmanager
def viewing(view: dict):
    """While measuring: this session's page state is exactly the step's view (its link, no widget values),
    so `lesson_answers.current` reads what every student was shown; everything is put back afterwards."""
    keep = set(lesson_files.SIDEBAR) | {"present"}
    saved_q = st.query_params.to_dict()
    names = [k for k in st.session_state if (k.startswith("p_") and k[2:] not in keep) or k.startswith("_owner_p_")]
    saved = {k: st.session_state[k] for k in names}
    for k in names:
        del st.session_state[k]
    st.query_params.from_dict(lesson_files.Step(view=view, look="").params())
    try:
        yield
    finally:
        st.query_params.from_dict(saved_q)
        for k, v in saved.items():
            st.session_state[k] = v


def measure(c: dict) -> dict[str, dict]:
    """Every question's truth on the class's settings and its step's view: question id -> what the reveal shows.

    {"value": the truth as answer text, "shown", "why", "series", "numeric"}, or {"unavailable": why not}.
    """
    les = lesson_of(c)
    out = {}
    for step, lstep in zip(steps(c), les.steps if les else ()):
        q, fq = step.question, lstep.question
        if q is None:
            continue
        try:
            with viewing(step.view):
                t = lesson_answers.MEASURES[fq.reveals](step_settings(c, step.view), fq.args)
        except lesson_answers.Unavailable as e:
            out[q.id] = {"unavailable": str(e)}
            continue
        except Exception as e:                           # noqa: BLE001 (a model missing here: said at the reveal)
            out[q.id] = {"unavailable": f"it could not be measured here ({type(e).__name__}: {str(e)[:200]})"}
            continue
        out[q.id] = {"value": answer_text(q, t.value), "shown": t.shown, "why": f"{t.why} {fq.why}".strip(),
                     "series": t.series, "numeric": q.kind == "slider"}
    return out


def shown(q: Question, text: str) -> str:
    """An answer as a person reads it: a click as "x 13, y 11", anything else as it is."""
    if q.kind == "click":
        x, y = q.value(text)
        return f"x {x:g}, y {y:g}"
    return text


def revealed(c: dict, q: Question, tally) -> dict:
    """What the reveal shows for ``q`` (call it after the reveal): the truth stored when a guided lesson's
    class started (the store's `Tally.truth`), or the built-in lesson's, read off the class's run."""
    if c.get("lesson"):
        return tally.truth or {"unavailable": "no truth was stored for this question when the class started."}
    t = class_lesson.truth(c)
    text = t.of(q.id)
    return {"value": text, "shown": shown(q, text) if text is not None else "never",
            "why": class_lesson.explain(q.id, t, c)}


def click_image(c: dict, step: LessonStep, revealed: bool):
    """The picture a click question is answered on, (H, W): the built-in lesson's starting noise (its
    finished image after the reveal), or a plain grey canvas of the question's size (the page above shows
    the picture a guided lesson's step asks about)."""
    import numpy as np
    if step.view is None:
        return class_lesson.run(c).final[0, 0] if revealed else class_lesson.noise(c)
    return np.zeros((step.question.height, step.question.width), np.float32)
