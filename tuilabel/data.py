"""Data in: every source (arrays, IDX files, image folders, CSV) becomes one in-memory `Pool`.

Ground truth, where a source has it, is kept in `Pool.truth`: it is for evaluation and simulated
labelers only, never for a session's choices.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import re
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .ingest import IMAGE_SUFFIXES, is_path_list
from .originals import Originals

IDX_DTYPES: dict[int, Any] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def shown_id(item_id: str) -> str:
    """An item id as a labeler sees it: the file name only, since an image folder's ids start with
    the class folder, which would give the answer away."""
    return item_id.replace("\\", "/").rsplit("/", 1)[-1]


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 ``N x H x W [x C]`` images (pool items or stored samples) as float32 in [0, 1],
    channels first: ``N x C x H x W``, the layout every model here is trained on."""
    x = images.astype(np.float32) / 255.0
    return x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)


@dataclass
class Pool:
    """Images to label: uint8 ``N x H x W`` (grayscale) or ``N x H x W x C`` (colour)."""

    images: np.ndarray
    ids: np.ndarray
    class_names: list[str]
    truth: np.ndarray | None = None  # class index per image, -1 unknown; evaluation only
    source: str = ""
    checked: bool = field(default=False, repr=False, compare=False)  # ids known unique (a workspace's cache)
    originals: Originals | None = field(default=None, repr=False, compare=False)  # image files' records
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        if len(self.ids) != len(self.images):
            raise DataError(f"{len(self.images)} images but {len(self.ids)} ids", self.source)
        if not self.checked and len(set(self.ids.tolist())) != len(self.ids):
            raise DataError("item ids are not unique", self.source)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else int(self.images.shape[3])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def _ids_index(self) -> dict[str, int]:
        if not self._index:
            self._index = {item: i for i, item in enumerate(self.ids.tolist())}
        return self._index

    def index_of(self, item_id: str) -> int:
        return self._ids_index()[item_id]

    def has(self, item_id: str) -> bool:
        return item_id in self._ids_index()

    def indices_of(self, item_ids: Sequence[str]) -> np.ndarray:
        return np.array([self.index_of(i) for i in item_ids], dtype=np.int64)

    def as_float(self, idx: np.ndarray | slice | None = None) -> np.ndarray:
        """Images as float32 in [0, 1], channels first: ``N x C x H x W``."""
        return to_model_input(self.images if idx is None else self.images[idx])

    @staticmethod
    def images_path(path: Path) -> Path:
        """Where the cache at ``path`` (``pool.npz``) keeps its pixels: ``pool-images.npy`` beside it."""
        return path.with_name(f"{path.stem}-images.npy")

    def save(self, path: Path) -> None:
        """The pixels as a plain ``.npy`` (memory-mapped when the workspace opens: a pool of a
        million images is not read into memory), ids, classes and truth in ``path`` (.npz)."""
        arrays = {"ids": self.ids, "class_names": np.array(self.class_names)}
        if self.truth is not None:
            arrays["truth"] = self.truth
        if self.originals is not None:
            arrays.update(self.originals.arrays())
        pixels = self.images_path(path)
        mapped = getattr(self.images, "filename", None)
        if mapped is None or Path(mapped).resolve() != pixels.resolve():  # not already there (a folder's init)
            tmp = pixels.with_name(pixels.name + ".tmp")
            with open(tmp, "wb") as f:
                np.save(f, self.images)
            os.replace(tmp, pixels)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
        os.replace(tmp, path)

    @classmethod
    def load_cache(cls, path: Path) -> Pool:
        """A workspace's cached pool; its pixels memory-mapped (read-only) from the ``.npy`` beside it
        (a cache from an older tuilabel keeps them inside the .npz)."""
        with np.load(path, allow_pickle=False) as d:
            truth = d["truth"] if "truth" in d.files else None
            if "images" in d.files:
                images = d["images"]
            else:
                images = np.load(cls.images_path(path), mmap_mode="r", allow_pickle=False)
            return cls(images, d["ids"], d["class_names"].tolist(), truth, str(path), checked=True,
                       originals=Originals.from_arrays(d))


# ---------------------------------------------------------------------------------------------
# Checks shared by every loader


def _as_uint8(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind not in "biuf":
        raise DataError(f"images have dtype {images.dtype}, expected numbers", path)
    if images.dtype.kind == "f":
        if np.isnan(images).any():
            raise DataError("images contain NaN values", path)
        if not np.isfinite(images).all():
            raise DataError("images contain infinite values", path)
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(
            f"pixel values range {images.min()}..{images.max()}, expected 0..255 (or 0..1 floats)",
            path,
        )
    if images.dtype.kind == "f" and images.size and images.max() <= 1.0:
        images = images * 255.0
    return np.rint(images).astype(np.uint8)


def _check_shape(images: np.ndarray, path: Path) -> np.ndarray:
    if images.ndim == 2 and images.shape[0] > 0:
        side = round(np.sqrt(images.shape[1]))
        if side * side != images.shape[1]:
            raise DataError(
                f"flat images of {images.shape[1]} pixels are not square; reshape to N x H x W", path
            )
        images = images.reshape(-1, side, side)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (3, 4):
        images = np.moveaxis(images, 1, -1)  # channels-first arrays become channels-last
        if images.shape[-1] == 1:
            images = images[..., 0]
    if images.ndim == 4 and images.shape[-1] == 4:
        images = images[..., :3]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise DataError(f"images have shape {images.shape}, expected N x H x W [x 3]", path)
    if len(images) == 0:
        raise DataError("the data set is empty", path)
    return images


def _labels_to_classes(
    raw: np.ndarray | None, n: int, path: Path, classes: Sequence[str] | None
) -> tuple[np.ndarray | None, list[str] | None]:
    """Map raw labels (ints or strings) to class indices; -1 marks an unknown label."""
    if raw is None:
        return None, list(classes) if classes else None
    raw = np.asarray(raw).reshape(-1)
    if len(raw) != n:
        raise DataError(f"{n} images but {len(raw)} labels", path)
    if raw.dtype.kind == "f":
        if np.isnan(raw).any():
            raise DataError("labels contain NaN values", path)
        if (raw != np.round(raw)).any():
            raise DataError("labels are not whole numbers", path)
        raw = raw.astype(np.int64)
    if classes:
        names = list(classes)
        if raw.dtype.kind in "iu":
            if raw.size and (raw.min() < -1 or raw.max() >= len(names)):
                raise DataError(
                    f"labels range {raw.min()}..{raw.max()}, but there are {len(names)} classes", path
                )
            return raw.astype(np.int64), names
        lookup = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in raw} - set(lookup))
        if unknown:
            raise DataError(f"labels {unknown[:5]} are not among the classes {names}", path)
        return np.array([lookup[str(v)] for v in raw], dtype=np.int64), names
    if raw.dtype.kind in "iu":
        if raw.size and raw.min() < 0:
            raise DataError(f"negative label {raw.min()}", path)
        values = sorted(set(raw.tolist()))
        # Integer labels 0..K-1 keep their meaning; sparse integers get dense indices.
        if values and values[-1] < 1000 and values[-1] + 1 <= 2 * len(values):
            names = [str(v) for v in range(values[-1] + 1)]
            return raw.astype(np.int64), names
        lookup = {v: i for i, v in enumerate(values)}
        return np.array([lookup[v] for v in raw.tolist()], dtype=np.int64), [str(v) for v in values]
    values = sorted({str(v) for v in raw})
    lookup = {v: i for i, v in enumerate(values)}
    return np.array([lookup[str(v)] for v in raw], dtype=np.int64), values


def _finish(
    images: np.ndarray,
    raw_labels: np.ndarray | None,
    path: Path,
    classes: Sequence[str] | None,
    ids: np.ndarray | None = None,
) -> Pool:
    images = _as_uint8(_check_shape(np.asarray(images), path), path)
    truth, names = _labels_to_classes(raw_labels, len(images), path, classes)
    if not names:
        raise DataError("no labels to learn the classes from: pass --classes A,B,...", path)
    if ids is None:
        ids = np.array([str(i) for i in range(len(images))])
    return Pool(np.ascontiguousarray(images), ids, names, truth, str(path))


# ---------------------------------------------------------------------------------------------
# Arrays


def _load_npz(path: Path, labels: Path | None, classes: Sequence[str] | None) -> Pool:
    try:
        with np.load(path, allow_pickle=False) as d:
            files = d.files
            key = next((k for k in ("images", "x", "X", "x_train", "data") if k in files), None)
            if key is None:
                raise DataError(f"no 'images' array (found {', '.join(files) or 'nothing'})", path)
            images = d[key]
            lab_key = next((k for k in ("labels", "y", "Y", "y_train", "targets") if k in files), None)
            raw = d[lab_key] if lab_key else None
            ids = d["ids"] if "ids" in files else None
            if classes is None and "class_names" in files:
                classes = [str(c) for c in d["class_names"].tolist()]
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"not a readable .npz file ({exc})", path) from None
    if labels is not None:
        raw = _load_labels_file(labels)
    return _finish(images, raw, path, classes, ids)


def _load_npy(path: Path, labels: Path | None, classes: Sequence[str] | None) -> Pool:
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)  # a million images stream through
    except (EOFError, OSError, ValueError) as exc:
        raise DataError(f"not a readable .npy file ({exc})", path) from None
    raw = _load_labels_file(labels) if labels is not None else None
    if raw is None:
        beside = path.with_name(path.stem.replace("images", "labels") + ".npy")
        if beside != path and beside.exists():
            raw = _load_labels_file(beside)
    return _finish(images, raw, path, classes)


def _load_labels_file(path: Path) -> np.ndarray:
    if not path.exists():
        raise DataError("labels file not found", path)
    name = path.name.lower()
    if name.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (EOFError, OSError, ValueError) as exc:
            raise DataError(f"not a readable .npy file ({exc})", path) from None
    if "idx1" in name or _idx_magic(path) is not None:
        return read_idx(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read labels ({exc})", path) from None
    values = [v.strip() for v in re.split(r"[\n,]", text) if v.strip()]
    try:
        return np.array([int(v) for v in values])
    except ValueError:
        return np.array(values)


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)


def _open_maybe_gz(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read file ({exc.strerror or exc})", path) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"broken gzip stream ({exc})", path) from None
    return raw


def _idx_magic(path: Path) -> tuple[int, int] | None:
    try:
        head = _open_maybe_gz(path)[:4]
    except DataError:
        return None
    if len(head) == 4 and head[0] == 0 and head[1] == 0 and head[2] in IDX_DTYPES and 1 <= head[3] <= 4:
        return head[2], head[3]
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) as distributed for MNIST and Fashion-MNIST."""
    data = _open_maybe_gz(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DataError(f"wrong IDX magic number {data[:4].hex() or '(empty file)'}", path)
    ndim = data[3]
    if not 1 <= ndim <= 4:
        raise DataError(f"IDX header claims {ndim} dimensions", path)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError("truncated IDX header", path)
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[data[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header < need:
        raise DataError(
            f"truncated: header promises {dims} ({need} bytes) but {len(data) - header} are there", path
        )
    return np.frombuffer(data, dtype, count=int(np.prod(dims)), offset=header).reshape(dims)


def _idx_labels_beside(images_path: Path) -> Path | None:
    name = images_path.name
    for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1"), ("images", "labels")):
        if a in name:
            stem = name.replace(a, b)
            for candidate in (stem, stem.removesuffix(".gz"), stem + ".gz" if not stem.endswith(".gz") else stem):
                if (images_path.parent / candidate).exists():
                    return images_path.parent / candidate
    return None


def _load_idx(path: Path, labels: Path | None, classes: Sequence[str] | None) -> Pool:
    images = read_idx(path)
    if images.ndim < 2:
        raise DataError(f"IDX file holds a {images.ndim}-d array, expected images", path)
    labels = labels or _idx_labels_beside(path)
    raw = read_idx(labels) if labels is not None else None
    if raw is not None and len(raw) != len(images):
        raise DataError(f"{len(images)} images but {len(raw)} labels in {labels}", path)
    return _finish(images, raw, path, classes)


def find_idx_images(folder: Path) -> list[Path]:
    """IDX image files in a folder, training set first."""
    found = [p for p in folder.iterdir() if p.is_file() and re.search(r"images[-.]idx3", p.name)]
    return sorted(found, key=lambda p: (not p.name.startswith("train"), p.name))


# ---------------------------------------------------------------------------------------------
# Image files (a folder, a list of paths, a CSV of paths): read by `ingest`


def is_image_files(path: Path) -> bool:
    """A source of image files: a folder (not one of IDX files), a list of paths, a CSV of paths."""
    return (path.is_dir() and not find_idx_images(path)) or (path.is_file() and is_path_list(path))


def read_image_files(
    path: Path, work: Path, classes: Sequence[str] | None, size: tuple[int, int] | None,
    warn: Callable[[str], None], progress: Any = None,
) -> Pool:
    """An image source read into ``work/pool-images.npy`` (see `ingest`); the pool's images a
    read-only memory map of it."""
    from .ingest import read_images

    images, ids, names, truth, originals = read_images(path, work, size, classes, warn, progress)
    truth, names = _labels_to_classes(truth, len(ids), path, names)
    if not names:
        raise DataError("no labels to learn the classes from: pass --classes A,B,...", path)
    return Pool(images, ids, names, truth, str(path), originals=originals)


def _load_image_files(
    path: Path, classes: Sequence[str] | None, size: tuple[int, int] | None, warn: Callable[[str], None]
) -> Pool:
    """An image source read into memory (a workspace's init reads it into its own folder instead)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tuilabel-read-") as work:
        pool = read_image_files(path, Path(work), classes, size, warn)
        pool.images = np.array(pool.images)
    return pool


# ---------------------------------------------------------------------------------------------
# CSV of pixel rows


def _load_csv(
    path: Path, labels: Path | None, classes: Sequence[str] | None, size: tuple[int, int] | None
) -> Pool:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read CSV ({exc})", path) from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    if not rows:
        raise DataError("the data set is empty", path)
    header: list[str] | None = None
    try:
        float(rows[0][-1])
    except ValueError:
        header, rows = [h.strip().lower() for h in rows[0]], rows[1:]
    if not rows:
        raise DataError("the data set is empty", path)
    width = len(rows[0])
    for n, r in enumerate(rows, start=2 if header else 1):
        if len(r) != width:
            raise DataError(f"row {n} has {len(r)} columns, expected {width}", path)
    label_col = None
    if header and "label" in header:
        label_col = header.index("label")
    elif labels is None and size is None:
        side = round(np.sqrt(width - 1))
        if side * side == width - 1 and round(np.sqrt(width)) ** 2 != width:
            label_col = 0  # Kaggle-style: label first, then the pixels
    raw_labels = None
    if label_col is not None:
        raw_labels = np.array([r[label_col].strip() for r in rows])
        with contextlib.suppress(ValueError):  # string class names stay strings
            raw_labels = raw_labels.astype(np.int64)
        rows = [r[:label_col] + r[label_col + 1 :] for r in rows]
    try:
        pixels = np.array(rows, dtype=np.float64)
    except ValueError:
        raise DataError("non-numeric pixel values", path) from None
    if size is not None:
        if size[0] * size[1] * 3 == pixels.shape[1]:
            pixels = pixels.reshape(-1, size[0], size[1], 3)
        elif size[0] * size[1] == pixels.shape[1]:
            pixels = pixels.reshape(-1, *size)
        else:
            raise DataError(f"rows of {pixels.shape[1]} pixels do not fit --size {size[0]}x{size[1]}", path)
    if labels is not None:
        raw_labels = _load_labels_file(labels)
    if pixels.size and pixels.max() <= 1.0 and pixels.dtype.kind == "f":
        pixels = pixels.astype(np.float32)
    return _finish(pixels, raw_labels, path, classes)


# ---------------------------------------------------------------------------------------------


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"28x28"`` or ``"28"`` to ``(28, 28)``."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+))?\s*", text)
    if not m:
        raise DataError(f"size {text!r} is not HxW")
    h = int(m.group(1))
    return h, int(m.group(2) or h)


def load_pool(
    path: str | Path,
    labels: str | Path | None = None,
    classes: Sequence[str] | None = None,
    size: tuple[int, int] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Pool:
    """Load any supported source as a `Pool`; raises `DataError` with the file and the problem."""
    path = Path(path)
    labels_path = Path(labels) if labels is not None else None
    warn = warn or (lambda msg: print(f"tuilabel: {msg}", file=sys.stderr))
    if not path.exists():
        raise DataError("no such file or folder", path)
    if path.is_dir():
        idx_files = find_idx_images(path)
        if idx_files:
            pool = _load_idx(idx_files[0], labels_path, classes)
        else:
            pool = _load_image_files(path, classes, size, warn)
    else:
        name = path.name.lower()
        try:
            if is_path_list(path):
                pool = _load_image_files(path, classes, size, warn)
            elif name.endswith(".npz"):
                pool = _load_npz(path, labels_path, classes)
            elif name.endswith(".npy"):
                pool = _load_npy(path, labels_path, classes)
            elif name.endswith((".csv", ".csv.gz")):
                pool = _load_csv(path, labels_path, classes, size)
            elif _idx_magic(path) is not None or re.search(r"idx\d", name):
                pool = _load_idx(path, labels_path, classes)
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                raise DataError("a single image is not a pool: point --data at its folder", path)
            else:
                raise DataError(
                    "unknown format: expected .npz, .npy, .csv, an IDX file, or a folder of images", path
                )
        except PermissionError:
            raise DataError("permission denied", path) from None
    if size is not None and pool.image_shape[:2] != size and pool.originals is None:
        pool = resize_pool(pool, size)
    return pool


def resize_pool(pool: Pool, size: tuple[int, int]) -> Pool:
    from PIL import Image

    h, w = size
    resized = np.stack(
        [np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BILINEAR)) for img in pool.images]
    )
    return Pool(resized, pool.ids, pool.class_names, pool.truth, pool.source)
