from collections import Counter

import numpy as np
import pytest
import torch

from diffviz.cli import shapes as shapes_cli
from diffviz.data import shapes, shapes_check
from diffviz.data.shapes import Shape


def scenes(n, seed=0):
    rng = np.random.default_rng(seed)
    return [shapes.random_scene(rng) for _ in range(n)]


def test_make_batch_is_deterministic_per_seed():
    images, captions = shapes.make_batch(16, seed=3)
    again, captions_again = shapes.make_batch(16, seed=3)
    other, other_captions = shapes.make_batch(16, seed=4)
    assert np.array_equal(images, again) and captions == captions_again
    assert not np.array_equal(images, other) and captions != other_captions


def test_make_batch_shapes_dtype_range():
    images, captions = shapes.make_batch(8, seed=123456789)
    assert images.shape == (8, 3, 32, 32) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.min() == -1.0  # the background is black
    assert len(captions) == 8 and all(isinstance(c, str) for c in captions)


def test_every_attribute_value_occurs():
    found = {name: set() for name in ("kind", "colour", "size", "position")}
    for scene in scenes(500):
        for shape in scene:
            for name in found:
                found[name].add(getattr(shape, name))
    assert found["kind"] == set(shapes.KINDS)
    assert found["colour"] == set(shapes.COLOURS)
    assert found["size"] == set(shapes.SIZES)
    assert found["position"] == set(shapes.POSITIONS)


def test_about_half_are_two_shape_scenes():
    share = np.mean([len(scene) == 2 for scene in scenes(500)])
    assert 0.35 <= share <= 0.65
    assert all(len(scene) in (1, 2) for scene in scenes(500))


def _grow(mask):
    """Mask grown by one pixel in the four directions."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def test_two_shapes_never_overlap_or_touch():
    rng = np.random.default_rng(1)
    two_shape = 0
    for scene in scenes(600, seed=1):
        image, masks = shapes.render(scene, rng, return_masks=True)
        assert len(masks) == len(scene)
        if len(scene) == 2:
            two_shape += 1
            # Touching same-coloured shapes would merge into one for the checker.
            assert not (_grow(masks[0]) & masks[1]).any(), shapes.caption(scene)
    assert two_shape >= 250


def test_worst_case_neighbours_keep_a_gap():
    left = Shape("square", "red", "large", "top left")
    right = Shape("square", "red", "large", "top right")
    below = Shape("square", "red", "large", "bottom left")
    inward = shapes.shape_mask(left, (1, 1))
    assert not (_grow(inward) & shapes.shape_mask(right, (-1, 1))).any()
    assert not (_grow(inward) & shapes.shape_mask(below, (1, -1))).any()


def test_masks_stay_inside_the_image_and_have_the_right_size():
    for kind in shapes.KINDS:
        for size, side in shapes.SIZES.items():
            for position in shapes.POSITIONS:
                for jitter in ((-1, -1), (1, 1)):
                    mask = shapes.shape_mask(Shape(kind, "red", size, position), jitter)
                    rows, cols = np.nonzero(mask)
                    assert np.ptp(rows) + 1 == side and np.ptp(cols) + 1 == side


def test_render_is_deterministic_and_colours_pixels():
    scene = (Shape("circle", "blue", "large", "centre"),)
    first = shapes.render(scene, np.random.default_rng(5))
    assert first.dtype == np.uint8 and first.shape == (32, 32, 3)
    assert np.array_equal(first, shapes.render(scene, np.random.default_rng(5)))
    image, (mask,) = shapes.render(scene, return_masks=True)
    assert (image[mask] == shapes.COLOURS["blue"]).all()
    assert (image[~mask] == 0).all()


def test_caption_text():
    scene = (
        Shape("circle", "red", "large", "top left"),
        Shape("square", "blue", "small", "bottom right"),
    )
    assert shapes.caption(scene) == (
        "a large red circle at the top left and a small blue square at the bottom right"
    )
    assert shapes.caption((Shape("triangle", "white", "small", "centre"),)) == (
        "a small white triangle in the centre"
    )


def test_caption_parse_round_trip():
    for scene in scenes(300, seed=2):
        assert shapes.parse_caption(shapes.caption(scene)) == scene


@pytest.mark.parametrize("bad", [
    "",
    "a red circle at the top left",
    "a large red circle at the top",
    "a large red circle at the middle left",
    "a large red circle on the top left",
    "large red circle in the centre",
    "a small red circle in the centre and",
    "a large red circle at the top left and a small red square at the top left",
    " and ".join(["a small red circle in the centre"] * 3),
])
def test_parse_caption_rejects_bad_grammar(bad):
    with pytest.raises(ValueError):
        shapes.parse_caption(bad)


def test_shape_rejects_unknown_attributes():
    with pytest.raises(ValueError, match="colour"):
        Shape("circle", "purple", "small", "centre")


def test_checker_agrees_on_clean_renders():
    assert shapes_check.validate_checker(300, seed=7) >= 0.99


def test_checker_agrees_on_noisy_renders():
    assert shapes_check.validate_checker(300, seed=9, noise=0.05, n_stray=4) >= 0.99


def test_checker_accepts_uint8_hwc_and_float_chw():
    scene = (Shape("triangle", "yellow", "large", "bottom left"),
             Shape("circle", "white", "small", "top right"))
    image = shapes.render(scene)
    as_float = image.transpose(2, 0, 1) / 127.5 - 1.0
    assert Counter(shapes_check.check(image)) == Counter(scene)
    assert Counter(shapes_check.check(as_float)) == Counter(scene)
    assert Counter(shapes_check.check(torch.from_numpy(as_float))) == Counter(scene)


def test_checker_ignores_tiny_specks():
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[3:5, 20:22] = shapes.COLOURS["red"]
    assert shapes_check.check(image) == []


def test_match_wrong_colour_in_two_shape_caption():
    drawn = (Shape("circle", "red", "large", "top left"),
             Shape("square", "yellow", "small", "bottom right"))
    caption = ("a large red circle at the top left and "
               "a small blue square at the bottom right")
    result = shapes_check.match(caption, shapes.render(drawn))
    assert result["n_expected"] == 2 and result["n_found"] == 2
    assert result["full_match"] is False
    assert result["attributes"] == {"shape": 1.0, "colour": 0.5, "size": 1.0, "position": 1.0}


def test_match_full_and_missing():
    scene = (Shape("triangle", "white", "large", "centre"),)
    caption = shapes.caption(scene)
    result = shapes_check.match(caption, shapes.render(scene))
    assert result["full_match"] is True
    assert set(result["attributes"].values()) == {1.0}
    empty = shapes_check.match(caption, np.zeros((32, 32, 3), dtype=np.uint8))
    assert empty["n_found"] == 0 and empty["full_match"] is False
    assert set(empty["attributes"].values()) == {0.0}


def test_match_misplaced_shape_keeps_other_attributes():
    drawn = (Shape("circle", "red", "small", "bottom left"),)
    result = shapes_check.match("a small red circle at the top right", shapes.render(drawn))
    assert result["attributes"] == {"shape": 1.0, "colour": 1.0, "size": 1.0, "position": 0.0}
    assert result["full_match"] is False


def test_match_extra_shape_is_not_a_full_match():
    drawn = (Shape("circle", "red", "small", "top left"),
             Shape("square", "blue", "small", "bottom right"))
    result = shapes_check.match("a small red circle at the top left", shapes.render(drawn))
    assert result["n_found"] == 2 and result["full_match"] is False
    assert result["attributes"]["colour"] == 1.0


def test_cli_prints_agreement(capsys):
    shapes_cli.main(["--validate", "20", "--seed", "1"])
    out = capsys.readouterr().out
    assert out.startswith("checker agreement on 20 rendered scenes: ")
    assert out.strip().endswith("%")
