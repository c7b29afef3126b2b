"""Ablations at inference time: scale or cut a skip, scale the backbone, switch attention off.

They are applied while the network runs (never by editing weights) and only for the calls made
inside ``with applied(interventions, t):``. The active set lives in a context variable, so each
thread (each user of the app) sees only its own: nothing is stored on the shared model.
Wrong-t and drop-the-condition change the model's *inputs*; `sampling.guided_eps` applies them.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("diffviz_interventions", default=None)


@dataclass(frozen=True)
class Interventions:
    """What to change, and for which timesteps (t_min <= t <= t_max).

    Attention levels count the bottleneck as the deepest level.
    """

    skip_scale: dict = field(default_factory=dict)       # decoder level -> factor (0 = cut the skip)
    backbone_scale: dict = field(default_factory=dict)   # decoder level -> factor (FreeU-style)
    attention_off: frozenset = frozenset()               # levels whose attention blocks are identity
    wrong_t: int | None = None                           # tell the model this t instead of the true one
    drop_condition: bool = False                         # use the null label / empty caption
    t_min: int = 0
    t_max: int = 10**9

    def active_at(self, t: int) -> bool:
        """True when the true timestep t is inside this set's range."""
        return self.t_min <= int(t) <= self.t_max

    def is_empty(self) -> bool:
        """True when nothing would change."""
        return (all(v == 1 for v in self.skip_scale.values())
                and all(v == 1 for v in self.backbone_scale.values())
                and not self.attention_off and self.wrong_t is None and not self.drop_condition)

    def key(self) -> tuple:
        """A hashable, plain-value description (for caches)."""
        return (tuple(sorted(self.skip_scale.items())), tuple(sorted(self.backbone_scale.items())),
                tuple(sorted(self.attention_off)), self.wrong_t, self.drop_condition, self.t_min, self.t_max)


NONE = Interventions()


@contextlib.contextmanager
def applied(iv: Interventions | None, t: int):
    """Make ``iv`` the active interventions for model calls at true timestep ``t`` in this context."""
    token = _ACTIVE.set(iv if iv is not None and iv.active_at(t) else None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def current() -> Interventions | None:
    """The interventions active for the running call, or None."""
    return _ACTIVE.get()


def skip_scale(level: int) -> float:
    """The factor on decoder level `level`'s skip under the active interventions (1 = untouched)."""
    iv = _ACTIVE.get()
    return 1.0 if iv is None else float(iv.skip_scale.get(level, 1.0))


def backbone_scale(level: int) -> float:
    """The factor on what comes up from below into decoder level `level` (1 = untouched)."""
    iv = _ACTIVE.get()
    return 1.0 if iv is None else float(iv.backbone_scale.get(level, 1.0))


def attention_is_off(level: int) -> bool:
    """Whether attention at this level is switched off by the active interventions."""
    iv = _ACTIVE.get()
    return iv is not None and level in iv.attention_off
