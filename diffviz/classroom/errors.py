"""The store's refusals: each message says why, in words a student or teacher can act on."""

from __future__ import annotations


class ClassError(Exception):
    """A refused request; the message says why, in words a student or teacher can act on."""


class UnknownClass(ClassError):
    pass


class WrongKey(ClassError):
    pass


class UnknownStudent(ClassError):
    pass


class ClassOver(ClassError):
    """The class was closed by its teacher or has expired."""


class AnswerRefused(ClassError):
    pass
