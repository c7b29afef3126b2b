"""Class codes, teacher keys, student tokens and anonymous names: random, from `secrets`.

A class code is 8 characters from a 31-letter alphabet without look-alikes (no 0/O, 1/I/L): 31⁸ ≈ 8.5e11
codes, so a guesser limited to a few joins a minute per session finds nothing in practice. The teacher
key (128 bits) and each student's token (96 bits) travel only in their owner's link; the database keeps
their SHA-256 hashes, so a copy of it cannot be used to act as a teacher or a student.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
_CODE = re.compile(f"^[{ALPHABET}]{{{CODE_LENGTH}}}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

ADJECTIVES = ("Amber", "Brave", "Calm", "Clever", "Curious", "Eager", "Gentle", "Golden", "Happy", "Jolly",
              "Keen", "Kind", "Lively", "Lucky", "Merry", "Mighty", "Nimble", "Noble", "Patient", "Quick",
              "Quiet", "Rapid", "Silver", "Sunny", "Swift", "Witty", "Bold", "Bright", "Cosmic", "Daring")
ANIMALS = ("Badger", "Beaver", "Crane", "Dolphin", "Falcon", "Ferret", "Gecko", "Heron", "Ibis", "Koala",
           "Lemur", "Lynx", "Marten", "Narwhal", "Otter", "Owl", "Panda", "Puffin", "Quokka", "Raven",
           "Robin", "Seal", "Sparrow", "Stoat", "Tapir", "Tiger", "Walrus", "Wombat", "Yak", "Zebra")


def new_code() -> str:
    """A fresh class code, e.g. "K7QM3XWP"."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text) -> str | None:
    """A typed or linked code made canonical (upper case, spaces and dashes dropped), or None if it
    cannot be a code at all."""
    code = re.sub(r"[\s-]", "", str(text or "")).upper()[:2 * CODE_LENGTH]
    return code if _CODE.match(code) else None


def new_key() -> str:
    """A teacher key: 128 random bits, URL-safe text."""
    return secrets.token_urlsafe(16)


def new_token() -> str:
    """A student token: 96 random bits, URL-safe text."""
    return secrets.token_urlsafe(12)


def looks_like_token(text) -> bool:
    """Whether a link's key or token has the shape of one (anything else is refused unread)."""
    return bool(_TOKEN.match(str(text or "")))


def digest(secret: str) -> str:
    """The stored form of a key or token: its SHA-256, hex."""
    return hashlib.sha256(str(secret).encode()).hexdigest()


def same_digest(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (constant-time comparison)."""
    return hmac.compare_digest(digest(secret), str(stored))


def anonymous_name() -> str:
    """A random friendly name, e.g. "Curious Otter 42"."""
    return f"{secrets.choice(ADJECTIVES)} {secrets.choice(ANIMALS)} {secrets.randbelow(90) + 10}"


def clean_name(text) -> str | None:
    """A student's chosen name: 1-30 printable characters, spaces collapsed; None if nothing is left."""
    name = " ".join("".join(c for c in str(text or "") if c.isprintable()).split())[:30]
    return name or None
