"""Image files in: a folder (class folders give labels), a text file of paths, or a CSV with a path
column become a pool of display copies, read in bounded memory, over the cores, resumably.

Two passes. The first reads each file's header (size, orientation, colour) to choose the display
size; the second decodes each file once (a JPEG at a reduced scale where the display size allows),
turns it upright by its EXIF orientation, brings any mode (16-bit, CMYK, palette, alpha, animated:
its first frame, truncated: as far as it goes) to 8-bit grey or RGB, fits it inside the display size
(aspect kept, padded with black) and writes it into a memory-mapped file, then drops it. The
workspace's ``.ingest/`` folder holds the work: a killed ``init`` run again skips what is done.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .originals import Originals, content_hash

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
LIST_SUFFIXES = {".txt", ".lst"}
PATH_COLUMNS = ("path", "file", "filename", "image", "image_path", "filepath")
LABEL_COLUMNS = ("label", "class", "category")
MAX_DEFAULT_SIDE = 64  # display copies of large photos are brought down to this unless --size says otherwise
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
IN_PROCESS_BELOW = 64  # files: fewer are read without worker processes
FLUSH_EVERY = 256  # items between flushes of the progress (what a rerun after a kill skips)

Progress = Callable[[float | None, str], None]


@dataclass
class Entry:
    path: str  # absolute
    item: str  # the item id: the path relative to the root, as written
    label: str | None


def is_path_list(path: Path) -> bool:
    """A text file of image paths, or a CSV whose header names a path column."""
    name = path.name.lower()
    if path.suffix.lower() in LIST_SUFFIXES:
        return True
    if name.endswith(".csv"):
        try:
            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        except (OSError, UnicodeDecodeError):
            return False
        return any(h.strip().lower() in PATH_COLUMNS for h in header)
    return False


def class_from_folder(folder: str) -> str:
    """A class name from its folder (export percent-encodes what a file name cannot hold)."""
    from urllib.parse import unquote

    return "" if folder == "%00" else unquote(folder)


def scan(source: Path) -> tuple[Path, list[Entry], list[str]]:
    """The root the items' ids are relative to, the image files in a stable order, and the files
    passed over (not images by their name)."""
    if source.is_dir():
        root, entries, skipped = source.resolve(), [], []
        for p in sorted(source.rglob("*")):
            rel = p.relative_to(source)
            if any(part.startswith(".") for part in rel.parts) or not p.is_file():
                continue
            if (rel.parts[0] == "_generated" and len(rel.parts) > 1) or p.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(rel.as_posix())  # not an image, or generated samples an export put beside
                continue
            label = class_from_folder(rel.parts[0]) if len(rel.parts) > 1 else None
            entries.append(Entry(str(root / rel), rel.as_posix(), label))
        if not entries:
            raise DataError("no readable images in the folder", source)
        return root, entries, skipped
    return (*_scan_list(source), [])


def _scan_list(source: Path) -> tuple[Path, list[Entry]]:
    root = source.resolve().parent
    rows: list[tuple[str, str | None]] = []
    try:
        with open(source, newline="", encoding="utf-8") as f:
            if source.name.lower().endswith(".csv"):
                reader = csv.reader(f)
                header = [h.strip().lower() for h in next(reader, [])]
                col = next(header.index(c) for c in PATH_COLUMNS if c in header)
                lab = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
                for n, row in enumerate(reader, start=2):
                    if not row or not any(cell.strip() for cell in row):
                        continue
                    if len(row) != len(header):
                        raise DataError(f"row {n} has {len(row)} columns, the header {len(header)}", source)
                    label = row[lab].strip() if lab is not None and row[lab].strip() else None
                    rows.append((row[col].strip(), label))
            else:
                rows = [(line.strip(), None) for line in f if line.strip() and not line.startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the list of images ({exc})", source) from None
    if not rows:
        raise DataError("the list names no images", source)
    entries = [Entry(str((root / p).resolve()) if not os.path.isabs(p) else p, p, label) for p, label in rows]
    missing = [e.item for e in entries if not os.path.isfile(e.path)]
    if missing:
        raise DataError(f"{len(missing)} of the {len(entries)} files it names do not exist "
                        f"(first: {', '.join(missing[:3])})", source)
    return root, entries


# -- the two passes, each a function a worker process runs on one file -------------------------------


def _header(path: str) -> tuple[int, int, bool] | str:
    """(width, height) upright and whether it is colour; or why it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
                colour = im.mode not in GREY_MODES
                if im.mode == "P":  # a palette of greys is grey
                    palette = np.asarray(im.getpalette() or [], np.int64).reshape(-1, 3)
                    colour = bool(len(palette)) and not (palette == palette[:, :1]).all()
    except Image.DecompressionBombError as exc:
        return f"too large to decode ({exc})"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return str(exc) or type(exc).__name__
    return (h, w, colour) if orientation in (5, 6, 7, 8) else (w, h, colour)


def to_8bit(img: Any) -> Any:
    """Grey images of more than 8 bits (16-bit PNG, 32-bit int, float) scaled to 0..255 by their
    bit depth; PIL's own conversion would clip everything above 255 to white."""
    from PIL import Image

    if img.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return img
    a = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        top = 1.0 if a.max(initial=0) <= 1.0 else 255.0 if a.max(initial=0) <= 255 else float(a.max())
    else:
        top = 65535.0 if img.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(np.rint(a / top * 255.0), 0, 255).astype(np.uint8), "L")


def display_copy(img: Any, width: int, height: int, colour: bool) -> np.ndarray:
    """An opened image as a uint8 ``height x width`` (x 3) array: upright, 8-bit, its aspect kept
    inside the size and the rest black."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img) or img
    img = to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        back = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(back, img)
    img = img.convert("RGB" if colour else "L")
    if img.size != (width, height):
        scale = min(width / img.width, height / img.height)
        fit = (max(1, min(width, round(img.width * scale))), max(1, min(height, round(img.height * scale))))
        img = img.resize(fit, Image.Resampling.BILINEAR)
        if fit != (width, height):
            canvas = Image.new(img.mode, (width, height))
            canvas.paste(img, ((width - fit[0]) // 2, (height - fit[1]) // 2))
            img = canvas
    return np.asarray(img, dtype=np.uint8)


def _decode(job: tuple[str, int, int, bool]) -> tuple[np.ndarray | None, str, int, int, int]:
    """One file's display copy, or why not; with its size, modification time and content hash."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    path, width, height, colour = job
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # a truncated file is read as far as it goes
    try:
        st = os.stat(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that is still enough
                    orientation = im.getexif().get(0x0112, 1)
                    im.draft(im.mode, (height, width) if orientation in (5, 6, 7, 8) else (width, height))
                pixels = display_copy(im, width, height, colour)
        return pixels, "", st.st_size, st.st_mtime_ns, content_hash(path, st.st_size)
    except Image.DecompressionBombError as exc:
        return None, f"too large to decode ({exc})", 0, 0, 0
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return None, str(exc) or type(exc).__name__, 0, 0, 0


def read_original(path: str | Path, display: tuple[int, ...], cells_px: tuple[int, int],
                  longest: int = 1024) -> np.ndarray | None:
    """The original file at the display copy's shape (``display``: H x W [x 3]) scaled up to fill
    ``cells_px`` (width, height in pixels, at most ``longest`` on a side), so that the terminal
    shows it in the same cells; None when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    h, w = display[:2]
    scale = max(1.0, min(cells_px[0] / w, cells_px[1] / h, longest / max(w, h)))
    width, height = max(1, round(w * scale)), max(1, round(h * scale))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.format == "JPEG":
                    im.draft(im.mode, (max(width, height), max(width, height)))
                return display_copy(im, width, height, len(display) == 3)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _mapped(function: Callable[[Any], Any], jobs: Sequence[Any], workers: int) -> Any:
    """``function`` over ``jobs`` in order: in worker processes (spawned: no thread of this process
    is copied) when there are enough jobs to pay for them."""
    if workers <= 1 or len(jobs) < IN_PROCESS_BELOW:
        return map(function, jobs), None
    pool = multiprocessing.get_context("spawn").Pool(workers)
    return pool.imap(function, jobs, chunksize=max(1, min(32, len(jobs) // (workers * 8)))), pool


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8))


# -- the whole read ---------------------------------------------------------------------------------


def choose_size(sizes: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], str]:
    """The display size (height, width): the most common size, longest side at most
    `MAX_DEFAULT_SIDE`; and a sentence saying so."""
    (w, h), n = Counter(sizes).most_common(1)[0]
    scale = min(1.0, MAX_DEFAULT_SIDE / max(w, h))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    why = f"{n} of {len(sizes)} images are {w}x{h}" + (f", brought down to {MAX_DEFAULT_SIDE} on the longest side"
                                                        if scale < 1 else "")
    return size, why


def _rate(done: int, total: int, started: float, start_done: int) -> str:
    seconds = time.monotonic() - started
    rate = (done - start_done) / seconds if seconds > 0 else 0.0
    left = f", {int((total - done) / rate)} s left" if rate > 0 and done < total else ""
    return f"{done:,}/{total:,} images, {rate:.0f}/s{left}"


def read_images(
    source: Path,
    work: Path,
    size: tuple[int, int] | None = None,
    classes: Sequence[str] | None = None,
    warn: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    colour: bool | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> tuple[np.ndarray, np.ndarray, list[str] | None, np.ndarray | None, Originals]:
    """Images, ids, class names, truth and originals of an image source; the images a read-only
    memory map of ``work/pool-images.npy``. ``work`` keeps what was read: called again after a kill
    with the same source, it reads only the rest. ``colour`` forces grey or RGB (else: RGB when any
    file is colour); files whose absolute path is in ``exclude`` are passed over."""
    warn = warn or (lambda msg: None)
    progress = progress or (lambda fraction, text: None)
    workers = default_workers() if workers is None else workers
    root, entries, skipped = scan(source)
    entries = [e for e in entries if e.path not in exclude]
    if not entries:
        raise DataError("every image file there is in the pool already", source)
    work.mkdir(parents=True, exist_ok=True)
    key = hashlib.blake2b(json.dumps([str(source.resolve()), size, colour, [e.item for e in entries]]).encode(),
                          digest_size=16).hexdigest()
    manifest_path = work / "manifest.json"
    manifest = _read_manifest(manifest_path, key)
    if manifest is None:
        for old in work.iterdir():
            old.unlink()
        manifest = _headers(entries, skipped, size, key, warn, progress, workers, source)
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, manifest_path)
    keep = [int(i) for i in manifest["keep"]]
    height, width = int(manifest["height"]), int(manifest["width"])
    colour = bool(manifest["colour"]) if colour is None else colour
    if manifest.get("why"):
        warn(f"{source}: display copies {width}x{height} ({manifest['why']}; --size HxW chooses another)")
    shape = (len(keep), height, width, 3) if colour else (len(keep), height, width)
    images_path, meta_path = work / "images.npy", work / "meta.npy"
    if not meta_path.exists():
        np.lib.format.open_memmap(images_path, "w+", np.uint8, shape).flush()
        np.lib.format.open_memmap(meta_path, "w+", np.int64, (len(keep), 4)).flush()  # state, size, time, hash
    final = work / "pool-images.npy"  # there once every file is read: a rerun has nothing left to decode
    images = None if final.exists() else np.load(images_path, mmap_mode="r+")
    meta = np.load(meta_path, mmap_mode="r+")
    todo = [n for n in range(len(keep)) if meta[n, 0] == 0]
    done = len(keep) - len(todo)
    if done and todo:
        warn(f"{source}: {done:,} of {len(keep):,} images were read by an earlier run; reading the rest")
    results, pool = _mapped(_decode, [(entries[keep[n]].path, width, height, colour) for n in todo], workers)
    started, start_done, last = time.monotonic(), done, 0.0
    try:
        for count, (n, (pixels, error, nbytes, mtime, digest)) in enumerate(zip(todo, results), start=1):
            if pixels is not None:
                assert images is not None  # files left to read: the pool's pixels are not final yet
                images[n] = pixels
                meta[n] = (1, nbytes, mtime, digest)
            else:
                meta[n] = (-1, 0, 0, 0)
                manifest.setdefault("errors", {})[str(n)] = error
            done += 1
            flushed = count % FLUSH_EVERY == 0
            if flushed and images is not None:
                images.flush()  # the pixels first: a state never says done before its pixels are down
                meta.flush()
            if flushed or time.monotonic() - last > 0.2 or done == len(keep):
                last = time.monotonic()
                progress(done / len(keep), _rate(done, len(keep), started, start_done))
    finally:
        if pool is not None:
            pool.terminate()
        if images is not None:
            images.flush()
        meta.flush()
        if manifest.get("errors"):
            manifest_path.write_text(json.dumps(manifest))
    ok = np.flatnonzero(meta[:, 0] == 1)
    failed = np.flatnonzero(meta[:, 0] == -1)
    if len(failed):
        shown = ", ".join(entries[keep[n]].item for n in failed[:3]) + (", ..." if len(failed) > 3 else "")
        warn(f"{source}: skipped {len(failed)} file(s) that could not be decoded ({shown})")
    if not len(ok):
        raise DataError("no readable images", source)
    if images is not None and len(ok) < len(keep):
        _compact(images, ok, final)  # the rows read, without the failed ones
    elif images is not None:
        del images
        os.replace(images_path, final)  # every row read: the file is the pool's as it stands
    images = None
    chosen = [entries[keep[n]] for n in ok]
    originals = Originals(str(root), np.array([_relative(e.path, root) for e in chosen]),
                          np.ascontiguousarray(meta[ok, 1]), np.ascontiguousarray(meta[ok, 2]),
                          np.ascontiguousarray(meta[ok, 3]))
    del meta
    ids = np.array([e.item for e in chosen])
    labels = [e.label for e in chosen]
    names, truth = None, None
    if any(label is not None for label in labels):
        names = list(classes) if classes else sorted({lab for lab in labels if lab is not None})
        lookup = {name: i for i, name in enumerate(names)}
        truth = np.array([lookup.get(lab, -1) if lab is not None else -1 for lab in labels], np.int64)
    elif classes:
        names = list(classes)
    return np.load(final, mmap_mode="r"), ids, names, truth, originals


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path  # a listed file outside the list's folder keeps its absolute path


def _read_manifest(path: Path, key: str) -> dict[str, Any] | None:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("key") == key else None


def _headers(entries: list[Entry], skipped: list[str], size: tuple[int, int] | None, key: str,
             warn: Callable[[str], None], progress: Progress, workers: int, source: Path) -> dict[str, Any]:
    """The first pass: which files open, their sizes and colour; the display size. The files passed
    over, by name or because they do not open, are counted and listed once."""
    results, pool = _mapped(_header, [e.path for e in entries], workers)
    keep: list[int] = []
    sizes: list[tuple[int, int]] = []
    colour = False
    bad: list[str] = list(skipped)
    started, last = time.monotonic(), 0.0
    try:
        for n, result in enumerate(results):
            if isinstance(result, str):
                bad.append(f"{entries[n].item} ({result})" if len(bad) < 3 else entries[n].item)
            else:
                keep.append(n)
                sizes.append(result[:2])
                colour = colour or result[2]
            if time.monotonic() - last > 0.2:
                last = time.monotonic()
                progress(None, f"reading headers: {n + 1:,}/{len(entries):,} files, "
                               f"{(n + 1) / max(time.monotonic() - started, 1e-9):.0f}/s")
    finally:
        if pool is not None:
            pool.terminate()
    if bad:
        warn(f"{source}: skipped {len(bad)} file(s) that are not readable images ({', '.join(bad[:3])}"
             f"{', ...' if len(bad) > 3 else ''})")
    if not keep:
        raise DataError("no readable images in the folder" if source.is_dir() else "no readable images", source)
    why = ""
    if size is None:
        size, why = choose_size(sizes)
        if len(set(sizes)) == 1 and size == (sizes[0][1], sizes[0][0]):
            why = ""  # every image already that size: nothing to say
    return {"key": key, "keep": keep, "height": size[0], "width": size[1], "colour": colour, "why": why}


def _compact(images: np.ndarray, ok: np.ndarray, final: Path) -> None:
    """The rows that were read, into ``final``, a chunk at a time."""
    tmp = final.with_name(final.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(ok), *images.shape[1:]))
    step = max(1, (64 << 20) // max(1, int(np.prod(images.shape[1:]))))
    for start in range(0, len(ok), step):
        out[start:start + step] = images[ok[start:start + step]]
    out.flush()
    del out
    os.replace(tmp, final)


def finish(work: Path, target: Path) -> None:
    """The pool's pixels to their place in the workspace, and the work folder gone."""
    os.replace(work / "pool-images.npy", target)
    shutil.rmtree(work, ignore_errors=True)
