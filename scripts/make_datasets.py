"""Two data sets that are not digits, made offline and reproducibly, for the benchmarks.

``photos``: 28x28 grayscale patches cut from ten photographs that scikit-image bundles in its wheel
(a registry package; ``pip install --no-deps scikit-image`` is enough, nothing of it is imported).
The class is the photograph a patch comes from: three textures (brick, grass, gravel), two portraits
(camera man, astronaut), a cat, a coffee cup, coins, text and a deep-sky field. Patches are cut at
random places and sizes (a third to a sixth of the photo's shorter side) and shrunk to 28x28; test
patches come from the bottom fifth of each photo, pool patches from the rest, so that no test patch
overlaps a pool patch. Licences (scikit-image's ``skimage/data/_fetchers.py`` docstrings): brick,
grass, gravel, camera, astronaut, chelsea and coffee are CC0 or public domain (NASA); coins has no
known copyright restrictions (Brooklyn Museum); text is public domain (Wikipedia); the Hubble deep
field is NASA/ESA, public domain. scikit-image itself is BSD-3-Clause.

``shapes``: 32x32 colour images of ten shapes drawn by Pillow (circle, ring, square, diamond,
triangles pointing up and down, arrows pointing left and right, plus, cross), in random colours
darker than their random light backgrounds, with noise, jittered in place, size and by up to 10
degrees. The classes make
flips and large rotations change the label (left/right arrows, up/down triangles, square/diamond,
plus/cross): augmentation that suits digits does not suit them.

``colour``: real colour photographs at their own size, as a camera folder would hold them: JPEG
files cut from eight colour photographs scikit-image bundles (astronaut, cat, coffee, rocket,
motorcycle, retina, stained tissue, deep-sky field; the class is the photograph), each crop a random
place, a side of a fifth to two fifths of the photo's shorter side and an aspect of 3:4 to 4:3,
never resized (60 to 570 pixels a side). Test crops come from the bottom fifth, as for ``photos``.
Licences as above; rocket (NASA), motorcycle (Middlebury stereo set, free for research), retina
(Häggström, CC0), immunohistochemistry (Hubert et al., public domain) per the same docstrings.

``photos`` and ``shapes`` write ``NAME-pool.npz`` and ``NAME-test.npz`` (``images``, ``labels``,
``class_names``), the same keys the bundled sample uses; ``colour`` writes the folders
``colour-pool/CLASS/*.jpg`` and ``colour-test/CLASS/*.jpg`` (class folders give tuilabel the labels).
Each gives identical files for the same seed.

Usage: python scripts/make_datasets.py OUT_DIR [--which photos shapes colour] [--pool 4000] [--test 1000]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PHOTOS = {  # class name -> file in skimage/data
    "brick": "brick.png", "grass": "grass.png", "gravel": "gravel.png", "camera": "camera.png",
    "astronaut": "astronaut.png", "cat": "chelsea.png", "coffee": "coffee.png", "coins": "coins.png",
    "text": "text.png", "deep-field": "hubble_deep_field.jpg",
}
COLOUR = {  # class name -> colour photograph in skimage/data
    "astronaut": "astronaut.png", "cat": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png", "retina": "retina.jpg", "tissue": "ihc.png",
    "deep-field": "hubble_deep_field.jpg",
}
SHAPES = ("circle", "ring", "square", "diamond", "triangle-up", "triangle-down",
          "arrow-left", "arrow-right", "plus", "cross")


def skimage_data() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image is not installed: pip install --no-deps scikit-image (only its photos are read)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _patches(photo: np.ndarray, n: int, test: bool, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    h, w = photo.shape
    cut = int(h * 0.8)  # test patches from the bottom fifth, pool patches above it
    top, bottom = (cut, h) if test else (0, cut)
    image = Image.fromarray(photo)
    out = np.empty((n, size, size), np.uint8)
    for i in range(n):
        side = int(rng.integers(min(h, w) // 6, min(h, w) // 3 + 1))
        side = min(side, bottom - top)
        y = int(rng.integers(top, bottom - side + 1))
        x = int(rng.integers(0, w - side + 1))
        patch = image.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(patch)
    return out


def make_photos(pool: int, test: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = skimage_data()
    names = list(PHOTOS)
    rng = np.random.default_rng(seed)
    photos = [np.asarray(Image.open(folder / PHOTOS[name]).convert("L")) for name in names]
    out = {}
    for split, total in (("pool", pool), ("test", test)):
        per = [total // len(names) + (c < total % len(names)) for c in range(len(names))]
        images = np.concatenate([_patches(p, k, split == "test", rng) for p, k in zip(photos, per)])
        labels = np.repeat(np.arange(len(names), dtype=np.uint8), per)
        order = rng.permutation(len(labels))
        out[split] = (images[order], labels[order])
    return out


def _polygon(kind: str) -> list[tuple[float, float]]:
    """The shape's outline in a unit box centred on 0 (y down)."""
    if kind == "square":
        return [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    if kind == "diamond":
        return [(0, -1.25), (1.25, 0), (0, 1.25), (-1.25, 0)]
    if kind == "triangle-up":
        return [(0, -1.1), (1.1, 0.9), (-1.1, 0.9)]
    if kind == "triangle-down":
        return [(0, 1.1), (1.1, -0.9), (-1.1, -0.9)]
    if kind in ("arrow-left", "arrow-right"):
        right = [(-1.1, -0.35), (0.1, -0.35), (0.1, -0.9), (1.1, 0), (0.1, 0.9), (0.1, 0.35), (-1.1, 0.35)]
        return right if kind == "arrow-right" else [(-x, y) for x, y in right]
    if kind in ("plus", "cross"):
        a, b = 0.32, 1.1
        plus = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a),
                (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
        if kind == "plus":
            return plus
        c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
        return [(x * c - y * s, x * s + y * c) for x, y in plus]
    raise ValueError(kind)


def _shape_image(kind: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    scale = 4  # drawn large, then shrunk: smooth edges
    big = size * scale
    # any hue, but the shape darker than its background (as ink on paper): a person sees it at once
    back = rng.integers(150, 256, 3)
    fore = (back * rng.uniform(0.0, 0.45, 3)).astype(int)
    image = Image.new("RGB", (big, big), tuple(int(v) for v in back))
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.22, 0.36) * big
    cx, cy = (big / 2 + rng.uniform(-0.12, 0.12) * big for _ in range(2))
    angle = math.radians(rng.uniform(-10, 10))
    colour = tuple(int(v) for v in fore)
    if kind in ("circle", "ring"):
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if kind == "circle":
            draw.ellipse(box, fill=colour)
        else:
            draw.ellipse(box, outline=colour, width=int(radius * 0.35))
    else:
        points = []
        for x, y in _polygon(kind):
            x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
            points.append((cx + x * radius * 0.85, cy + y * radius * 0.85))
        draw.polygon(points, fill=colour)
    small = np.asarray(image.resize((size, size), Image.Resampling.BOX), np.float32)
    noise = rng.normal(0, rng.uniform(3, 20), small.shape)
    return np.clip(small + noise, 0, 255).astype(np.uint8)


def make_shapes(pool: int, test: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, total in (("pool", pool), ("test", test)):
        labels = rng.permutation(np.arange(total) % len(SHAPES)).astype(np.uint8)
        images = np.stack([_shape_image(SHAPES[k], rng) for k in labels])
        out[split] = (images, labels)
    return out


def _colour_crops(photo: Image.Image, n: int, test: bool, rng: np.random.Generator) -> list[Image.Image]:
    w, h = photo.size
    cut = int(h * 0.8)  # test crops from the bottom fifth, pool crops above it
    top, bottom = (cut, h) if test else (0, cut)
    crops = []
    for _ in range(n):
        side = rng.uniform(0.2, 0.4) * min(w, h)
        aspect = rng.uniform(0.75, 4 / 3)
        cw, ch = int(side * math.sqrt(aspect)), min(int(side / math.sqrt(aspect)), bottom - top)
        y = int(rng.integers(top, bottom - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        crops.append(photo.crop((x, y, x + cw, y + ch)))
    return crops


def write_colour(out: Path, pool: int = 4000, test: int = 1000, seed: int = 0) -> list[Path]:
    """The ``colour`` folders (see the module's docstring); their paths."""
    folder = skimage_data()
    rng = np.random.default_rng(seed)
    written = []
    photos = {name: Image.open(folder / file).convert("RGB") for name, file in COLOUR.items()}
    for split, total in (("pool", pool), ("test", test)):
        root = out / f"colour-{split}"
        for c, (name, photo) in enumerate(photos.items()):
            k = total // len(COLOUR) + (c < total % len(COLOUR))
            (root / name).mkdir(parents=True, exist_ok=True)
            for i, crop in enumerate(_colour_crops(photo, k, split == "test", rng)):
                crop.save(root / name / f"{name}-{i:05d}.jpg", quality=90)
        written.append(root)
    return written


MAKERS = {"photos": (make_photos, list(PHOTOS)), "shapes": (make_shapes, list(SHAPES))}


def write(out: Path, which: str, pool: int = 4000, test: int = 1000, seed: int = 0) -> list[Path]:
    if which == "colour":
        return write_colour(out, pool, test, seed)
    make, classes = MAKERS[which]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, (images, labels) in make(pool, test, seed).items():
        path = out / f"{which}-{split}.npz"
        np.savez_compressed(path, images=images, labels=labels, class_names=np.array(classes))
        written.append(path)
    return written


def benchmark_files(name: str, out: Path) -> tuple[Path, Path]:
    """A benchmark's pool and test files: the bundled sample for ``mnist``, else this script's data
    set ``name`` written into ``out``."""
    if name == "mnist":
        sample = Path(__file__).resolve().parent.parent / "sample_data"
        return sample / "mnist-pool.npz", sample / "mnist-test.npz"
    pool, test = write(out, name)
    return pool, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--which", nargs="+", choices=[*MAKERS, "colour"], default=[*MAKERS, "colour"])
    parser.add_argument("--pool", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for which in args.which:
        for path in write(args.out, which, args.pool, args.test, args.seed):
            print(f"{path}: written")


if __name__ == "__main__":
    main()
