"""The label store: an append-only SQLite log of label events; current labels are a view over it.

Undo and redo are events too (``kind`` 'undo' or 'redo' pointing at a label event), so nothing is
ever deleted and the full history survives restarts. Every write is its own committed transaction
(WAL, ``synchronous=FULL``): when `LabelStore.add` returns, the label is on disk.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from typing_extensions import Self

from .errors import TuilabelError

SOURCES = ("human", "pseudo", "propagated")
UNSURE = None  # a label of None means "unsure / not any class"

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    annotator TEXT NOT NULL,
    started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'redo')),
    target INTEGER REFERENCES events(id),
    item_id TEXT,
    sample BLOB,
    sample_shape TEXT,
    label INTEGER,
    source TEXT NOT NULL DEFAULT 'human' CHECK (source IN ('human', 'pseudo', 'propagated')),
    confidence REAL NOT NULL DEFAULT 1.0,
    annotator TEXT NOT NULL,
    mode TEXT NOT NULL,
    session TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_target ON events(target);
CREATE INDEX IF NOT EXISTS events_session ON events(session, id);
CREATE INDEX IF NOT EXISTS events_item ON events(item_id);
-- A label event is live unless the latest undo/redo that targets it is an undo.
CREATE VIEW IF NOT EXISTS live_events AS
    SELECT e.* FROM events e
    WHERE e.kind = 'label' AND COALESCE(
        (SELECT u.kind FROM events u WHERE u.target = e.id ORDER BY u.id DESC LIMIT 1), 'redo'
    ) = 'redo';
-- Per item: the newest live event of the strongest source (human beats propagated beats pseudo).
CREATE VIEW IF NOT EXISTS current_labels AS
    SELECT * FROM (
        SELECT l.*, ROW_NUMBER() OVER (
            PARTITION BY l.item_id
            ORDER BY CASE l.source WHEN 'human' THEN 0 WHEN 'propagated' THEN 1 ELSE 2 END, l.id DESC
        ) AS rank
        FROM live_events l WHERE l.item_id IS NOT NULL
    ) WHERE rank = 1;
"""


@dataclass(frozen=True)
class LabelEvent:
    """One live label: an item of the pool, or a generated sample with its pixels."""

    id: int
    item_id: str | None
    label: int | None
    source: str
    confidence: float
    annotator: str
    mode: str
    session: str
    time: float
    sample: np.ndarray | None = None


def default_annotator() -> str:
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    return f"{user}@{socket.gethostname()}"


class LabelStore:
    """A workspace's labels. Each instance owns one SQLite connection; open one per process."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._counts_cache: tuple[int | None, dict] | None = None
        self._session_counts: dict[str, tuple[int | None, tuple[int, int]]] = {}
        # a workspace on a read-only disk still shows its status and exports: open the store to read
        self.read_only = self.path.exists() and not (os.access(self.path, os.W_OK)
                                                     and os.access(self.path.parent, os.W_OK))
        if self.read_only:
            for flags in ("mode=ro", "immutable=1"):  # immutable: the folder is read-only too (no -shm)
                try:
                    self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?{flags}", uri=True,
                                               isolation_level=None)
                    self._db.execute("SELECT COUNT(*) FROM events").fetchone()
                    return
                except sqlite3.DatabaseError as exc:
                    failure = exc
            raise TuilabelError(f"cannot read the label store ({failure})", self.path) from None
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            with self._write():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
        except sqlite3.DatabaseError as exc:  # not a database, damaged, read-only, locked past the timeout
            raise TuilabelError(f"cannot open the label store ({exc})", self.path) from None

    # -- plumbing -------------------------------------------------------------------------------

    def _write(self) -> _Transaction:
        if self.read_only:
            raise TuilabelError("the label store is read-only here: labels cannot be saved", self.path)
        return _Transaction(self._db, self.path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions -------------------------------------------------------------------------------

    def start_session(self, mode: str, annotator: str | None = None) -> str:
        session = uuid.uuid4().hex[:12]
        with self._write():
            self._db.execute(
                "INSERT INTO sessions (id, mode, annotator, started) VALUES (?, ?, ?, ?)",
                (session, mode, annotator or default_annotator(), time.time()),
            )
        return session

    def _session_row(self, session: str) -> tuple[str, str]:
        row = self._db.execute("SELECT mode, annotator FROM sessions WHERE id = ?", (session,)).fetchone()
        if row is None:
            raise KeyError(f"unknown session {session!r}")
        return row

    def annotator_of(self, session: str) -> str:
        return self._session_row(session)[1]

    # -- writing --------------------------------------------------------------------------------

    def add(
        self,
        session: str,
        item_id: str | None,
        label: int | None,
        *,
        sample: np.ndarray | None = None,
        source: str = "human",
        confidence: float = 1.0,
        when: float | None = None,
    ) -> int:
        """Record one label (``None`` = unsure) and return its event id once it is committed."""
        return self.add_many(
            session, [(item_id, label, confidence)], samples=None if sample is None else [sample],
            source=source, when=when,
        )[0]

    def add_many(
        self,
        session: str,
        rows: Sequence[tuple[str | None, int | None, float]],
        *,
        samples: Sequence[np.ndarray] | None = None,
        source: str = "human",
        when: float | None = None,
    ) -> list[int]:
        """Record several labels in one transaction: (item_id, label, confidence) each."""
        with self._write():
            return self._insert(session, rows, samples, source, when)

    def add_with_spread(
        self,
        session: str,
        sample: np.ndarray,
        label: int | None,
        confidence: float,
        spread: Sequence[tuple[str, int, float]],
    ) -> tuple[int, list[int]]:
        """A person's label for a generated sample (a decoded cluster centre) and the labels it
        spreads to pool items (source "propagated"), committed together: both or neither."""
        with self._write():
            human = self._insert(session, [(None, label, confidence)], [sample], "human", None)[0]
            return human, self._insert(session, spread, None, "propagated", None)

    def retract(self, session: str, event_ids: Sequence[int]) -> None:
        """Undo the given label events in one transaction (a decision and everything it spread)."""
        with self._write():
            self._undo_events(session, event_ids)

    def _undo_events(self, session: str, event_ids: Iterable[int]) -> None:
        """Inside a transaction: an undo event for each of ``event_ids``."""
        mode, annotator = self._session_row(session)
        now = time.time()
        self._db.executemany(
            "INSERT INTO events (kind, target, annotator, mode, session, time) VALUES ('undo', ?, ?, ?, ?, ?)",
            [(int(i), annotator, mode, session, now) for i in event_ids],
        )

    def _insert(
        self,
        session: str,
        rows: Sequence[tuple[str | None, int | None, float]],
        samples: Sequence[np.ndarray] | None,
        source: str,
        when: float | None,
    ) -> list[int]:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        mode, annotator = self._session_row(session)
        now = time.time() if when is None else when
        ids = []
        for n, (item_id, label, confidence) in enumerate(rows):
            blob = shape = None
            if samples is not None:
                arr = np.ascontiguousarray(samples[n], dtype=np.uint8)
                blob, shape = arr.tobytes(), "x".join(map(str, arr.shape))
            if item_id is None and blob is None:
                raise ValueError("a label needs an item id or a sample's pixels")
            cur = self._db.execute(
                "INSERT INTO events (kind, item_id, sample, sample_shape, label, source,"
                " confidence, annotator, mode, session, time)"
                " VALUES ('label', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, blob, shape, None if label is None else int(label), source,
                 float(confidence), annotator, mode, session, now),
            )
            ids.append(int(cur.lastrowid))  # type: ignore[arg-type]
        return ids

    def undo(self, session: str, n: int = 1, source: str | None = "human") -> list[int]:
        """Take back the last ``n`` live label events of a session; returns their ids."""
        undone = []
        with self._write():
            for _ in range(n):
                clause = "" if source is None else " AND source = ?"
                params: tuple = (session,) if source is None else (session, source)
                row = self._db.execute(
                    f"SELECT id FROM live_events WHERE session = ?{clause} ORDER BY id DESC LIMIT 1",
                    params,
                ).fetchone()
                if row is None:
                    break
                self._undo_events(session, [row[0]])
                undone.append(int(row[0]))
        return undone

    def redo(self, session: str, n: int = 1) -> list[int]:
        """Bring back the last ``n`` undone events, as long as no new label came since."""
        mode, annotator = self._session_row(session)
        redone = []
        with self._write():
            for _ in range(n):
                stack = self._redo_stack(session)
                if not stack:
                    break
                target = stack[-1]
                self._db.execute(
                    "INSERT INTO events (kind, target, annotator, mode, session, time)"
                    " VALUES ('redo', ?, ?, ?, ?, ?)",
                    (target, annotator, mode, session, time.time()),
                )
                redone.append(target)
        return redone

    def _redo_stack(self, session: str) -> list[int]:
        last_label = self._db.execute(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE session = ? AND kind = 'label'", (session,)
        ).fetchone()[0]
        stack: list[int] = []
        for kind, target in self._db.execute(
            "SELECT kind, target FROM events WHERE session = ? AND id > ? ORDER BY id",
            (session, last_label),
        ):
            if kind == "undo":
                stack.append(target)
            elif stack:
                stack.pop()
        return stack

    def item_of(self, event_id: int) -> str | None:
        row = self._db.execute("SELECT item_id FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else row[0]

    def can_redo(self, session: str) -> bool:
        return bool(self._redo_stack(session))

    # -- reading --------------------------------------------------------------------------------

    def current(self, sources: Iterable[str] = ("human",)) -> dict[str, tuple[int | None, float]]:
        """Item id to (label, confidence) for the current label of each item from ``sources``."""
        sources = tuple(sources)
        marks = ",".join("?" * len(sources))
        rows = self._db.execute(
            f"SELECT item_id, label, confidence FROM current_labels WHERE source IN ({marks})", sources
        )
        return {item: (label, conf) for item, label, conf in rows}

    def events(
        self,
        sources: Iterable[str] = SOURCES,
        session: str | None = None,
        samples: bool | None = None,
        current_only: bool = False,
    ) -> Iterator[LabelEvent]:
        """Live label events, oldest first. ``samples=True`` gives only generated samples."""
        sources = tuple(sources)
        table = "current_labels" if current_only else "live_events"
        where = [f"source IN ({','.join('?' * len(sources))})"]
        params: list = list(sources)
        if session is not None:
            where.append("session = ?")
            params.append(session)
        if samples is True:
            where.append("sample IS NOT NULL")
        elif samples is False:
            where.append("sample IS NULL")
        query = (
            "SELECT id, item_id, label, source, confidence, annotator, mode, session, time, sample,"
            f" sample_shape FROM {table} WHERE {' AND '.join(where)} ORDER BY id"
        )
        for row in self._db.execute(query, params):
            sample = None
            if row[9] is not None:
                shape = tuple(int(s) for s in row[10].split("x"))
                sample = np.frombuffer(row[9], np.uint8).reshape(shape)
            ident, item, label, source, confidence, annotator, mode, session, when = row[:9]
            yield LabelEvent(ident, item, label, source, confidence, annotator, mode, session, when, sample)

    def labelled_samples(
        self, shape: tuple[int, ...], session: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Live human-labelled generated samples (stream frames) of ``shape`` that have a class:
        uint8 ``N x shape`` pixels and their labels."""
        pairs = [(ev.sample, ev.label) for ev in self.events(("human",), session=session, samples=True)
                 if ev.label is not None and ev.sample is not None and ev.sample.shape == tuple(shape)]
        if not pairs:
            return np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64)
        return np.stack([s for s, _ in pairs]), np.array([label for _, label in pairs], np.int64)

    def replace_source(self, session: str, source: str, rows: Sequence[tuple[str, int, float]]) -> None:
        """Re-decide machine labels: undo every live event of ``source``, then add ``rows``.

        Used for pseudo-labels, which are chosen afresh every round and never outrank a human's.
        """
        if source == "human":
            raise ValueError("human labels are never replaced wholesale")
        with self._write():
            old = [r[0] for r in self._db.execute("SELECT id FROM live_events WHERE source = ?", (source,))]
            self._undo_events(session, old)
            self._insert(session, rows, None, source, None)

    def counts(self) -> dict[tuple[str, int | None], int]:
        """(source, label) to the number of current labels; samples count under their label.

        The log only grows, so its newest event id versions the answer: screens may ask on every
        key, and the grouping query over the whole log runs only when something was written.
        """
        version = self._db.execute("SELECT MAX(id) FROM events").fetchone()[0]
        if self._counts_cache is not None and self._counts_cache[0] == version:
            return dict(self._counts_cache[1])
        out: dict[tuple[str, int | None], int] = {}
        for source, label, n in self._db.execute(
            "SELECT source, label, COUNT(*) FROM current_labels GROUP BY source, label"
        ):
            out[(source, label)] = n
        for label, n in self._db.execute(
            "SELECT label, COUNT(*) FROM live_events WHERE item_id IS NULL GROUP BY label"
        ):
            out[("sample", label)] = n
        self._counts_cache = (version, out)
        return dict(out)

    def session_counts(self, session: str) -> tuple[int, int]:
        """Live label events of ``session``: (with a class, unsure). Versioned by the log's newest id,
        as `counts` is: a screen asks on every key."""
        version = self._db.execute("SELECT MAX(id) FROM events").fetchone()[0]
        cached = self._session_counts.get(session)
        if cached is not None and cached[0] == version:
            return cached[1]
        row = self._db.execute(
            "SELECT COUNT(label), COUNT(*) - COUNT(label) FROM live_events WHERE session = ?", (session,)
        ).fetchone()
        result = (int(row[0]), int(row[1]))
        self._session_counts[session] = (version, result)
        return result

    def sample_counts(self) -> dict[tuple[str, int | None], int]:
        """(mode, label) to the number of live generated samples (stream frames, cluster centres)."""
        rows = self._db.execute(
            "SELECT mode, label, COUNT(*) FROM live_events WHERE item_id IS NULL GROUP BY mode, label"
        )
        return {(mode, label): n for mode, label, n in rows}

    def time_spent(self) -> float:
        """Seconds between each session's start and its last event, summed over sessions."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(last - started), 0) FROM ("
            " SELECT s.started, MAX(e.time) AS last FROM sessions s JOIN events e ON e.session = s.id"
            " GROUP BY s.id)"
        ).fetchone()
        return float(row[0])

    def n_events(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock up front so writers queue, not fail."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # read-only, locked past the timeout
            raise TuilabelError(f"cannot write the label store ({exc}); the label was not saved", self._path) from None

    def __exit__(self, exc_type: object, exc: object, *rest: object) -> None:
        if exc_type is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):  # disk full, read-only, I/O error
                raise TuilabelError(f"cannot write the label store ({exc}); the label was not saved",
                                    self._path) from None
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise TuilabelError(f"cannot write the label store ({exc}); the label was not saved", self._path) from None

