"""Near-duplicates: images whose backbone features are nearly the same (the same photograph saved
again, shrunk, trimmed or brightened), found once after ``tuilabel embed`` and kept beside the
embeddings as ``embeddings/<backbone>.dups.npy`` (a group number per pool item, -1 for none).

Two images are linked when the cosine of their backbone features is at least ``FEATURES`` and
that of their grey 16x16 thumbnails (from the display copies) at least ``THUMBNAILS``: the
features alone also link different pictures of one texture, the thumbnails alone different
pictures of one smooth gradient. Linked images form a group (union-find). The search runs over
tiles of ``TILE`` by ``TILE`` rows read from the memory-mapped embeddings, so memory stays a few
tiles whatever the pool's size; time grows with the square of the pool. The thresholds are
measured in ``experiments/near_duplicates.py`` (decisions/backbones.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = 0.9  # cosine of backbone features at or above which two images may be copies ...
THUMBNAILS = 0.95  # ... and of their 16x16 grey thumbnails (mean and spread taken out), which confirms it
TILE = 2048
Progress = Callable[[float | None, str], None]


def _no_progress(fraction: float | None, text: str) -> None:
    pass


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows of ``features`` as float32 of unit length."""
    rows = np.asarray(features, np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def thumbnail(image: np.ndarray, side: int = 16) -> np.ndarray:
    """A display copy as a unit vector of its ``side`` x ``side`` grey thumbnail, its mean taken out."""
    from PIL import Image

    grey = Image.fromarray(np.asarray(image)).convert("L").resize((side, side), Image.Resampling.BOX)
    v = np.asarray(grey, np.float32).ravel()
    v -= v.mean()
    return v / max(float(np.linalg.norm(v)), 1e-6)


def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def groups(features: np.ndarray, images: Any, progress: Progress = _no_progress) -> np.ndarray:
    """A group number per pool item (0, 1, ... in order of each group's first item), -1 for one with
    no near-duplicate. ``features``: the backbone's rows (a memmap is read a tile at a time);
    ``images``: the display copies, read only for the pairs the features make candidates."""
    n = len(features)
    parent = np.arange(n)
    thumbs: dict[int, np.ndarray] = {}

    def thumb(i: int) -> np.ndarray:
        if i not in thumbs:
            thumbs[i] = thumbnail(images[i])
        return thumbs[i]

    starts = range(0, n, TILE)
    done, total = 0, len(starts) * (len(starts) + 1) // 2
    for i in starts:
        a = unit_rows(features[i:i + TILE])
        for j in range(i, n, TILE):
            b = a if j == i else unit_rows(features[j:j + TILE])
            x, y = np.nonzero(a @ b.T >= FEATURES)
            x, y = x + i, y + j
            x, y = x[x < y], y[x < y]
            if len(x):  # the thumbnails confirm the candidates, all at once
                confirmed = np.einsum("ij,ij->i", np.stack([thumb(p) for p in x.tolist()]),
                                      np.stack([thumb(q) for q in y.tolist()])) >= THUMBNAILS
                for p, q in zip(x[confirmed].tolist(), y[confirmed].tolist()):
                    rp, rq = _root(parent, p), _root(parent, q)
                    if rp != rq:
                        parent[max(rp, rq)] = min(rp, rq)
            done += 1
            if done % 16 == 0 or done == total:
                progress(done / total, f"looking for near-duplicates: {done}/{total} tiles of {n} images")
        thumbs.clear()  # the next row of tiles has other candidates: memory stays a tile's
    roots = np.array([_root(parent, i) for i in range(n)])
    sizes = np.bincount(roots, minlength=n)
    out = np.full(n, -1, np.int64)
    linked = sizes[roots] > 1
    _, first = np.unique(roots[linked], return_inverse=True)
    out[linked] = first
    return out


def paths(workspace: Any, backbone: str) -> tuple[Path, Path]:
    """The groups and their record, beside the backbone's embeddings."""
    from .embeddings import paths as embedding_paths

    array, _ = embedding_paths(workspace, backbone, "dups")
    return array, array.with_suffix(".json")


def find(workspace: Any, backbone: str, progress: Progress = _no_progress) -> np.ndarray:
    """The pool's near-duplicate groups, found now from the stored embeddings and kept."""
    from . import embeddings

    g = groups(embeddings.load(workspace, backbone), workspace.pool.images, progress)
    array, meta = paths(workspace, backbone)
    np.save(array, g)
    meta.write_text(json.dumps({"items": len(g), "features": FEATURES, "thumbnails": THUMBNAILS}))
    return g


def load(workspace: Any, backbone: str) -> np.ndarray | None:
    """The kept groups, or None where they were not found for the pool as it is (grown since, or none)."""
    array, meta = paths(workspace, backbone)
    if not array.exists() or not meta.exists():
        return None
    record = json.loads(meta.read_text())
    if record.get("items") != len(workspace.pool) or (record.get("features"), record.get("thumbnails")) \
            != (FEATURES, THUMBNAILS):
        return None
    return np.load(array)


def summary(g: np.ndarray) -> tuple[int, int]:
    """(groups, images in them)."""
    linked = g[g >= 0]
    return (int(linked.max()) + 1 if len(linked) else 0), len(linked)


def status_line(workspace: Any, backbone: str) -> str | None:
    """``status``'s line: how many near-duplicates the pool has; None without a backbone's embeddings."""
    from . import embeddings

    if backbone == "none" or not embeddings.is_complete(workspace, backbone):
        return None
    g = load(workspace, backbone)
    if g is None:
        return f"near-duplicates: not looked for yet (tuilabel embed {workspace.path} looks)"
    return summary_line(g)


def summary_line(g: np.ndarray) -> str:
    """What ``status`` and ``embed`` say of the groups ``g``."""
    n, images = summary(g)
    return f"near-duplicates: {n} groups, {images} images (tuilabel report lists them)" if n \
        else "near-duplicates: none"


def listing(workspace: Any, backbone: str, limit: int = 10) -> list[str]:
    """``report``'s lines: the largest groups, an item by its file (or id) each, whole (a script may
    read them)."""
    g = load(workspace, backbone) if backbone != "none" else None
    if g is None:
        return []
    n, images = summary(g)
    if not n:
        return ["near-duplicates: none"]
    sizes = np.bincount(g[g >= 0])
    order = np.argsort(-sizes, kind="stable")[:limit]
    originals = workspace.pool.originals
    lines = [f"near-duplicates: {n} groups, {images} images" + (f"; the {len(order)} largest:" if n > limit else ":")]
    for k in order:
        members = np.flatnonzero(g == k)
        names = [str(originals.paths[i]) if originals is not None else str(workspace.pool.ids[i]) for i in members]
        lines.append(f"  {len(members)}: " + ", ".join(names))
    return lines
