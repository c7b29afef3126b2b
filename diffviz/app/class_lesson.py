"""Class mode's built-in lesson: four steps on one sampling run, three questions measured live.

Until the guided lessons (``lessons/*.yaml``) are wired in, a class runs this short lesson. Every
truth is read off the class's own run (its model, seed, digit and sampler, fixed when the class
starts), with the independent judge reading each guess x̂0:

    first-read   choice   what the judge reads in the very first guess x̂0 (step 0, from pure noise)
    settle-step  slider   the first step from which the judge reads every later x̂0 as the digit
    centre       click    where the finished digit's ink is centred, on the 28×28 image

A lesson is a list of `LessonStep`s; each may carry one `Question` (the store's interface), so a
lesson from the lessons issue can be handed to the class store the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffviz.app import runs
from diffviz.app.settings import Settings
from diffviz.classroom.questions import Question
from diffviz.diffusion import defaults
from diffviz.model import zoo

LESSON_ID = "builtin-first-guesses"


@dataclass(frozen=True)
class LessonStep:
    """One step of a lesson: its title, what to look at, and at most one question."""

    title: str
    text: str                       # Markdown: what to look at (facts in it are from the class's run)
    question: Question | None = None
    view: dict | None = None        # a guided lesson's step: the page and its parameters (None: the class page)


@dataclass(frozen=True)
class Truth:
    """The measured answers of the built-in questions, for one class's run."""

    reads: tuple                    # (S,) the judge's digit for x̂0 at each step
    final_read: int                 # the judge's digit for the finished image
    settle: int | None              # first step from which every x̂0 reads as the label (None: never)
    centre: tuple                   # (x, y) ink centre of the finished image, pixels

    def of(self, question_id: str):
        """The truth of one question, as the question's answer text would be (None: no such value)."""
        if question_id == "first-read":
            return str(self.reads[0])
        if question_id == "settle-step":
            return None if self.settle is None else f"{self.settle}"
        if question_id == "centre":
            return f"{self.centre[0]:.1f},{self.centre[1]:.1f}"
        return None


def class_settings(s: Settings) -> dict:
    """What a new class is fixed to: the sidebar's run when its model draws digits, else mnist's defaults."""
    if zoo.MODELS.get(s.model) is not None and zoo.MODELS[s.model].kind == "class":
        return {"model": s.model, "seed": s.seed, "sampler": s.sampler, "steps": s.steps, "label": s.label,
                "guidance": s.guidance}
    return {"model": "mnist", "seed": defaults.SEED, "sampler": defaults.SAMPLER, "steps": defaults.STEPS,
            "label": defaults.LABEL, "guidance": zoo.MODELS["mnist"].default_guidance}


def as_settings(c: dict) -> Settings:
    """A class's stored settings as the app's `Settings` (so its run is the app's shared cached run)."""
    return Settings(str(c["model"]), int(c["seed"]), str(c["sampler"]), int(c["steps"]), int(c["label"]),
                    defaults.PROMPT, float(c["guidance"]), "class")


def describe(c: dict) -> str:
    """A class's settings in words, e.g. "model mnist, seed 0, digit 7, DDIM 25 steps, guidance 2"."""
    return (f"model {c['model']}, seed {c['seed']}, digit {c['label']}, {str(c['sampler']).upper()} "
            f"{c['steps']} steps, guidance {float(c['guidance']):g}")


def steps(c: dict) -> list[LessonStep]:
    """The lesson's steps for a class with settings ``c`` (the questions' ranges follow its run)."""
    label, n = int(c["label"]), int(c["steps"])
    return [
        LessonStep("The starting noise",
                   f"The model starts from this pure noise x_T and will turn it into a **{label}** in {n} "
                   "sampling steps. At every step the U-Net guesses the finished image: the guess **x̂0**. "
                   "An independent classifier, the *judge*, reads each guess as a digit."),
        LessonStep("The very first guess",
                   "Step 0: the U-Net sees nothing but noise and must still guess the finished image.",
                   Question("first-read", "choice", "What will the judge read in the very first guess x̂0 "
                            "(step 0, made from pure noise)?", options=tuple(str(d) for d in range(10)))),
        LessonStep("When does it become the digit?",
                   f"Over the {n} steps the guess sharpens. Somewhere the judge starts reading it as a "
                   f"{label} and never changes its mind again.",
                   Question("settle-step", "slider", f"From which sampling step on will the judge read every "
                            f"guess x̂0 as a {label}? (0 = the first step, {n - 1} = the last)",
                            lo=0, hi=n - 1, step=1)),
        LessonStep("Where will the digit be?",
                   "The noise already decides where the ink will go.",
                   Question("centre", "click", f"Click on the noise where the middle of the finished {label} "
                            "will be.", width=28, height=28)),
    ]


def questions(c: dict) -> list[Question]:
    """The lesson's questions (what the class store checks answers against)."""
    return [st.question for st in steps(c) if st.question is not None]


def noise(c: dict) -> np.ndarray:
    """The class run's starting noise x_T, (H, W): drawn from the seed alone, no sampling needed."""
    from diffviz.diffusion import sampling
    m, _ = runs.load_model(str(c["model"]))
    cfg = m.config
    x, _ = sampling.initial_noise((cfg.in_channels, cfg.image_size, cfg.image_size), [int(c["seed"])])
    return x[0, 0].numpy()                                                    # (H, W) == run(c).x_t[0, 0, 0]


def run(c: dict):
    """The class's sampling run (shared with every page and session through the runs cache)."""
    return runs.trajectory(as_settings(c))


def truth(c: dict) -> Truth:
    """Every question's truth, measured on the class's run with the judge (cached per run)."""
    from diffviz.evaluation import judge
    s = as_settings(c)

    def compute():
        tr = runs.trajectory(s)
        reads = judge.classify(tr.pred_x0[:, 0].astype(np.float32))           # (S,) one digit per step
        final = tr.final[0, 0].astype(np.float32)                             # (28, 28) in [-1, 1]
        final_read = int(judge.classify(final[None, None])[0])
        settle = None
        if final_read == s.label:
            settle = len(reads)
            while settle > 0 and reads[settle - 1] == s.label:
                settle -= 1
            settle = min(settle, len(reads) - 1)
        ink = np.clip((final + 1) / 2, 0, 1)                                  # 0 background .. 1 ink
        ink = np.where(ink > 0.5, ink, 0.0)
        ys, xs = np.mgrid[0:final.shape[0], 0:final.shape[1]]
        w = ink.sum() or 1.0
        centre = (float((xs * ink).sum() / w), float((ys * ink).sum() / w))
        return Truth(tuple(int(r) for r in reads), final_read, settle, centre)
    return runs.derived(("class-truth",) + runs.run_key(s), compute)


def explain(question_id: str, t: Truth, c: dict) -> str:
    """One sentence on what was measured, for the reveal."""
    label = int(c["label"])
    if question_id == "first-read":
        what = "already the digit asked for" if t.reads[0] == label else f"not yet the {label} asked for"
        return f"The judge read the first guess x̂0 as a **{t.reads[0]}**: {what}."
    if question_id == "settle-step":
        if t.settle is None:
            return (f"In this run the judge reads the finished image as a {t.final_read}, not a {label}, "
                    "so it never settles on the digit asked for.")
        left = len(t.reads) - t.settle
        return (f"From step **{t.settle}** on, the judge reads every guess x̂0 as a {label}: the last {left} of "
                f"the {len(t.reads)} steps only refine a digit that is already there.")
    if question_id == "centre":
        return (f"The finished digit's ink is centred at x = {t.centre[0]:.1f}, y = {t.centre[1]:.1f} "
                "(marked ✕): the weighted middle of its bright pixels.")
    return ""
