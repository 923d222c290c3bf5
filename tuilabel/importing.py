"""Labels made elsewhere into a workspace: a CSV or JSON lines file of (item, class[, annotator]);
or a model's predictions (``as_predictions``): per item a class (and its confidence) or one
probability column per class, kept in ``WS/predictions.npz`` for review to judge the labels by.

An item is named by its pool id, by its original file's path (absolute, or relative to the folder
the originals are under) or by that file's name where only one original has it. A class is named
by its name or its index. Every row is checked before anything is written, and the rows go in
together, in one transaction: an import is whole or absent. Rows whose item or class the workspace
does not know are counted and the first few listed; they stop the import unless the person says
to leave them out (``skip_unknown``).
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TuilabelError
from .workspace import Workspace

ITEM_KEYS = ("item_id", "id", "item", "path", "file", "file_name", "filename", "image", "image_path", "original")
CLASS_KEYS = ("class_name", "class", "label", "category")
ANNOTATOR_KEYS = ("annotator", "labeler", "labeller", "user")
CONFIDENCE_KEYS = ("confidence",)
PREDICTIONS = "predictions.npz"  # in the workspace: probs (items x classes, NaN: not predicted), source
MODE = "import"  # the store session's mode: `status` and `report` tell imported labels apart
LISTED = 5  # unknown items or classes named in the message


@dataclass
class Imported:
    labels: int = 0
    annotators: list[str] = field(default_factory=list)
    unknown_items: list[str] = field(default_factory=list)
    unknown_classes: Counter = field(default_factory=Counter)
    skipped: int = 0


def _rows(path: Path) -> list[dict[str, str]]:
    """The file's rows as dicts of lower-cased keys (CSV with a header, or one JSON object a line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TuilabelError("no such file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TuilabelError(f"cannot read it as text ({exc})", path) from None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TuilabelError(f"line {n} is not JSON ({exc.msg})", path) from None
            if not isinstance(row, dict):
                raise TuilabelError(f"line {n} is not a JSON object", path)
            rows.append({str(k).strip().lower(): "" if v is None else str(v) for k, v in row.items()})
        return rows
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise TuilabelError("is empty: expected a header row (item_id or path, and class)", path)
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]


def _column(present: set[str], keys: tuple[str, ...], path: Path, what: str, required: bool) -> str | None:
    """The first of ``keys`` among the file's columns (``present``: JSON lines' keys of every row)."""
    found = next((k for k in keys if k in present), None)
    if found is None and required:
        raise TuilabelError(f"has no {what} column (one of {', '.join(keys)}); it has {', '.join(sorted(present))}",
                            path)
    return found


class _Items:
    """Pool index by id, else by original path (absolute, or relative to the originals' folder) or
    a file name only one original has. The path maps are built at the first row that is not an id
    (a file of ids, the usual case, never pays for them), relative paths only."""

    def __init__(self, ws: Workspace) -> None:
        self.pool = ws.pool
        self._maps: tuple[dict[str, int], dict[str, int | None]] | None = None

    def _paths(self) -> tuple[dict[str, int], dict[str, int | None]]:
        if self._maps is None:
            by_path: dict[str, int] = {}
            by_name: dict[str, int | None] = {}
            originals = self.pool.originals
            for i, rel in enumerate([] if originals is None else originals.paths.tolist()):
                by_path[str(rel)] = i
                name = Path(str(rel)).name
                by_name[name] = None if name in by_name else i  # None: two files share the name
            self._maps = by_path, by_name
        return self._maps

    def find(self, name: str) -> int | None:
        if self.pool.has(name):
            return self.pool.index_of(name)
        by_path, by_name = self._paths()
        originals = self.pool.originals
        if name in by_path:
            return by_path[name]
        if originals is not None and name:
            with contextlib.suppress(ValueError):  # an absolute path under the originals' folder
                rel = Path(name).expanduser().resolve().relative_to(Path(originals.root).resolve())
                if str(rel) in by_path:
                    return by_path[str(rel)]
        return by_name.get(Path(name).name)


def import_labels(ws: Workspace, path: str | Path, annotator: str | None = None,
                  skip_unknown: bool = False) -> Imported:
    """Read ``path`` and store its labels as people's (source human), one store session per
    annotator (the row's, else ``annotator``, else ``import:<file name>``), all in one transaction."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise TuilabelError("has no rows to import", path)
    present = set().union(*rows)
    item_key = _column(present, ITEM_KEYS, path, "item", True)
    class_key = _column(present, CLASS_KEYS, path, "class", True)
    who_key = _column(present, ANNOTATOR_KEYS, path, "annotator", False)
    conf_key = _column(present, CONFIDENCE_KEYS, path, "confidence", False)
    assert item_key is not None and class_key is not None
    names = ws.class_names
    by_name = {n: i for i, n in enumerate(names)}
    items = _Items(ws)
    done = Imported()
    groups: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)  # annotator -> item -> (class, confidence)
    default = annotator or f"import:{path.name}"
    for n, row in enumerate(rows, 2 if path.suffix.lower() == ".csv" else 1):
        name, cls = row.get(item_key, ""), row.get(class_key, "")
        index = items.find(name) if name else None
        label = _class_index(cls, by_name)
        if index is None:
            done.unknown_items.append(name or f"(row {n}: empty)")
        if label is None:
            done.unknown_classes[cls or "(empty)"] += 1
        if index is None or label is None:
            done.skipped += 1
            continue
        confidence = _confidence(row, conf_key, path, n)
        who = (row.get(who_key) if who_key else None) or default
        groups[who][str(ws.pool.ids[index])] = (label, confidence)  # a later row for the same item wins
    if done.skipped and not skip_unknown:
        raise TuilabelError(_unknown_message(done, names) + "; nothing imported (--skip-unknown imports the rest)",
                            path)
    if not groups:
        raise TuilabelError(_unknown_message(done, names) + "; nothing left to import", path)
    store = ws.store
    batches = [(store.start_session(MODE, who), [(item, lab, conf) for item, (lab, conf) in labels.items()])
               for who, labels in groups.items()]
    store.add_groups(batches)
    done.labels = sum(len(rows) for _, rows in batches)
    done.annotators = list(groups)
    return done


def _class_index(cls: str, by_name: dict[str, int]) -> int | None:
    """A class named by its name, else by its index; None for neither."""
    label = by_name.get(cls)
    if label is None and cls.isdigit() and int(cls) < len(by_name):
        label = int(cls)
    return label


def _confidence(row: dict[str, str], key: str | None, path: Path, n: int) -> float:
    """Row ``n``'s confidence in [0, 1] (1 without the column or a value); not a number: one line."""
    if not key or not row.get(key):
        return 1.0
    try:
        return min(max(float(row[key]), 0.0), 1.0)
    except ValueError:
        raise TuilabelError(f"row {n}: confidence {row[key]!r} is not a number", path) from None


def _unknown_message(done: Imported, names: list[str]) -> str:
    parts = []
    if done.unknown_items:
        shown = ", ".join(done.unknown_items[:LISTED]) + (", …" if len(done.unknown_items) > LISTED else "")
        parts.append(f"{len(done.unknown_items)} rows name items the pool does not have ({shown})")
    if done.unknown_classes:
        classes = list(done.unknown_classes)
        shown = ", ".join(f"{c!r} ×{done.unknown_classes[c]}" for c in classes[:LISTED])
        shown += ", …" if len(classes) > LISTED else ""
        parts.append(f"{sum(done.unknown_classes.values())} rows name classes the workspace does not have "
                     f"({shown}; its classes: {', '.join(names[:10])}{', …' if len(names) > 10 else ''})")
    return "; ".join(parts)


def import_predictions(ws: Workspace, path: str | Path, skip_unknown: bool = False) -> Imported:
    """A model's predictions of the pool: rows of an item and either a class (name or index, with an
    optional ``confidence``: the rest is spread evenly over the other classes) or one column per
    class holding its probability (named as the class, or ``p_``/``prob_`` and the name). Checked
    whole like labels; written to ``WS/predictions.npz`` (replacing earlier ones), never the store.
    ``labels`` of the result: how many images have a prediction."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise TuilabelError("has no rows to import", path)
    names = ws.class_names
    n = len(names)
    present = set().union(*rows)
    item_key = _column(present, ITEM_KEYS, path, "item", True)
    assert item_key is not None
    prob_keys = []
    for name in names:
        key = next((k for k in (name.lower(), f"p_{name.lower()}", f"prob_{name.lower()}") if k in present), None)
        prob_keys.append(key)
    columns = all(prob_keys)
    keys = [k for k in prob_keys if k is not None]
    class_key = None if columns else _column(present, CLASS_KEYS, path, "class (or one probability column per class)",
                                             True)
    by_name = {c: i for i, c in enumerate(names)}
    items = _Items(ws)
    probs = np.full((len(ws.pool), n), np.nan, np.float32)
    done = Imported()
    for r, row in enumerate(rows, 2 if path.suffix.lower() == ".csv" else 1):
        name = row.get(item_key, "")
        index = items.find(name) if name else None
        if index is None:
            done.unknown_items.append(name or f"(row {r}: empty)")
            done.skipped += 1
            continue
        if columns:
            try:
                p = np.array([float(row[k]) if row.get(k) not in (None, "") else np.nan for k in keys])
            except ValueError:
                raise TuilabelError(f"row {r}: a probability is not a number", path) from None
            if np.isnan(p).any() or (p < 0).any() or p.sum() <= 0:
                raise TuilabelError(f"row {r}: expected a probability for every class", path)
            probs[index] = p / p.sum()
            continue
        cls = row.get(class_key or "", "")
        label = _class_index(cls, by_name)
        if label is None:
            done.unknown_classes[cls or "(empty)"] += 1
            done.skipped += 1
            continue
        confidence = _confidence(row, "confidence", path, r)
        rest = (1.0 - confidence) / (n - 1) if n > 1 else 0.0
        probs[index] = rest
        probs[index, label] = confidence if n > 1 else 1.0
    if done.skipped and not skip_unknown:
        raise TuilabelError(_unknown_message(done, names) + "; nothing imported (--skip-unknown imports the rest)",
                            path)
    done.labels = int((~np.isnan(probs[:, 0])).sum())
    if not done.labels:
        raise TuilabelError("no row names an item of the pool: nothing imported", path)
    target = ws.path / PREDICTIONS
    tmp = target.with_name(target.stem + ".tmp.npz")
    np.savez(tmp, probs=probs, classes=np.array(names), source=np.array(str(path.resolve())))
    tmp.replace(target)
    return done


def load_predictions(ws: Workspace) -> np.ndarray | None:
    """The imported predictions (items x classes, NaN rows: not predicted), padded for classes added
    since; None when there are none."""
    target = ws.path / PREDICTIONS
    if not target.exists():
        return None
    try:
        with np.load(target) as d:
            probs = np.asarray(d["probs"], np.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise TuilabelError(f"cannot read the imported predictions ({exc})", target) from None
    if probs.shape[0] != len(ws.pool) or probs.shape[1] > ws.pool.n_classes:
        raise TuilabelError("the imported predictions are of another pool: import them again", target)
    extra = ws.pool.n_classes - probs.shape[1]
    return np.pad(probs, ((0, 0), (0, extra))) if extra else probs
