"""Captioned shapes: scenes of coloured circles, squares and triangles, their captions (and the grammar
that parses them back), and the renderer that draws a scene, optionally with each shape's mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffviz.data.text import normalise

IMAGE_SIZE = 32
KINDS = ("circle", "square", "triangle")
COLOURS = {
    "red": (230, 50, 40),
    "blue": (40, 90, 230),
    "yellow": (240, 220, 40),
    "white": (240, 240, 240),
}
SIZES = {"small": 8, "large": 14}
# Centre (x, y) of each position's cell. Corners sit at 7 and 25 rather than
# 8 and 24 so that two large shapes in neighbouring corners keep a 2-pixel gap
# even after jitter; same-coloured shapes must never touch or the checker
# would read them as one.
POSITIONS = {
    "top left": (7, 7),
    "top right": (25, 7),
    "bottom left": (7, 25),
    "bottom right": (25, 25),
    "centre": (16, 16),
}
CORNERS = tuple(p for p in POSITIONS if p != "centre")
JITTER = 1


@dataclass(frozen=True)
class Shape:
    """One shape of a scene; every field is one of the module's attribute names."""

    kind: str
    colour: str
    size: str
    position: str

    def __post_init__(self):
        for name, allowed in (
            ("kind", KINDS),
            ("colour", COLOURS),
            ("size", SIZES),
            ("position", POSITIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} {getattr(self, name)!r} is not one of {list(allowed)}"
                )


# ---------------------------------------------------------------- captions


def _phrase(shape: Shape) -> str:
    where = "in the centre" if shape.position == "centre" else f"at the {shape.position}"
    return f"a {shape.size} {shape.colour} {shape.kind} {where}"


def caption(scene) -> str:
    """Caption of a scene, e.g. "a large red circle at the top left"."""
    return " and ".join(_phrase(shape) for shape in scene)


GRAMMAR = (
    "'a <size> <colour> <shape> at the <top|bottom> <left|right>' or "
    "'a <size> <colour> <shape> in the centre', at most two joined by 'and'"
)


def _parse_phrase(words: list[str]) -> Shape:
    if len(words) < 4 or words[0] != "a":
        raise ValueError(f"{' '.join(words)!r} should start 'a <size> <colour> <shape>'")
    size, colour, kind, where = words[1], words[2], words[3], words[4:]
    if size not in SIZES or colour not in COLOURS or kind not in KINDS:
        raise ValueError(
            f"{' '.join(words[:4])!r} should be 'a <size> <colour> <shape>' with "
            f"size in {list(SIZES)}, colour in {list(COLOURS)}, shape in {list(KINDS)}"
        )
    if where == ["in", "the", "centre"]:
        return Shape(kind, colour, size, "centre")
    position = " ".join(where[2:])
    if where[:2] != ["at", "the"] or position not in CORNERS:
        raise ValueError(
            f"{' '.join(where)!r} should be 'in the centre' or "
            f"'at the <top|bottom> <left|right>'"
        )
    return Shape(kind, colour, size, position)


def _split_on_and(words: list[str]) -> list[list[str]]:
    phrases = [[]]
    for word in words:
        if word == "and":
            phrases.append([])
        else:
            phrases[-1].append(word)
    return phrases


def parse_caption(text: str) -> tuple[Shape, ...]:
    """Shapes described by a caption; the inverse of `caption`.

    Raises ValueError with a readable message when the caption does not
    follow the grammar, describes more than two shapes or puts two shapes
    at the same position.
    """
    phrases = _split_on_and(normalise(text))
    if phrases == [[]]:
        raise ValueError("the empty caption describes no shapes")
    if len(phrases) > 2:
        raise ValueError(f"a caption describes at most two shapes, got {len(phrases)}")
    try:
        scene = tuple(_parse_phrase(p) for p in phrases)
    except ValueError as err:
        raise ValueError(f"{text!r} does not follow the grammar {GRAMMAR}: {err}") from None
    if len({s.position for s in scene}) < len(scene):
        raise ValueError(f"{text!r} puts two shapes at the same position")
    return scene


# ------------------------------------------------------------ generation


def _random_shape(rng: np.random.Generator, position: str) -> Shape:
    return Shape(
        kind=KINDS[rng.integers(len(KINDS))],
        colour=list(COLOURS)[rng.integers(len(COLOURS))],
        size=list(SIZES)[rng.integers(len(SIZES))],
        position=position,
    )


def random_scene(rng: np.random.Generator) -> tuple[Shape, ...]:
    """A random scene: half one shape anywhere, half two shapes in two corners.

    Two-shape scenes never use the centre: a centre shape of either size
    would overlap or touch a corner shape once jittered.
    """
    if rng.random() < 0.5:
        position = list(POSITIONS)[rng.integers(len(POSITIONS))]
        return (_random_shape(rng, position),)
    first, second = rng.choice(len(CORNERS), size=2, replace=False)
    return (_random_shape(rng, CORNERS[first]), _random_shape(rng, CORNERS[second]))


# ------------------------------------------------------------- rendering


def _footprint(kind: str, side: int) -> np.ndarray:
    """Boolean (side, side) footprint of a shape inside its bounding box."""
    rows, cols = np.mgrid[0:side, 0:side]
    dx = cols + 0.5 - side / 2
    dy = rows + 0.5 - side / 2
    if kind == "square":
        return np.ones((side, side), dtype=bool)
    if kind == "circle":
        return dx**2 + dy**2 <= (side / 2) ** 2
    # Upward triangle: row r is 2 * ceil((r + 1) / 2) pixels wide, so every row
    # is centred and the base spans the whole box.
    return np.abs(dx) < np.ceil((rows + 1) / 2)


def _top_left(shape: Shape, jitter=(0, 0)) -> tuple[int, int]:
    side = SIZES[shape.size]
    cx, cy = POSITIONS[shape.position]
    # Clamp so jitter never pushes a shape off the image.
    x0 = min(max(cx - side // 2 + jitter[0], 0), IMAGE_SIZE - side)
    y0 = min(max(cy - side // 2 + jitter[1], 0), IMAGE_SIZE - side)
    return x0, y0


def shape_mask(shape: Shape, jitter=(0, 0)) -> np.ndarray:
    """Boolean (32, 32) mask of the pixels `shape` covers, moved by `jitter` (dx, dy)."""
    side = SIZES[shape.size]
    x0, y0 = _top_left(shape, jitter)
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    mask[y0 : y0 + side, x0 : x0 + side] = _footprint(shape.kind, side)
    return mask


def render(scene, rng: np.random.Generator | None = None, return_masks: bool = False):
    """Render a scene as a uint8 (32, 32, 3) image on black.

    Each shape is moved by up to one pixel of jitter drawn from `rng`
    (no jitter when rng is None). With `return_masks=True` returns
    `(image, [mask per shape])`.
    """
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    masks = []
    for shape in scene:
        jitter = (0, 0) if rng is None else tuple(rng.integers(-JITTER, JITTER + 1, size=2))
        mask = shape_mask(shape, jitter)
        image[mask] = COLOURS[shape.colour]
        masks.append(mask)
    return (image, masks) if return_masks else image


def make_batch(n: int, seed: int, return_masks: bool = False):
    """`n` random jittered scenes as float32 (n, 3, 32, 32) in [-1, 1] and their captions.

    The same seed always gives the same batch; any integer seed is valid. With
    `return_masks=True` also returns, per scene, the list of its shapes' masks (caption order).
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    captions, masks = [], []
    for i in range(n):
        scene = random_scene(rng)
        image, scene_masks = render(scene, rng, return_masks=True)
        images[i] = image.transpose(2, 0, 1) / 127.5 - 1.0
        captions.append(caption(scene))
        masks.append(scene_masks)
    return (images, captions, masks) if return_masks else (images, captions)
