"""Export current labels as CSV, JSON lines, a Parquet table, an image folder (one folder per
class), or Hugging Face's image folder (the same, with a ``metadata.csv`` that
``datasets.load_dataset("imagefolder", data_dir=OUT)`` reads with every column).

Pool items and generated samples (stream frames, decoded cluster centres) are kept apart: CSV and
JSON rows say which ``kind`` each is and carry a sample's pixels; an image folder puts pool items in
``OUT/<class>/`` and samples in ``OUT/_generated/<mode>/<class>/``. Class folder names are the class
names with the characters a file name cannot hold percent-encoded (`class_folder`), so every class
has its own folder and `data.load_pool` reads the names back.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TuilabelError
from .store import SOURCES, LabelEvent
from .workspace import CONFIG, Workspace

FORMATS = ("csv", "jsonl", "parquet", "imagefolder", "hf-imagefolder")
FOLDERS = ("imagefolder", "hf-imagefolder")
METADATA = "metadata.csv"  # hf-imagefolder: one row per image, ``file_name`` relative to the folder
UNSURE_NAME = "_unsure"
GENERATED = "_generated"  # the image folder's folder of generated samples (never a class)
MAX_NAME_BYTES = 255  # a file name on every common file system


def _records(ws: Workspace, sources: Iterable[str]) -> list[LabelEvent]:
    """Current item labels, then every live generated sample (stream frames, cluster centres)."""
    sources = tuple(sources)
    items = list(ws.store.events(sources, samples=False, current_only=True))
    samples = list(ws.store.events(sources, samples=True))
    return items + samples


def _row(ev: LabelEvent, names: list[str], ws: Workspace | None = None, pixels: bool = True) -> dict:
    """A label as the CSV and JSON lines exports write it; without ``pixels``, a sample's shape and
    pixels are left to the caller (parquet keeps them as bytes, an image folder as the file)."""
    sample = ev.sample
    originals = ws.pool.originals if ws is not None else None
    original = ""
    if originals is not None and ev.item_id is not None and ws is not None:
        original = str(originals.path(ws.pool.index_of(ev.item_id)))
    return {
        "item_id": ev.item_id if ev.item_id is not None else f"sample-{ev.id}",
        "kind": "item" if sample is None else "sample",
        "label": ev.label,
        "class_name": names[ev.label] if ev.label is not None else UNSURE_NAME,
        "source": ev.source,
        "confidence": round(ev.confidence, 6),
        "annotator": ev.annotator,
        "mode": ev.mode,
        "session": ev.session,
        "time": ev.time,
        **({} if not pixels else {
            "shape": "" if sample is None else "x".join(map(str, sample.shape)),
            "pixels": "" if sample is None else " ".join(map(str, np.asarray(sample, np.uint8).ravel().tolist())),
        }),
        "original": original,  # the image file the item came from, where the pool has one (last: new columns go last)
    }


def safe_name(text: str) -> str:
    """A single path component that cannot climb out of its folder (for item file names)."""
    name = re.sub(r"[^\w.+=-]+", "_", text.replace("/", "__").replace("\\", "__")).strip(".")
    return name or "_"


def class_folder(name: str) -> str:
    """A class name as a folder name: letters, digits, ``-``, ``_`` and inner spaces and dots stay;
    everything else (and a leading ``.``/``_`` or a trailing ``.``/space) is percent-encoded, so
    different names never share a folder and `unquote` gives the name back."""
    out = []
    for n, ch in enumerate(name):
        edge = n == 0 or n == len(name) - 1
        keep = ch.isalnum() or ch == "-" or (ch == "_" and n > 0) or (ch in ". " and not edge)
        out.append(ch if keep else "".join(f"%{b:02X}" for b in ch.encode("utf-8")))
    return "".join(out) or "%00"


def check_sources(sources: Iterable[str]) -> list[str]:
    chosen = [s for s in sources if s]
    unknown = [s for s in chosen if s not in SOURCES]
    if unknown or not chosen:
        raise TuilabelError(f"--sources {','.join(chosen)!r}: expected some of {', '.join(SOURCES)}")
    return chosen


def check_target(ws: Workspace, fmt: str, out: Path, force: bool = False) -> Path:
    """The resolved export target, or a one-line error: never one of the workspace's own files,
    never a folder for csv/jsonl, never a non-empty folder for imagefolder (unless ``force``)."""
    target = out.expanduser().resolve()
    root = ws.path.resolve()
    own = {root / CONFIG, root / "pool.npz", root / "test.npz", root / "pool-images.npy", root / "test-images.npy"}
    if ws.store_path is not None:
        store = ws.store_path.resolve()
        own |= {store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")}
    for folder in (ws.models_dir.resolve(), ws.runs_dir.resolve()):
        if target == folder or folder in target.parents:
            raise TuilabelError(f"is inside the workspace's {folder.name}/ folder: export elsewhere", out)
    if target in own or target == root or target in root.parents:
        raise TuilabelError("is the workspace or one of its own files: export elsewhere", out)
    if fmt not in FOLDERS and target.is_dir():
        raise TuilabelError(f"is a folder: give a file name for the {fmt} export", out)
    if fmt in FOLDERS and target.exists():
        if not target.is_dir():
            raise TuilabelError("exists and is not a folder", out)
        if any(target.iterdir()):
            if not force:
                raise TuilabelError("is a folder that is not empty: choose an empty or new one, or add --force "
                                    "to replace what is in it", out)
            shutil.rmtree(target)
    return target


@dataclass
class Exported:
    records: int  # labels written
    originals: int = 0  # imagefolder: original files copied or linked
    display_copies: int = 0  # imagefolder: pool items written as their display copy (no original, or it changed)
    missing: list[str] = field(default_factory=list)  # the items whose original was missing or changed


def export(ws: Workspace, fmt: str, out: str | Path, sources: Iterable[str] = ("human",), force: bool = False,
           link: bool = False) -> Exported:
    """Write the labels. An image folder holds each item's original file (copied, or hard-linked
    with ``link``) where the workspace has it unchanged, else its display copy as a PNG."""
    if fmt not in FORMATS:
        raise TuilabelError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        _pyarrow(out)
    sources = check_sources(sources)
    target = check_target(ws, fmt, Path(out), force)
    records = _records(ws, sources)
    names = ws.class_names
    if fmt in FOLDERS:
        return _export_imagefolder(ws, records, target, Path(out), link, metadata=fmt == "hf-imagefolder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    if fmt == "parquet":
        _write_parquet(records, [_row(ev, names, ws, pixels=False) for ev in records], tmp)
        tmp.replace(target)
        return Exported(len(records))
    with tmp.open("w", newline="") as f:  # written whole, then renamed: never half an export
        if fmt == "csv":
            writer = csv.DictWriter(f, fieldnames=list(_row(records[0], names)) if records else ["item_id"])
            writer.writeheader()
            for ev in records:
                writer.writerow(_row(ev, names, ws))
        else:
            for ev in records:
                f.write(json.dumps(_row(ev, names, ws)) + "\n")
    tmp.replace(target)
    return Exported(len(records))


def _pyarrow(out: str | Path) -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise TuilabelError("--format parquet needs pyarrow: pip install 'tuilabel[parquet]' (or pyarrow)",
                            out) from None
    return pyarrow


def _write_parquet(records: list[LabelEvent], rows: list[dict], path: Path) -> None:
    """The CSV's columns with their types: the class index an int (null: unsure), the time a UTC
    timestamp, a sample's pixels as bytes beside its shape; item rows leave those null."""
    pa = _pyarrow(path)
    import pyarrow.parquet as pq

    def column(name: str) -> list:
        return [r[name] for r in rows]

    schema = pa.schema([
        ("item_id", pa.string()), ("kind", pa.string()), ("original", pa.string()), ("class_name", pa.string()),
        ("label", pa.int32()), ("annotator", pa.string()), ("source", pa.string()), ("confidence", pa.float64()),
        ("time", pa.timestamp("ms", tz="UTC")), ("mode", pa.string()), ("session", pa.string()),
        ("shape", pa.list_(pa.int32())), ("pixels", pa.binary()),
    ])
    data = {
        "item_id": column("item_id"), "kind": column("kind"),
        "original": [r["original"] or None for r in rows], "class_name": column("class_name"),
        "label": column("label"), "annotator": column("annotator"), "source": column("source"),
        "confidence": column("confidence"), "time": [round(r["time"] * 1000) for r in rows],
        "mode": column("mode"), "session": column("session"),
        "shape": [None if ev.sample is None else list(ev.sample.shape) for ev in records],
        "pixels": [None if ev.sample is None else np.asarray(ev.sample, np.uint8).tobytes() for ev in records],
    }
    pq.write_table(pa.table(data, schema=schema), path)


def _export_imagefolder(ws: Workspace, records: list[LabelEvent], root: Path, out: Path, link: bool,
                        metadata: bool = False) -> Exported:
    """One folder per class; with ``metadata``, Hugging Face's layout: a ``metadata.csv`` beside
    them with each image's ``file_name`` and the CSV export's columns (unsure items have no file)."""
    from PIL import Image

    names = ws.class_names
    folders = [class_folder(n) for n in names]
    too_long = [n for n, f in zip(names, folders) if len(f.encode("utf-8")) > MAX_NAME_BYTES]
    if too_long:  # checked before anything is written: never half an export
        raise TuilabelError(f"class name {too_long[0][:40]!r}... is too long for a folder name "
                            f"(over {MAX_NAME_BYTES} bytes); export as csv or jsonl", out)
    pool = ws.pool
    originals = pool.originals
    done = Exported(len(records))
    rows: list[dict] = []
    for ev in records:
        if ev.label is None:
            continue  # unsure items have no class folder
        original = None
        if ev.sample is not None:
            pixels, stem = ev.sample, f"sample-{ev.id}"
            folder = root / GENERATED / safe_name(ev.mode) / folders[ev.label]
        else:
            assert ev.item_id is not None  # an event is a pool item or a generated sample
            index = pool.index_of(ev.item_id)
            pixels, stem = pool.images[index], safe_name(ev.item_id)
            folder = root / folders[ev.label]
            if originals is not None:
                if originals.state(index) == "ok":
                    original = originals.path(index)
                else:
                    done.missing.append(ev.item_id)
        name = stem if original is not None else f"{Path(stem).stem}.png"
        target = (folder / name).resolve()
        if root not in target.parents:  # belt and braces: never write outside --out
            raise TuilabelError(f"refusing to write outside the export folder: {target}", out)
        target.parent.mkdir(parents=True, exist_ok=True)
        if original is not None:
            _place(original, target, link)
            done.originals += 1
        else:
            Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(target)
            done.display_copies += ev.sample is None
        if metadata:
            rows.append({"file_name": target.relative_to(root).as_posix(), **_row(ev, names, ws, pixels=False)})
    if metadata:
        root.mkdir(parents=True, exist_ok=True)
        with (root / METADATA).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["file_name"])
            writer.writeheader()
            writer.writerows(rows)
        done.records = len(rows)
    return done


def _place(original: Path, target: Path, link: bool) -> None:
    """The original at ``target``: a hard link where asked and the file system allows, else a copy."""
    if link:
        try:
            os.link(original, target)
            return
        except OSError:
            pass  # another file system, or links not allowed: a copy instead
    shutil.copy2(original, target)
