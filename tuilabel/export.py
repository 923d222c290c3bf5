"""Export current labels as CSV, JSON lines or an image folder (one folder per class)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import TuilabelError
from .store import LabelEvent
from .workspace import Workspace

FORMATS = ("csv", "jsonl", "imagefolder")
UNSURE_NAME = "_unsure"


def _records(ws: Workspace, sources: Iterable[str]) -> list[LabelEvent]:
    """Current item labels, then every live generated sample (stream frames)."""
    sources = tuple(sources)
    items = list(ws.store.events(sources, samples=False, current_only=True))
    samples = list(ws.store.events(sources, samples=True))
    return items + samples


def _row(ev: LabelEvent, names: list[str]) -> dict:
    return {
        "item_id": ev.item_id if ev.item_id is not None else f"sample-{ev.id}",
        "label": ev.label,
        "class_name": names[ev.label] if ev.label is not None else UNSURE_NAME,
        "source": ev.source,
        "confidence": round(ev.confidence, 6),
        "annotator": ev.annotator,
        "mode": ev.mode,
        "session": ev.session,
        "time": ev.time,
    }


def safe_name(text: str) -> str:
    """A single path component that cannot climb out of its folder."""
    name = re.sub(r"[^\w.+=-]+", "_", text.replace("/", "__").replace("\\", "__")).strip(".")
    return name or "_"


def export(ws: Workspace, fmt: str, out: str | Path, sources: Iterable[str] = ("human",)) -> int:
    """Write the labels; returns how many records were written."""
    if fmt not in FORMATS:
        raise TuilabelError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out = Path(out)
    records = _records(ws, sources)
    names = ws.class_names
    if fmt == "csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(_row(records[0], names)) if records else ["item_id"])
            writer.writeheader()
            for ev in records:
                writer.writerow(_row(ev, names))
    elif fmt == "jsonl":
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w") as f:
            for ev in records:
                f.write(json.dumps(_row(ev, names)) + "\n")
    else:
        _export_imagefolder(ws, records, out)
    return len(records)


def _export_imagefolder(ws: Workspace, records: list[LabelEvent], out: Path) -> None:
    from PIL import Image

    root = out.resolve()
    if root.exists() and not root.is_dir():
        raise TuilabelError("exists and is not a folder", out)
    pool = ws.pool
    names = ws.class_names
    for ev in records:
        if ev.label is None:
            continue  # unsure items have no class folder
        if ev.sample is not None:
            pixels, stem = ev.sample, f"sample-{ev.id}"
        else:
            assert ev.item_id is not None  # an event is a pool item or a generated sample
            pixels, stem = pool.images[pool.index_of(ev.item_id)], safe_name(ev.item_id)
        target = (root / safe_name(names[ev.label]) / f"{Path(stem).stem}.png").resolve()
        if root not in target.parents:  # belt and braces: never write outside --out
            raise TuilabelError(f"refusing to write outside the export folder: {target}", out)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(target)
