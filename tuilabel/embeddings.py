"""One embedding per (backbone, pool item), computed once and shared by every mode.

Stored in the workspace as ``embeddings/<backbone>.npy`` (float16, ``items x dim``, memory-mapped)
beside ``embeddings/<backbone>.json``, which says how many rows are done, from what (the originals
or the display copies) and at what input size. Rows are computed in pool order, in batches; the
count is written only after the rows are flushed, so a run that is stopped goes on from the last
batch it finished, and a pool that grew (``init --add``) gets only its new rows computed.

Where the workspace has its image files (``Pool.originals``), each is read at the network's size
(JPEG draft decoding, upright, letterboxed) by a thread ahead of the network; a file that is
missing or unreadable is counted and its display copy used instead.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TuilabelError
from .models import backbones

FOLDER = "embeddings"
BATCH = 64  # images through the network at once at 112 pixels; a quarter of it at 224 (activations ~200 MB)
Progress = Callable[[float | None, str], None]


def _no_progress(fraction: float | None, text: str) -> None:
    pass


@dataclass
class EmbeddingInfo:
    backbone: str
    dim: int
    items: int  # rows the file has room for (the pool's size when it was last extended)
    done: int  # rows computed, from the first
    side: int  # input side the network read
    source: str  # "originals" or "display"
    fallbacks: int = 0  # items whose original could not be read: their display copy stood in
    seconds: float = 0.0  # time spent computing, over all runs

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1)


def _pool(workspace: Any, part: str) -> Any:
    return workspace.pool if part == "pool" else workspace.test


def paths(workspace: Any, backbone: str, part: str = "pool") -> tuple[Path, Path]:
    """The array and its record: ``<backbone>.npy`` for the pool, ``<backbone>.test.npy`` for the test set."""
    folder = Path(workspace.path) / FOLDER
    name = backbones.file_name(backbone)
    stem = name if part == "pool" else f"{name}.{part}"
    return folder / f"{stem}.npy", folder / f"{stem}.json"


def info(workspace: Any, backbone: str, part: str = "pool") -> EmbeddingInfo | None:
    """What is computed for ``backbone``, or None."""
    _, meta = paths(workspace, backbone, part)
    try:
        return EmbeddingInfo(**json.loads(meta.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def is_complete(workspace: Any, backbone: str) -> bool:
    """Every pool image embedded (and the test set's, when there is one)."""
    for part in ("pool", "test") if workspace.test is not None else ("pool",):
        done = info(workspace, backbone, part)
        if done is None or done.done < len(_pool(workspace, part)):
            return False
    return True


def load(workspace: Any, backbone: str, part: str = "pool") -> np.ndarray:
    """The embeddings as float32 ``(items, dim)``; a one-line error when they are not all computed."""
    done = info(workspace, backbone, part)
    n = len(_pool(workspace, part))
    if done is None or done.done < n:
        have = 0 if done is None else done.done
        raise TuilabelError(f"embeddings of {backbone} cover {have} of {n} images: run tuilabel embed "
                            f"{workspace.path} --backbone {backbone}", workspace.path)
    array = np.load(paths(workspace, backbone, part)[0], mmap_mode="r")
    return np.asarray(array[:n], np.float32)


def _write_info(meta: Path, record: EmbeddingInfo) -> None:
    tmp = meta.with_name(meta.name + ".tmp")
    tmp.write_text(record.to_json(), encoding="utf-8")
    os.replace(tmp, meta)


def _open(workspace: Any, backbone: str, part: str, dim: int, side: int, source: str
          ) -> tuple[np.memmap, EmbeddingInfo]:
    """The file, made or grown to the pool's size; a file from another input is started again."""
    array_path, meta = paths(workspace, backbone, part)
    array_path.parent.mkdir(exist_ok=True)
    n = len(_pool(workspace, part))
    record = info(workspace, backbone, part)
    if record is not None and (record.dim != dim or record.side != side or record.source != source
                               or not array_path.exists()):
        record = None
    if record is None:
        record = EmbeddingInfo(backbone, dim, n, 0, side, source)
        np.lib.format.open_memmap(array_path, "w+", np.float16, (n, dim)).flush()
        _write_info(meta, record)
    elif record.items < n:  # the pool grew: a larger file holding the rows done
        old = np.load(array_path, mmap_mode="r")
        tmp = array_path.with_name(array_path.name + ".tmp")
        grown = np.lib.format.open_memmap(tmp, "w+", np.float16, (n, dim))
        for start in range(0, record.done, 4096):
            grown[start:min(start + 4096, record.done)] = old[start:min(start + 4096, record.done)]
        grown.flush()
        del grown, old
        os.replace(tmp, array_path)
        record.items = n
        _write_info(meta, record)
    return np.lib.format.open_memmap(array_path, "r+"), record


def compute(workspace: Any, backbone: str, progress: Progress = _no_progress, device: str | None = None,
            batch: int | None = None, stop: Callable[[], bool] | None = None,
            download: bool = False) -> EmbeddingInfo:
    """Embed every pool item that is not embedded yet (resumable), then the test set's (evaluation
    only); returns what is stored of the pool. ``stop``, when given, is asked between batches;
    ``download``: a Hugging Face backbone may be fetched (else the local cache only)."""
    backbones.check_name(backbone)
    if backbone == backbones.NONE:
        raise TuilabelError("backbone none has nothing to embed", workspace.path)
    backbones.check_available(backbone, download)  # installed, before any work
    net: list[Any] = []  # loaded on first need
    record = _compute_part(workspace, backbone, "pool", net, progress, device, batch, stop, download)
    if workspace.test is not None and not (stop is not None and stop()):
        _compute_part(workspace, backbone, "test", net, progress, device, batch, stop, download)
    return record


def _compute_part(workspace: Any, backbone: str, part: str, loaded: list[Any], progress: Progress,
                  device: str | None, batch: int | None, stop: Callable[[], bool] | None,
                  download: bool = False) -> EmbeddingInfo:
    from .ingest import read_original

    pool = _pool(workspace, part)
    originals = pool.originals
    side = backbones.input_side(max(workspace.pool.image_shape[:2]), workspace.pool.originals is not None) \
        if backbone == backbones.DEFAULT else backbones.FOREIGN_SIDE
    source = "originals" if originals is not None else "display"
    batch = batch or max(8, BATCH * 112 * 112 // (side * side))
    record = info(workspace, backbone, part)
    if record is not None and record.done >= len(pool) and record.side == side and record.source == source:
        return record
    if not loaded:
        progress(None, f"loading {backbone}")
        loaded.append(backbones.load(backbone, device, download))
    net = loaded[0]
    array, record = _open(workspace, backbone, part, net.dim, side, source)
    n, first = len(pool), record.done
    started, t_run = time.perf_counter(), record.seconds

    def read(index: int) -> tuple[np.ndarray, bool]:
        """Item ``index`` at the network's size: its original, else its display copy."""
        if originals is not None:
            image = read_original(originals.path(index), (side, side, 3), (side, side), longest=side)
            if image is not None:
                return image, False
        return np.asarray(pool.images[index]), originals is not None

    def images(start: int, end: int) -> tuple[np.ndarray, int]:
        if originals is None:
            return np.asarray(pool.images[start:end]), 0
        read_ = [read(i) for i in range(start, end)]
        grey = [np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img for img, _ in read_]
        fitted = [img if img.shape[:2] == (side, side) else _square(img, side) for img in grey]
        return np.stack(fitted), sum(fell for _, fell in read_)

    starts = list(range(first, n, batch))
    with ThreadPoolExecutor(max_workers=1) as reader:  # the next batch is read while this one runs
        pending = reader.submit(images, starts[0], min(starts[0] + batch, n)) if starts else None
        for k, start in enumerate(starts):
            end = min(start + batch, n)
            assert pending is not None
            pixels, fell = pending.result()
            if k + 1 < len(starts):
                pending = reader.submit(images, starts[k + 1], min(starts[k + 1] + batch, n))
            array[start:end] = net.encode(pixels, side, batch=batch).astype(np.float16)
            array.flush()
            record.done, record.fallbacks = end, record.fallbacks + fell
            record.seconds = t_run + time.perf_counter() - started
            _write_info(paths(workspace, backbone, part)[1], record)
            rate = (end - first) / max(time.perf_counter() - started, 1e-9)
            left = (n - end) / max(rate, 1e-9)
            what = "images" if part == "pool" else "test images"
            progress(end / n, f"embedding {end}/{n} {what} with {backbone}: {rate:.0f} img/s, {left:.0f} s left")
            if stop is not None and stop():
                break
    del array
    return record


def _square(image: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR))

