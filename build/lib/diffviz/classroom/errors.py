"""The store's refusals: each message says why, in words a student or teacher can act on."""

from __future__ import annotations


class ClassError(Exception):
    """A refused request; the message says why, in words a student or teacher can act on."""


class UnknownClass(ClassError):
    """No class has this code (a wrong, tampered or purged code)."""


class WrongKey(ClassError):
    """The teacher key does not fit the class."""


class UnknownStudent(ClassError):
    """The student token does not belong to the class."""


class ClassOver(ClassError):
    """The class was closed by its teacher or has expired."""


class AnswerRefused(ClassError):
    """An answer that does not fit its question, or comes after its reveal."""
