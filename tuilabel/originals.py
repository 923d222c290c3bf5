"""Where each pool item came from: its original file (path under a recorded root, size, modification
time, a cheap content hash), kept beside the display copy the models and the screen use.

Only sources of image files have originals (a folder, a list of paths, a CSV of paths); arrays and
IDX files do not. Nothing here reads pixels.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HASH_SPAN = 1 << 16  # bytes hashed at each end of a file: cheap on a 12 MB JPEG, and any re-save changes them


def content_hash(path: str | Path, size: int) -> int:
    """A 63-bit hash of a file's size and its first and last `HASH_SPAN` bytes."""
    h = hashlib.blake2b(digest_size=8)
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as f:
        h.update(f.read(HASH_SPAN))
        if size > HASH_SPAN:
            f.seek(max(HASH_SPAN, size - HASH_SPAN))
            h.update(f.read(HASH_SPAN))
    return int.from_bytes(h.digest(), "little") >> 1


@dataclass
class Originals:
    """One record per pool item, in pool order."""

    root: str  # absolute folder the paths are relative to
    paths: np.ndarray  # str: relative to root (or absolute, where a list named a file outside it)
    sizes: np.ndarray  # int64 bytes
    mtimes: np.ndarray  # int64 nanoseconds
    hashes: np.ndarray  # int64 (`content_hash`)

    KEYS = ("orig_paths", "orig_sizes", "orig_mtimes", "orig_hashes")

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, index: int) -> Path:
        return Path(self.root) / str(self.paths[index])

    def state(self, index: int) -> str:
        """"ok", "missing" or "changed" (another size or time; the hash is read only when the time
        alone differs, as a copy that kept the bytes would)."""
        try:
            st = os.stat(self.path(index))
        except OSError:
            return "missing"
        if st.st_size != int(self.sizes[index]):
            return "changed"
        if st.st_mtime_ns != int(self.mtimes[index]):
            try:
                same = content_hash(self.path(index), st.st_size) == int(self.hashes[index])
            except OSError:
                return "missing"
            return "ok" if same else "changed"
        return "ok"

    def survey(self) -> tuple[list[int], list[int]]:
        """Indices of the originals missing and changed (a stat each)."""
        missing: list[int] = []
        changed: list[int] = []
        for i in range(len(self)):
            s = self.state(i)
            if s == "missing":
                missing.append(i)
            elif s == "changed":
                changed.append(i)
        return missing, changed

    def arrays(self) -> dict[str, np.ndarray]:
        return {"orig_root": np.array(self.root), "orig_paths": self.paths, "orig_sizes": self.sizes,
                "orig_mtimes": self.mtimes, "orig_hashes": self.hashes}

    @classmethod
    def from_arrays(cls, d: Any) -> Originals | None:
        """The records in a pool file's arrays (`numpy.lib.npyio.NpzFile`), or None."""
        if "orig_root" not in d.files:
            return None
        get = d.__getitem__
        return cls(str(get("orig_root")), get("orig_paths").astype(str), get("orig_sizes"), get("orig_mtimes"),
                   get("orig_hashes"))

    def take(self, keep: np.ndarray) -> Originals:
        return Originals(self.root, self.paths[keep], self.sizes[keep], self.mtimes[keep], self.hashes[keep])

    def moved_to(self, root: str | Path, check: int = 20) -> Originals:
        """The same records under another root, after checking that the files are there with the same
        sizes (and, for up to ``check`` of them, the same content hash); ValueError otherwise."""
        moved = Originals(str(Path(root).resolve()), self.paths, self.sizes, self.mtimes.copy(), self.hashes)
        absent = [i for i in range(len(self)) if not moved.path(i).is_file()]
        if absent:
            raise ValueError(f"{len(absent)} of {len(self)} originals are not under it "
                             f"(first: {self.paths[absent[0]]})")
        differ = [i for i in range(len(self)) if moved.path(i).stat().st_size != int(self.sizes[i])]
        step = max(1, len(self) // max(check, 1))
        differ += [i for i in range(0, len(self), step)
                   if content_hash(moved.path(i), int(self.sizes[i])) != int(self.hashes[i])]
        if differ:
            raise ValueError(f"{len(set(differ))} of the files under it differ from the originals "
                             f"(first: {self.paths[differ[0]]})")
        for i in range(len(self)):  # a copy gets new times: the records take them, so a stat suffices again
            moved.mtimes[i] = moved.path(i).stat().st_mtime_ns
        return moved
