"""Captioned shapes: scene generator, renderer, caption grammar and checker.

A scene is one or two filled shapes on a black 32x32 RGB image, described by
a caption such as "a large red circle at the top left and a small blue square
at the bottom right". The checker reads an image back into shapes, so
generated samples can be scored against their caption.
"""

import argparse
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from diffviz.text import normalise

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

# A component smaller than this is noise, not a shape (a small triangle has 40).
MIN_COMPONENT = 6
# Pixels whose brightest channel is below this are background.
BACKGROUND_MAX = 100


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


# --------------------------------------------------------------- checker


def _to_uint8_hwc(image) -> np.ndarray:
    """Accept uint8 HWC or float CHW in [-1, 1] (numpy or torch) and return uint8 HWC."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().float().numpy()
    array = np.asarray(image)
    if array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 0)
    if array.dtype != np.uint8:
        array = np.clip((array.astype(np.float32) + 1.0) * 127.5, 0, 255).round()
    return array.astype(np.uint8)


def _colour_labels(image: np.ndarray) -> np.ndarray:
    """Per-pixel palette index, -1 for background."""
    pixels = image.astype(np.float32)
    palette = np.array(list(COLOURS.values()), dtype=np.float32)
    distances = ((pixels[:, :, None, :] - palette) ** 2).sum(axis=-1)
    labels = distances.argmin(axis=-1)
    labels[pixels.max(axis=-1) < BACKGROUND_MAX] = -1
    return labels


def _components(labels: np.ndarray):
    """Yield (palette index, boolean mask) of each 4-connected same-colour region."""
    seen = labels < 0
    for y0, x0 in zip(*np.nonzero(~seen)):
        if seen[y0, x0]:
            continue
        colour = labels[y0, x0]
        mask = np.zeros_like(seen)
        queue = deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            mask[y, x] = True
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                inside = 0 <= ny < IMAGE_SIZE and 0 <= nx < IMAGE_SIZE
                if inside and not seen[ny, nx] and labels[ny, nx] == colour:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        yield colour, mask


def _trim(mask: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Crop a mask to its bounding box and return it with the box centre (x, y).

    Edge rows and columns of a single pixel are left out: every rendered row
    and column of a shape has at least two pixels, so a one-pixel fringe is a
    stray noise pixel stuck to the shape.
    """
    rows = np.nonzero(mask.sum(axis=1) > 1)[0]
    cols = np.nonzero(mask.sum(axis=0) > 1)[0]
    if len(rows) == 0 or len(cols) == 0:
        return mask[:0, :0], 0.0, 0.0
    box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return box, (cols[0] + cols[-1] + 1) / 2, (rows[0] + rows[-1] + 1) / 2


def _kind(box: np.ndarray) -> str:
    """Kind from the cropped mask: triangles taper, squares fill their box."""
    widths = box.sum(axis=1)
    third = max(len(widths) // 3, 1)
    taper = widths[:third].mean() / max(widths[-third:].mean(), 1)
    if taper < 0.6:
        return "triangle"
    return "square" if box.mean() > 0.9 else "circle"


def _position(cx: float, cy: float) -> str:
    centre_x, centre_y = POSITIONS["centre"]
    if abs(cx - centre_x) <= 4 and abs(cy - centre_y) <= 4:
        return "centre"
    row = "top" if cy < IMAGE_SIZE / 2 else "bottom"
    col = "left" if cx < IMAGE_SIZE / 2 else "right"
    return f"{row} {col}"


def _read_component(colour: int, mask: np.ndarray) -> Shape | None:
    # Position from the bounding-box centre, not the centroid: a triangle's
    # centroid sits low in its box.
    box, cx, cy = _trim(mask)
    if box.sum() < MIN_COMPONENT:
        return None
    threshold = (SIZES["small"] + SIZES["large"]) / 2
    return Shape(
        kind=_kind(box),
        colour=list(COLOURS)[colour],
        size="large" if max(box.shape) > threshold else "small",
        position=_position(cx, cy),
    )


def check(image) -> list[Shape]:
    """Shapes found in an image, ordered by position.

    `image` is uint8 (32, 32, 3) or float (3, 32, 32) in [-1, 1], e.g. a
    generated sample. Pixels are snapped to the nearest palette colour,
    same-colour 4-connected regions of at least MIN_COMPONENT pixels are
    shapes; kind, size and position come from each region's bounding box.
    """
    labels = _colour_labels(_to_uint8_hwc(image))
    found = [_read_component(c, m) for c, m in _components(labels)]
    order = list(POSITIONS)
    return sorted((s for s in found if s is not None), key=lambda s: order.index(s.position))


# ----------------------------------------------------------------- match

ATTRIBUTES = {"shape": "kind", "colour": "colour", "size": "size", "position": "position"}


def _agreement(expected: Shape, found: Shape) -> dict[str, bool]:
    return {name: getattr(expected, field) == getattr(found, field)
            for name, field in ATTRIBUTES.items()}


def _pair(expected, found) -> list[Shape | None]:
    """Found shape paired with each expected shape, None where there is none.

    Pairs by position first; an expected shape with no found shape at its
    position is paired with the unused found shape agreeing on most other
    attributes, so a misplaced shape still scores its colour, kind and size.
    """
    unused = list(found)
    pairs = []
    for shape in expected:
        same = [f for f in unused if f.position == shape.position]
        pairs.append(same[0] if same else None)
        if same:
            unused.remove(same[0])
    for i, shape in enumerate(expected):
        if pairs[i] is None and unused:
            best = max(unused, key=lambda f: sum(_agreement(shape, f).values()))
            pairs[i] = best
            unused.remove(best)
    return pairs


def match(text: str, image) -> dict:
    """Score an image against its caption.

    Returns `{'n_expected', 'n_found', 'full_match', 'attributes'}` where
    `attributes` maps shape/colour/size/position to the fraction of expected
    shapes whose paired found shape has that attribute right (a missing
    shape counts every attribute wrong). `full_match` requires exactly the
    described shapes and nothing else.
    """
    expected = parse_caption(text)
    found = check(image)
    scores = {name: 0.0 for name in ATTRIBUTES}
    for shape, paired in zip(expected, _pair(expected, found)):
        if paired is not None:
            for name, ok in _agreement(shape, paired).items():
                scores[name] += ok / len(expected)
    return {
        "n_expected": len(expected),
        "n_found": len(found),
        "full_match": Counter(expected) == Counter(found),
        "attributes": scores,
    }


# ------------------------------------------------------------ validation


def add_noise(image: np.ndarray, rng: np.random.Generator, std: float,
              n_stray: int = 0) -> np.ndarray:
    """Float CHW copy of a uint8 HWC image with noise, as a stand-in for a generated sample.

    Adds Gaussian noise of `std` in [-1, 1] units and sets `n_stray` random
    pixels to random palette colours.
    """
    noisy = image.transpose(2, 0, 1) / 127.5 - 1.0
    noisy = noisy + rng.normal(0.0, std, size=noisy.shape)
    palette = np.array(list(COLOURS.values())) / 127.5 - 1.0
    for _ in range(n_stray):
        y, x = rng.integers(IMAGE_SIZE, size=2)
        noisy[:, y, x] = palette[rng.integers(len(palette))]
    return np.clip(noisy, -1.0, 1.0).astype(np.float32)


def validate_checker(n: int, seed: int, noise: float = 0.0, n_stray: int = 0) -> float:
    """Share of `n` random jittered scenes the checker reads back exactly.

    Optional Gaussian `noise` (std in [-1, 1] units) and `n_stray` stray
    pixels are added before checking.
    """
    rng = np.random.default_rng(seed)
    agree = 0
    for _ in range(n):
        scene = random_scene(rng)
        image = render(scene, rng)
        if noise or n_stray:
            image = add_noise(image, rng, noise, n_stray)
        agree += Counter(check(image)) == Counter(scene)
    return agree / n


def main(argv=None) -> None:
    """CLI: `python -m diffviz.shapes --validate 2000` prints the checker agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validate", type=int, metavar="N", required=True,
                        help="number of random scenes to render and check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0,
                        help="Gaussian noise std in [-1, 1] units")
    parser.add_argument("--stray", type=int, default=0, help="stray pixels per image")
    args = parser.parse_args(argv)
    share = validate_checker(args.validate, args.seed, args.noise, args.stray)
    print(f"checker agreement on {args.validate} rendered scenes: {share:.2%}")


if __name__ == "__main__":
    main()
