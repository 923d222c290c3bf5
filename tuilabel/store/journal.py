"""Labels typed while a PostgreSQL store is unreachable: a small file in the workspace, one JSON line
a label, fsynced before the screen acknowledges the label, written to the store in order when it is
back (`LabelStore.flush_journal`), exactly once.

Each line carries the event's time, chosen before the first try to write it: a write whose commit
was ambiguous (the connection dropped during COMMIT) may have reached the store, so an entry whose
(session, item, time) the store already holds is not written again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import TuilabelError


@dataclass(frozen=True)
class Entry:
    session: str
    item_id: str | None
    label: int | None
    confidence: float
    source: str
    time: float


class Journal:
    """The waiting labels, in the order they were typed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries = self._read()

    def _read(self) -> list[Entry]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TuilabelError(f"cannot read the journal of labels waiting for the store ({exc})", self.path) from None
        entries = []
        for line in lines:
            try:
                entries.append(Entry(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a line cut short by a crash mid-write: it was never acknowledged
        return entries

    @property
    def entries(self) -> list[Entry]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, entries: list[Entry]) -> None:
        """On disk (fsynced) before this returns: what the screen then acknowledges survives a crash."""
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(asdict(e)) + "\n" for e in entries))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise TuilabelError(f"cannot keep the label here either ({exc}); the label was not saved",
                                self.path) from None
        self._entries.extend(entries)

    def drop_last(self, session: str, n: int) -> int:
        """Take back the newest ``n`` entries of ``session`` (an undo while the store is away)."""
        mine = [k for k, e in enumerate(self._entries) if e.session == session][-n:] if n > 0 else []
        if mine:
            self._rewrite([e for k, e in enumerate(self._entries) if k not in set(mine)])
        return len(mine)

    def clear(self, written: int) -> None:
        """The first ``written`` entries are in the store now."""
        self._rewrite(self._entries[written:])

    def _rewrite(self, entries: list[Entry]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(asdict(e)) + "\n" for e in entries))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        self._entries = entries
        if not entries:
            self.path.unlink(missing_ok=True)
