import itertools

import numpy as np
import pytest
import torch

from diffviz.data import shapes, text
from diffviz.data.text import END_ID, MAX_TOKENS, PAD_ID, START_ID, VOCAB, WORDS


def test_vocabulary_layout():
    assert isinstance(WORDS, tuple)
    assert VOCAB == text.SPECIAL + WORDS
    assert VOCAB[PAD_ID] == "<pad>"
    assert VOCAB[START_ID] == "<start>" and VOCAB[END_ID] == "<end>"
    assert len(set(VOCAB)) == len(VOCAB)


@pytest.mark.parametrize("word", WORDS)
def test_every_word_tokenizes(word):
    ids = text.tokenize(word)
    assert ids[:3] == [START_ID, text.WORD_TO_ID[word], END_ID]
    assert ids[3:] == [PAD_ID] * (MAX_TOKENS - 3)


def test_round_trip_on_random_captions():
    rng = np.random.default_rng(0)
    for _ in range(300):
        caption = shapes.caption(shapes.random_scene(rng))
        ids = text.tokenize(caption)
        assert len(ids) == MAX_TOKENS
        assert text.detokenize(ids) == caption
        assert text.detokenize(torch.tensor(ids)) == caption


def test_normalisation_of_case_and_punctuation():
    assert text.detokenize(text.tokenize("A Large RED circle, at the top left.")) == (
        "a large red circle at the top left"
    )


def test_unknown_word_error_names_words_and_lists_vocabulary():
    with pytest.raises(text.UnknownWordError) as info:
        text.tokenize("a purple hexagon at the top left")
    message = str(info.value)
    assert "'purple'" in message and "'hexagon'" in message
    assert all(token in message for token in VOCAB)
    assert info.value.words == ("purple", "hexagon")
    assert isinstance(info.value, ValueError)


def test_empty_caption_is_null_condition():
    assert text.tokenize("") == [START_ID, END_ID] + [PAD_ID] * (MAX_TOKENS - 2)
    assert text.detokenize(text.tokenize("")) == ""
    assert text.token_labels("") == ["<start>", "<end>"]


def test_too_long_raises():
    with pytest.raises(ValueError, match="too long"):
        text.tokenize(" ".join(["a"] * (MAX_TOKENS - 1)))
    assert len(text.tokenize(" ".join(["a"] * (MAX_TOKENS - 2)))) == MAX_TOKENS


def test_max_tokens_covers_longest_caption():
    longest = max(
        len(shapes.caption((shapes.Shape(k, c, s, p1), shapes.Shape(k, c, s, p2))).split())
        for k, c, s in itertools.product(shapes.KINDS, shapes.COLOURS, shapes.SIZES)
        for p1, p2 in itertools.permutations(shapes.POSITIONS, 2)
    )
    assert longest + 2 == MAX_TOKENS
    assert len(text.LONGEST_CAPTION.split()) == longest


def test_tokenize_batch():
    batch = text.tokenize_batch(["a small red circle in the centre", ""])
    assert batch.dtype == torch.long and batch.shape == (2, MAX_TOKENS)
    assert batch[1].tolist() == text.tokenize("")


def test_token_labels():
    assert text.token_labels("a small red circle in the centre") == [
        "<start>", "a", "small", "red", "circle", "in", "the", "centre", "<end>"
    ]


def test_validate_caption_messages():
    assert text.validate_caption("a small red circle in the centre") is None
    assert text.validate_caption("") is None
    unknown = text.validate_caption("a small purple circle")
    assert "purple" in unknown and "circle" in unknown
    assert "too long" in text.validate_caption(" ".join(["a"] * MAX_TOKENS)).lower()
