"""Vocabulary and word-level tokenizer for the captioned-shapes data.

Every word is one token, so a cross-attention map per token is a map per
word of the caption. The empty caption "" is the null condition used for
classifier-free guidance.
"""

from __future__ import annotations

import string

import torch

SPECIAL = ("<pad>", "<start>", "<end>")
SHAPE_WORDS = ("circle", "square", "triangle")
COLOUR_WORDS = ("red", "blue", "yellow", "white")
SIZE_WORDS = ("small", "large")
POSITION_WORDS = ("top", "bottom", "left", "right", "centre")
GRAMMAR_WORDS = ("a", "at", "the", "and", "in")
WORDS = SHAPE_WORDS + COLOUR_WORDS + SIZE_WORDS + POSITION_WORDS + GRAMMAR_WORDS
VOCAB = SPECIAL + WORDS

PAD_ID, START_ID, END_ID = 0, 1, 2
WORD_TO_ID = {word: i for i, word in enumerate(VOCAB)}

# A corner phrase ("at the top left") is one word longer than "in the centre",
# so this is the longest caption the grammar allows; tests check it against
# every caption shapes.caption can produce.
LONGEST_CAPTION = (
    "a large yellow triangle at the bottom right"
    " and a large yellow triangle at the top left"
)
MAX_TOKENS = 2 + len(LONGEST_CAPTION.split())
MAX_WORDS = MAX_TOKENS - 2


class UnknownWordError(ValueError):
    """A caption contains words outside the vocabulary."""

    def __init__(self, words):
        self.words = tuple(words)
        unknown = ", ".join(repr(w) for w in self.words)
        super().__init__(
            f"unknown word(s) {unknown}; the vocabulary is: {' '.join(VOCAB)}"
        )


def normalise(caption: str) -> list[str]:
    """Split a caption into lowercase words without surrounding punctuation."""
    words = (w.strip(string.punctuation) for w in caption.lower().split())
    return [w for w in words if w]


def tokenize(caption: str) -> list[int]:
    """Token ids `[<start>, words..., <end>, <pad>...]` of length MAX_TOKENS.

    Raises UnknownWordError for words outside the vocabulary and ValueError
    for captions longer than MAX_TOKENS allows.
    """
    words = normalise(caption)
    unknown = [w for w in words if w not in WORDS]
    if unknown:
        raise UnknownWordError(dict.fromkeys(unknown))
    if len(words) > MAX_WORDS:
        raise ValueError(
            f"caption too long: {len(words)} words, at most {MAX_WORDS} fit "
            f"in MAX_TOKENS={MAX_TOKENS}"
        )
    ids = [START_ID] + [WORD_TO_ID[w] for w in words] + [END_ID]
    return ids + [PAD_ID] * (MAX_TOKENS - len(ids))


def tokenize_batch(captions) -> torch.Tensor:
    """Tokenize a sequence of captions into a LongTensor (B, MAX_TOKENS)."""
    return torch.tensor([tokenize(c) for c in captions], dtype=torch.long)


def detokenize(ids) -> str:
    """Caption text for token ids, dropping special tokens.

    Accepts a list of ints or a 1-D tensor; the result is the normalised
    caption, so `detokenize(tokenize(c)) == " ".join(normalise(c))`.
    """
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
    return " ".join(VOCAB[i] for i in ids if VOCAB[i] not in SPECIAL)


def token_labels(caption: str) -> list[str]:
    """Readable token strings for the non-pad positions of `tokenize(caption)`.

    Used to label per-token attention maps, e.g.
    `['<start>', 'a', 'small', 'red', ..., '<end>']`.
    """
    return [VOCAB[i] for i in tokenize(caption) if i != PAD_ID]


def validate_caption(caption: str) -> str | None:
    """None if `caption` can be tokenized, else a short message saying why not.

    Checks vocabulary and length only; use `shapes.parse_caption` to check
    the caption also follows the shapes grammar.
    """
    try:
        tokenize(caption)
    except UnknownWordError as err:
        listed = ", ".join(repr(w) for w in err.words)
        return f"Unknown word(s): {listed}. Known words: {' '.join(WORDS)}."
    except ValueError:
        n_words = len(normalise(caption))
        return f"Caption too long: {n_words} words, at most {MAX_WORDS}."
    return None
