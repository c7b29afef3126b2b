"""The shapes checker: reads which shapes an image shows (colour, kind, size, position) and matches
them against a caption; used to score the text models' samples.
"""

from __future__ import annotations

from collections import Counter, deque

import numpy as np

from diffviz.data.pixels import to_uint8
from diffviz.data.shapes import (
    COLOURS,
    IMAGE_SIZE,
    POSITIONS,
    SIZES,
    Shape,
    parse_caption,
    random_scene,
    render,
)

# A component smaller than this is noise, not a shape (a small triangle has 40).
MIN_COMPONENT = 6
# Pixels whose brightest channel is below this are background.
BACKGROUND_MAX = 100


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
    labels = _colour_labels(to_uint8(image))
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
