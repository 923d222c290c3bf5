"""Model files: a ``.npz`` of plain arrays plus a JSON header, written atomically and read with
``allow_pickle=False``, so loading a model never unpickles an object."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import TuilabelError


def save_bundle(path: Path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, header=np.array(json.dumps(header)), **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
    tmp.replace(path)  # a crash mid-write leaves the previous model, never half of one


def load_bundle(path: Path, kind: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and arrays of a ``kind`` model file; a one-line `TuilabelError` otherwise."""
    try:
        with np.load(path, allow_pickle=False) as d:
            header = json.loads(str(d["header"]))
            arrays = {k: d[k] for k in d.files if k != "header"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise TuilabelError(f"cannot read the {kind} model ({exc})", path) from None
    if header.get("kind") != kind:
        raise TuilabelError(f"not a {kind} model file", path)
    return header, arrays
