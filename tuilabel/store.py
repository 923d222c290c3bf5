"""The label store: an append-only log of label events; current labels are derived from it.

Two engines behind one class: SQLite (a file in the workspace, the default) and PostgreSQL (a URL,
through psycopg 3, for a team whose annotators write from several machines). Undo and redo are
events too (``kind`` 'undo' or 'redo' pointing at a label event), so nothing is ever deleted and
the full history survives restarts. Every write is its own committed transaction, one writer at a
time (SQLite's ``BEGIN IMMEDIATE`` in WAL with ``synchronous=FULL``; PostgreSQL's transaction-level
advisory lock): when `LabelStore.add` returns, the label is on disk.

Tables derived from the log inside the same transactions that write it, so that reading the state
of a million-event log costs nothing: ``current_items`` (per pool item the event that counts now),
``tallies`` (current labels per source and class, live generated samples per mode and class),
``opinions`` (each annotator's newest live label of an item, review left out) and ``pairs`` (per pair
of annotators, how often one said a where the other said b: Cohen's kappa without the log).
`LabelStore.rebuild` makes them again from the log (a store from an older tuilabel is upgraded that
way when it opens).

Leases (``leases``) say which session is showing which item, so that concurrent annotators are
handed different items (`LabelStore.claim`) unless overlap is asked for.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from typing_extensions import Self

from .errors import TuilabelError

SOURCES = ("human", "pseudo", "propagated")
UNSURE = None  # a label of None means "unsure / not any class"
DERIVED_VERSION = "4"  # of the derived tables; a store without it is rebuilt from its log on opening
LEASE_SECONDS = 300.0  # a lease not renewed for this long is free again (an annotator who left)
PG_LOCK = 0x7475696C  # the advisory lock every PostgreSQL writer takes: one write at a time

# {placeholders} differ between the engines (see _DIALECTS)
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    annotator TEXT NOT NULL,
    started {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id {serial},
    kind TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'redo')),
    target {bigint} REFERENCES events(id),
    item_id TEXT,
    sample {blob},
    sample_shape TEXT,
    label INTEGER,
    source TEXT NOT NULL DEFAULT 'human' CHECK (source IN ('human', 'pseudo', 'propagated')),
    confidence {real} NOT NULL DEFAULT 1.0,
    annotator TEXT NOT NULL,
    mode TEXT NOT NULL,
    session TEXT NOT NULL,
    time {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS events_target ON events(target);
CREATE INDEX IF NOT EXISTS events_session ON events(session, id);
CREATE INDEX IF NOT EXISTS events_session_time ON events(session, time);
CREATE INDEX IF NOT EXISTS events_item ON events(item_id);
CREATE TABLE IF NOT EXISTS current_items (
    item_id TEXT PRIMARY KEY,
    event {bigint} NOT NULL,
    source TEXT NOT NULL,
    label INTEGER
);
CREATE TABLE IF NOT EXISTS tallies (
    what TEXT NOT NULL,
    label INTEGER NOT NULL,
    n {bigint} NOT NULL,
    PRIMARY KEY (what, label)
);
CREATE TABLE IF NOT EXISTS opinions (
    item_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    label INTEGER NOT NULL,
    PRIMARY KEY (item_id, annotator)
);
CREATE TABLE IF NOT EXISTS pairs (
    one TEXT NOT NULL,
    other TEXT NOT NULL,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    n {bigint} NOT NULL,
    PRIMARY KEY (one, other, a, b)
);
CREATE TABLE IF NOT EXISTS leases (
    item_id TEXT NOT NULL,
    session TEXT NOT NULL,
    annotator TEXT NOT NULL,
    expires {real} NOT NULL,
    PRIMARY KEY (item_id, session)
);
CREATE INDEX IF NOT EXISTS leases_session ON leases(session);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
{view} live_events AS
    SELECT e.* FROM events e WHERE e.kind = 'label' AND {live};
{view} current_labels AS
    SELECT e.* FROM current_items c JOIN events e ON e.id = c.event;
"""

# A label event is live unless the latest undo/redo that targets it is an undo.
LIVE = ("COALESCE((SELECT u.kind FROM events u WHERE u.target = e.id ORDER BY u.id DESC LIMIT 1),"
        " 'redo') = 'redo'")
# Per item the newest live event of the strongest source counts: human, then propagated, then pseudo.
PRIORITY = "CASE e.source WHEN 'human' THEN 0 WHEN 'propagated' THEN 1 ELSE 2 END, e.id DESC"

_DIALECTS = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "bigint": "INTEGER", "blob": "BLOB",
               "real": "REAL", "view": "CREATE VIEW IF NOT EXISTS", "live": LIVE},
    "postgresql": {"serial": "BIGSERIAL PRIMARY KEY", "bigint": "BIGINT", "blob": "BYTEA",
                   "real": "DOUBLE PRECISION", "view": "CREATE OR REPLACE VIEW", "live": LIVE},
}


def is_url(location: str | Path) -> bool:
    """Whether a store location is a PostgreSQL URL (anything else is an SQLite file)."""
    return str(location).startswith(("postgresql://", "postgres://"))


def shown_location(location: str | Path) -> str:
    """A store location for messages: a URL without its password."""
    return re.sub(r"(://[^:/@]*):[^@/]+@", r"\1:***@", str(location))


def _pg_statement(sql: str) -> str:
    return sql.replace("?", "%s")


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


class _Sqlite:
    """The SQLite engine: a file, WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for each write."""

    name = "sqlite"

    def __init__(self, path: Path, timeout: float) -> None:
        self.where = str(path)
        # a workspace on a read-only disk still shows its status and exports: open the store to read
        self.read_only = path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        if self.read_only:
            self.db = self._read_only_copy(path)
            return
        try:
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        except sqlite3.DatabaseError as exc:  # not a database, damaged, locked past the timeout
            raise TuilabelError(f"cannot open the label store ({exc})", path) from None

    @staticmethod
    def _read_only_copy(path: Path) -> sqlite3.Connection:
        """The store read into memory (so that a store from an older tuilabel can be upgraded there)."""
        failure: Exception | None = None
        for flags in ("mode=ro", "immutable=1"):  # immutable: the folder is read-only too (no -shm)
            try:
                source = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, isolation_level=None)
                source.execute("SELECT COUNT(*) FROM events").fetchone()
                copy = sqlite3.connect(":memory:", isolation_level=None)
                source.backup(copy)
                source.close()
                return copy
            except sqlite3.DatabaseError as exc:
                failure = exc
        raise TuilabelError(f"cannot read the label store ({failure})", path) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    def insert_returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        return [int(self.db.execute(sql, row).fetchone()[0]) for row in rows]

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")  # the write lock up front: writers queue, not fail

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")

    errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
    integrity: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)

    def create_temp(self) -> None:
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS touched (item_id TEXT PRIMARY KEY)")

    def close(self) -> None:
        self.db.close()


class _Postgres:
    """The PostgreSQL engine (psycopg 3): autocommit reads, and each write one transaction under
    an advisory lock, so that writers from several machines take turns as SQLite's do."""

    name = "postgresql"
    read_only = False

    def __init__(self, url: str, timeout: float) -> None:
        self.where = shown_location(url)
        try:
            import psycopg
        except ImportError:
            raise TuilabelError("a PostgreSQL store needs psycopg 3: pip install 'tuilabel[postgres]'",
                                self.where) from None
        self._psycopg = psycopg
        self.errors = (psycopg.Error,)
        self.integrity = (psycopg.Error,)
        try:
            self.db = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))
        except psycopg.Error as exc:
            raise TuilabelError(f"cannot connect to the label store ({_first_line(exc)})", self.where) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(_pg_statement(sql), params)  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.db.cursor() as cur:
            cur.executemany(_pg_statement(sql), rows)  # type: ignore[arg-type]

    def insert_returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Every row's id, the rows sent in one pipeline (a round trip each would be 20k of them)."""
        if len(rows) == 1:
            return [int(self.db.execute(_pg_statement(sql), rows[0]).fetchone()[0])]  # type: ignore[index]
        ids = []
        with self.db.cursor() as cur:
            cur.executemany(_pg_statement(sql), rows, returning=True)  # type: ignore[arg-type]
            while True:
                ids.append(int(cur.fetchone()[0]))  # type: ignore[index]
                if not cur.nextset():
                    break
        return ids

    def begin(self) -> None:
        self.db.execute("BEGIN")
        self.db.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK,))

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(self._psycopg.Error):
            self.db.execute("ROLLBACK")

    def create_temp(self) -> None:
        """Nothing: PostgreSQL takes a list of items as an array (`LabelStore._among`)."""

    def close(self) -> None:
        self.db.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class LabelStore:
    """A workspace's labels: an SQLite file (a path) or a PostgreSQL database (a URL). Each instance
    owns one connection; open one per process (or per thread that writes)."""

    def __init__(self, location: str | Path, timeout: float = 30.0) -> None:
        self.location = str(location)
        self.path: str | Path
        self.engine: _Sqlite | _Postgres
        if is_url(location):
            self.engine = _Postgres(str(location), timeout)
            self.path = self.engine.where
        else:
            self.path = Path(location)
            self.engine = _Sqlite(self.path, timeout)
        self._db = self.engine.db
        self.read_only = self.engine.read_only
        self._sessions: dict[str, tuple[str, str]] = {}
        self._session_counts: dict[str, tuple[int | None, tuple[int, int]]] = {}
        try:
            if self.read_only:  # an in-memory copy: upgrade it there, no lock to take
                if self._meta("derived") != DERIVED_VERSION:
                    self._create_schema()
                    self.rebuild(in_transaction=True)
            else:
                with self._write():
                    self._create_schema()
                    if self._meta("derived") != DERIVED_VERSION:
                        self.rebuild(in_transaction=True)
            self.engine.create_temp()
        except self.engine.integrity as exc:  # not a database, damaged
            raise TuilabelError(f"cannot open the label store ({_first_line(exc)})", self.path) from None

    @property
    def engine_name(self) -> str:
        return self.engine.name

    # -- plumbing -------------------------------------------------------------------------------

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.engine.execute(sql, params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.engine.execute(sql, params).fetchone()

    def _write(self) -> _Transaction:
        if self.read_only:
            raise TuilabelError("the label store is read-only here: labels cannot be saved", self.path)
        return _Transaction(self)

    def _create_schema(self) -> None:
        if self.engine.name == "sqlite":  # a store from an older tuilabel: its view was the window query
            row = self._one("SELECT sql FROM sqlite_master WHERE name = 'current_labels'")
            if row is not None and "current_items" not in row[0]:
                self._x("DROP VIEW current_labels")
        for statement in SCHEMA.format(**_DIALECTS[self.engine.name]).split(";"):
            if statement.strip():
                self._x(statement)

    def _meta(self, key: str) -> str | None:
        try:
            row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        except sqlite3.OperationalError:  # a read-only store from before the table existed
            return None
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._x("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value))

    def owner(self) -> str | None:
        """The id of the workspace this store belongs to (None: not claimed yet)."""
        return self._meta("workspace")

    def claim_workspace(self, workspace_id: str | None) -> None:
        """Mark the store as this workspace's, or refuse one that belongs to another workspace (two
        workspaces pointed at one database would mix their labels)."""
        if not workspace_id:
            return
        owner = self._meta("workspace")
        if owner is None and not self.read_only:
            with self._write():
                self._set_meta("workspace", workspace_id)
        elif owner is not None and owner != workspace_id:
            raise TuilabelError("this label store belongs to another workspace (its [workspace] id differs)",
                                self.path)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- derived tables ---------------------------------------------------------------------------

    def rebuild(self, in_transaction: bool = False) -> None:
        """Make ``current_items`` and ``tallies`` again from the log."""
        if not in_transaction:
            with self._write():
                self.rebuild(in_transaction=True)
            return
        self._x("DELETE FROM current_items")
        self._x("DELETE FROM tallies")
        self._x(f"INSERT INTO current_items (item_id, event, source, label) SELECT item_id, id, source, label FROM ("
                f" SELECT e.item_id, e.id, e.source, e.label, ROW_NUMBER() OVER (PARTITION BY e.item_id ORDER BY"
                f" {PRIORITY}) AS rank FROM live_events e WHERE e.item_id IS NOT NULL) r WHERE rank = 1")
        self._x("DELETE FROM opinions")
        self._x("DELETE FROM pairs")
        self._opinions("1 = 1", ())
        self._pairs("1 = 1", (), "")
        self._x("INSERT INTO tallies (what, label, n) SELECT source, COALESCE(label, -1), COUNT(*)"
                " FROM current_items GROUP BY source, COALESCE(label, -1)")
        self._x("INSERT INTO tallies (what, label, n) SELECT 'sample:' || mode, COALESCE(label, -1), COUNT(*)"
                " FROM live_events WHERE item_id IS NULL GROUP BY mode, COALESCE(label, -1)")
        self._set_meta("derived", DERIVED_VERSION)

    def _tally(self, what: str, label: int | None, delta: int) -> None:
        self._x("INSERT INTO tallies (what, label, n) VALUES (?, ?, ?)"
                " ON CONFLICT (what, label) DO UPDATE SET n = tallies.n + excluded.n",
                (what, -1 if label is None else int(label), delta))

    def _among(self, column: str, items: Sequence[str]) -> tuple[str, tuple]:
        """A condition ``column`` is one of ``items``, that the planner answers from the index on
        ``column`` (a join with a table it has no statistics for would scan the whole log)."""
        if self.engine.name == "postgresql":  # (= ANY of a long array compares every row with each item)
            return f"{column} IN (SELECT unnest(?::text[]))", (list(items),)
        self._x("DELETE FROM touched")
        self.engine.executemany("INSERT INTO touched (item_id) VALUES (?)", [(i,) for i in items])
        return f"{column} IN (SELECT item_id FROM touched)", ()

    def _refresh(self, items: Iterable[str]) -> None:
        """Inside a write: recompute the current label (and tallies) of the pool items touched."""
        items = sorted(set(items))
        if not items:
            return
        among_c, params = self._among("c.item_id", items)
        among_e = among_c.replace("c.item_id", "e.item_id")
        among_plain = among_c.replace("c.item_id", "item_id")
        grouped = ("SELECT c.source, COALESCE(c.label, -1), {sign}COUNT(*) FROM current_items c"
                   f" WHERE {among_c} GROUP BY c.source, COALESCE(c.label, -1)"
                   " ON CONFLICT (what, label) DO UPDATE SET n = tallies.n + excluded.n")
        self._x("INSERT INTO tallies (what, label, n) " + grouped.format(sign="-"), params)
        self._x(f"DELETE FROM current_items WHERE {among_plain}", params)
        self._x(f"INSERT INTO current_items (item_id, event, source, label) SELECT item_id, id, source, label FROM ("
                f" SELECT e.item_id, e.id, e.source, e.label, ROW_NUMBER() OVER (PARTITION BY e.item_id ORDER BY"
                f" {PRIORITY}) AS rank FROM events e WHERE {among_e} AND e.kind = 'label' AND {LIVE}) r"
                f" WHERE rank = 1", params)
        among_x = among_c.replace("c.item_id", "x.item_id")
        self._pairs(among_x, params, "-")
        self._x(f"DELETE FROM opinions WHERE {among_plain}", params)
        self._opinions(among_e, params)
        self._pairs(among_x, params, "")
        self._x("INSERT INTO tallies (what, label, n) " + grouped.format(sign=""), params)

    def _opinions(self, among_e: str, params: tuple) -> None:
        """Each annotator's newest live human label (review left out) of the items ``among_e``."""
        self._x(f"INSERT INTO opinions (item_id, annotator, label) SELECT item_id, annotator, COALESCE(label, -1)"
                f" FROM (SELECT e.item_id, e.annotator, e.label, ROW_NUMBER() OVER (PARTITION BY e.item_id,"
                f" e.annotator ORDER BY e.id DESC) AS rank FROM events e WHERE {among_e} AND e.kind = 'label'"
                f" AND e.source = 'human' AND e.mode <> 'review' AND e.item_id IS NOT NULL AND {LIVE}) r"
                f" WHERE rank = 1", params)

    def _pairs(self, among_x: str, params: tuple, sign: str) -> None:
        """Add (``sign`` "") or take away ("-") the pairs of opinions with a class on the items ``among_x``."""
        self._x(f"INSERT INTO pairs (one, other, a, b, n) SELECT x.annotator, y.annotator, x.label, y.label,"
                f" {sign}COUNT(*) FROM opinions x JOIN opinions y"
                f" ON y.item_id = x.item_id AND x.annotator < y.annotator"
                f" WHERE {among_x} AND x.label >= 0 AND y.label >= 0 GROUP BY x.annotator, y.annotator, x.label,"
                f" y.label ON CONFLICT (one, other, a, b) DO UPDATE SET n = pairs.n + excluded.n", params)

    # -- sessions -------------------------------------------------------------------------------

    def start_session(self, mode: str, annotator: str | None = None) -> str:
        session = uuid.uuid4().hex[:12]
        with self._write():
            self._x("INSERT INTO sessions (id, mode, annotator, started) VALUES (?, ?, ?, ?)",
                    (session, mode, annotator or default_annotator(), time.time()))
        return session

    def _session_row(self, session: str) -> tuple[str, str]:
        if session not in self._sessions:
            row = self._one("SELECT mode, annotator FROM sessions WHERE id = ?", (session,))
            if row is None:
                raise KeyError(f"unknown session {session!r}")
            self._sessions[session] = (row[0], row[1])
        return self._sessions[session]

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
        item_id: str | None = None,
    ) -> tuple[int, list[int]]:
        """A person's label for a generated sample (a decoded cluster centre), or for the pool item
        ``item_id`` shown in its place (``sample`` is then not stored), and the labels it spreads to
        pool items (source "propagated"), committed together: both or neither."""
        with self._write():
            if item_id is None:
                human = self._insert(session, [(None, label, confidence)], [sample], "human", None)[0]
            else:
                human = self._insert(session, [(item_id, label, confidence)], None, "human", None)[0]
            return human, self._insert(session, spread, None, "propagated", None)

    def retract(self, session: str, event_ids: Sequence[int]) -> None:
        """Undo the given label events in one transaction (a decision and everything it spread)."""
        with self._write():
            self._mark(session, "undo", event_ids)

    def _mark(self, session: str, kind: str, event_ids: Iterable[int]) -> None:
        """Inside a transaction: an undo (or redo) event for each of ``event_ids``, and the derived
        tables brought up to date."""
        mode, annotator = self._session_row(session)
        ids = [int(i) for i in event_ids]
        if not ids:
            return
        targets = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            targets += self._x(f"SELECT e.id, e.item_id, e.mode, e.label, {LIVE} FROM events e"
                               f" WHERE e.id IN ({marks})", chunk).fetchall()
        now = time.time()
        self.engine.executemany(
            "INSERT INTO events (kind, target, annotator, mode, session, time) VALUES (?, ?, ?, ?, ?, ?)",
            [(kind, i, annotator, mode, session, now) for i in ids],
        )
        live_after = kind == "redo"
        for _, item, sample_mode, label, live_before in targets:
            if item is None and bool(live_before) != live_after:
                self._tally(f"sample:{sample_mode}", label, 1 if live_after else -1)
        self._refresh(item for _, item, _, _, _ in targets if item is not None)

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
        values = []
        for n, (item_id, label, confidence) in enumerate(rows):
            blob = shape = None
            if samples is not None:
                arr = np.ascontiguousarray(samples[n], dtype=np.uint8)
                blob, shape = arr.tobytes(), "x".join(map(str, arr.shape))
            if item_id is None and blob is None:
                raise ValueError("a label needs an item id or a sample's pixels")
            values.append((item_id, blob, shape, None if label is None else int(label), source,
                           float(confidence), annotator, mode, session, now))
            if item_id is None:
                self._tally(f"sample:{mode}", label, 1)
        ids = self.engine.insert_returning(
            "INSERT INTO events (kind, item_id, sample, sample_shape, label, source,"
            " confidence, annotator, mode, session, time)"
            " VALUES ('label', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", values)
        if self.engine.name == "postgresql" and len(rows) >= 1000:
            # a bulk write (spread labels, pseudo-labels, a migration): fresh statistics, or the
            # planner, still seeing the tables as they were, walks the log once per row
            self._x("ANALYZE events")
            self._x("ANALYZE current_items")
        self._refresh(item for item, _, _ in rows if item is not None)
        return ids

    def undo(self, session: str, n: int = 1, source: str | None = "human") -> list[int]:
        """Take back the last ``n`` live label events of a session; returns their ids."""
        undone: list[int] = []
        with self._write():
            for _ in range(n):
                clause = "" if source is None else " AND source = ?"
                params: tuple = (session,) if source is None else (session, source)
                row = self._one(
                    f"SELECT id FROM live_events WHERE session = ?{clause} ORDER BY id DESC LIMIT 1", params
                )
                if row is None:
                    break
                self._mark(session, "undo", [row[0]])
                undone.append(int(row[0]))
        return undone

    def redo(self, session: str, n: int = 1) -> list[int]:
        """Bring back the last ``n`` undone events, as long as no new label came since."""
        redone: list[int] = []
        with self._write():
            for _ in range(n):
                stack = self._redo_stack(session)
                if not stack:
                    break
                self._mark(session, "redo", [stack[-1]])
                redone.append(stack[-1])
        return redone

    def _redo_stack(self, session: str) -> list[int]:
        last_label = self._one(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE session = ? AND kind = 'label'", (session,)
        )[0]
        stack: list[int] = []
        for kind, target in self._x(
            "SELECT kind, target FROM events WHERE session = ? AND id > ? ORDER BY id", (session, last_label)
        ).fetchall():
            if kind == "undo":
                stack.append(target)
            elif stack:
                stack.pop()
        return stack

    def item_of(self, event_id: int) -> str | None:
        row = self._one("SELECT item_id FROM events WHERE id = ?", (event_id,))
        return None if row is None else row[0]

    def can_redo(self, session: str) -> bool:
        return bool(self._redo_stack(session))

    # -- leases: who is showing what ------------------------------------------------------------

    def claim(
        self,
        session: str,
        candidates: Iterable[str],
        n: int = 1,
        *,
        overlap: int = 1,
        fresh: bool = True,
        ttl: float = LEASE_SECONDS,
    ) -> list[str]:
        """Up to ``n`` of ``candidates`` (in their order) for this session to show, leased to it.

        An item is handed out while fewer than ``overlap`` other annotators hold it: a live lease of
        another annotator's session, or (``fresh``) a live human label of theirs. With ``fresh`` an
        item this annotator already labelled is never handed out again. Candidates are read lazily,
        a few hundred at a time, so a ranking of the whole pool costs only what it takes.
        """
        annotator = self.annotator_of(session)
        chosen: list[str] = []
        pending = iter(candidates)
        with self._write():
            now = time.time()
            self._x("DELETE FROM leases WHERE expires < ?", (now,))
            while len(chosen) < n:
                chunk = list(dict.fromkeys(item for _, item in zip(range(256), pending)))
                if not chunk:
                    break
                among_l, params = self._among("l.item_id", chunk)
                among_e = among_l.replace("l.item_id", "e.item_id")
                # who holds each item: annotators who labelled it, and other sessions' leases (under
                # their annotator's name, or the session's own when it is this annotator's other session)
                holders: dict[str, set[str]] = {}
                labellers: dict[str, set[str]] = {}
                for item, other, who in self._x(
                    f"SELECT l.item_id, l.session, l.annotator FROM leases l WHERE {among_l} AND l.session <> ?",
                    (*params, session)
                ).fetchall():
                    holders.setdefault(item, set()).add(f"session:{other}" if who == annotator else who)
                if fresh:
                    for item, who in self._x(
                        f"SELECT e.item_id, e.annotator FROM events e WHERE {among_e} AND e.kind = 'label'"
                        f" AND e.source = 'human' AND e.mode <> 'review' AND {LIVE}", params
                    ).fetchall():
                        labellers.setdefault(item, set()).add(who)
                for item in chunk:
                    by = labellers.get(item, set())
                    if annotator in by:
                        continue
                    if len(holders.get(item, set()) | by) >= overlap:
                        continue
                    chosen.append(item)
                    if len(chosen) == n:
                        break
            self.engine.executemany(
                "INSERT INTO leases (item_id, session, annotator, expires) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (item_id, session) DO UPDATE SET expires = excluded.expires",
                [(item, session, annotator, now + ttl) for item in chosen],
            )
        return chosen

    def renew(self, session: str, ttl: float = LEASE_SECONDS) -> None:
        """This session is still here: its leases last another ``ttl`` seconds."""
        with self._write():
            self._x("UPDATE leases SET expires = ? WHERE session = ?", (time.time() + ttl, session))

    def release(self, session: str, items: Iterable[str] | None = None) -> None:
        """Give back this session's leases (all of them, or on ``items``)."""
        if self.read_only:
            return
        with self._write():
            if items is None:
                self._x("DELETE FROM leases WHERE session = ?", (session,))
            else:
                self.engine.executemany("DELETE FROM leases WHERE session = ? AND item_id = ?",
                                        [(session, i) for i in items])

    def leases(self) -> list[tuple[str, str, str, float]]:
        """Live leases: (item id, session, annotator, expiry time)."""
        return [tuple(r) for r in self._x(  # type: ignore[misc]
            "SELECT item_id, session, annotator, expires FROM leases WHERE expires >= ? ORDER BY item_id",
            (time.time(),)).fetchall()]

    # -- reading --------------------------------------------------------------------------------

    def current(self, sources: Iterable[str] = ("human",)) -> dict[str, tuple[int | None, float]]:
        """Item id to (label, confidence) for the current label of each item from ``sources``."""
        sources = tuple(sources)
        marks = ",".join("?" * len(sources))
        rows = self._x(
            f"SELECT c.item_id, c.label, e.confidence FROM current_items c JOIN events e ON e.id = c.event"
            f" WHERE c.source IN ({marks})", sources
        )
        return {item: (label, conf) for item, label, conf in rows}

    def labels(self, sources: Iterable[str] = ("human",)) -> dict[str, int | None]:
        """Item id to its current label from ``sources`` (`current` without the confidence: read
        from the derived table alone, what a session opening on a large log wants)."""
        sources = tuple(sources)
        marks = ",".join("?" * len(sources))
        return dict(self._x(f"SELECT item_id, label FROM current_items WHERE source IN ({marks})", sources))

    def labelled_by(self, annotator: str) -> set[str]:
        """Items ``annotator`` gave a live human label (a class or unsure) outside review."""
        return {r[0] for r in self._x("SELECT item_id FROM opinions WHERE annotator = ?", (annotator,))}

    def answered_by_others(self, annotator: str, at_least: int) -> set[str]:
        """Items that ``at_least`` annotators other than ``annotator`` gave a live human label (for
        overlap: such an item needs no more opinions)."""
        rows = self._x("SELECT item_id FROM opinions WHERE annotator <> ? GROUP BY item_id HAVING COUNT(*) >= ?",
                       (annotator, at_least))
        return {r[0] for r in rows}

    def pair_counts(self) -> dict[tuple[str, str], dict[tuple[int, int], int]]:
        """Per pair of annotators (sorted), how many items the first labelled a and the second b
        (both a class; each annotator's newest live label, review left out)."""
        out: dict[tuple[str, str], dict[tuple[int, int], int]] = {}
        for one, other, a, b, n in self._x("SELECT one, other, a, b, n FROM pairs WHERE n > 0").fetchall():
            out.setdefault((one, other), {})[(int(a), int(b))] = int(n)
        return out

    def shared_opinions(self) -> dict[str, dict[str, int | None]]:
        """Item id to {annotator: their newest live label (None: unsure)} for the items two or more
        annotators labelled (review left out): what disagreement is judged from."""
        out: dict[str, dict[str, int | None]] = {}
        for item, who, label in self._x(
            "SELECT item_id, annotator, label FROM opinions WHERE item_id IN"
            " (SELECT item_id FROM opinions GROUP BY item_id HAVING COUNT(*) > 1)"
        ).fetchall():
            out.setdefault(item, {})[who] = None if label == -1 else int(label)
        return out

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
        for row in self._x(query, params).fetchall():
            sample = None
            if row[9] is not None:
                shape = tuple(int(s) for s in row[10].split("x"))
                sample = np.frombuffer(bytes(row[9]), np.uint8).reshape(shape)
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
            old = [r[0] for r in self._x("SELECT id FROM live_events WHERE source = ?", (source,)).fetchall()]
            self._mark(session, "undo", old)
            self._insert(session, rows, None, source, None)

    def _tallies(self) -> list[tuple[str, int | None, int]]:
        return [(what, None if label == -1 else label, n)
                for what, label, n in self._x("SELECT what, label, n FROM tallies WHERE n > 0").fetchall()]

    def counts(self) -> dict[tuple[str, int | None], int]:
        """(source, label) to the number of current labels; samples count under ("sample", label).
        Read from the tallies the writes keep: costs the same on a log of a million events."""
        out: dict[tuple[str, int | None], int] = {}
        for what, label, n in self._tallies():
            key = ("sample", label) if what.startswith("sample:") else (what, label)
            out[key] = out.get(key, 0) + n
        return out

    def session_counts(self, session: str) -> tuple[int, int]:
        """Live label events of ``session``: (with a class, unsure). Versioned by the log's newest id:
        a screen asks on every key, and the count runs again only when something was written."""
        version = self._one("SELECT MAX(id) FROM events")[0]
        cached = self._session_counts.get(session)
        if cached is not None and cached[0] == version:
            return cached[1]
        row = self._one(
            "SELECT COUNT(label), COUNT(*) - COUNT(label) FROM live_events WHERE session = ?", (session,)
        )
        result = (int(row[0]), int(row[1]))
        self._session_counts[session] = (version, result)
        return result

    def sample_counts(self) -> dict[tuple[str, int | None], int]:
        """(mode, label) to the number of live generated samples (stream frames, cluster centres)."""
        return {(what.split(":", 1)[1], label): n for what, label, n in self._tallies()
                if what.startswith("sample:")}

    def time_spent(self) -> float:
        """Seconds between each session's start and its last event, summed over sessions."""
        row = self._one(
            "SELECT COALESCE(SUM(last - started), 0) FROM ("
            " SELECT s.started, (SELECT MAX(e.time) FROM events e WHERE e.session = s.id) AS last"
            " FROM sessions s) spans WHERE last IS NOT NULL"
        )
        return float(row[0])

    def n_events(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM events")[0])

    # -- copying between engines ----------------------------------------------------------------

    def copy_to(self, other: LabelStore, progress: Any = None, chunk: int = 20000) -> int:
        """Copy this store's whole log (sessions and events, ids kept) into an empty store, then
        rebuild its derived tables. Returns the number of events copied."""
        if other.n_events() or other._one("SELECT COUNT(*) FROM sessions")[0]:
            raise TuilabelError("the target label store is not empty", other.path)
        total = self.n_events()
        with other._write():
            other.engine.executemany(
                "INSERT INTO sessions (id, mode, annotator, started) VALUES (?, ?, ?, ?)",
                self._x("SELECT id, mode, annotator, started FROM sessions ORDER BY started").fetchall())
            done, last = 0, 0
            while True:
                rows = self._x(
                    "SELECT id, kind, target, item_id, sample, sample_shape, label, source, confidence, annotator,"
                    " mode, session, time FROM events WHERE id > ? ORDER BY id LIMIT ?", (last, chunk)).fetchall()
                if not rows:
                    break
                other.engine.executemany(
                    "INSERT INTO events (id, kind, target, item_id, sample, sample_shape, label, source, confidence,"
                    " annotator, mode, session, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*r[:4], None if r[4] is None else bytes(r[4]), *r[5:]) for r in rows])
                last = int(rows[-1][0])
                done += len(rows)
                if progress is not None:
                    progress(done / max(total, 1), f"{done:,} of {total:,} events")
            if other.engine.name == "postgresql" and last:
                other._x("SELECT setval(pg_get_serial_sequence('events', 'id'), ?)", (last,))
            other.rebuild(in_transaction=True)
        return done

    def fingerprint(self) -> tuple[int, int, list[tuple[str, str | None, str, float]]]:
        """(events, sessions, every current label sorted): two stores with the same fingerprint hold
        the same log and the same current labels."""
        labels = [(r[0], r[1], r[2], round(float(r[3]), 6)) for r in self._x(
            "SELECT c.item_id, c.label, c.source, e.confidence FROM current_items c JOIN events e ON e.id = c.event"
            " ORDER BY c.item_id").fetchall()]
        return self.n_events(), int(self._one("SELECT COUNT(*) FROM sessions")[0]), labels


class _Transaction:
    """One write: begin (taking the engine's write lock), commit; any database failure is a
    one-line `TuilabelError` saying the label was not saved."""

    def __init__(self, store: LabelStore) -> None:
        self._store = store

    def _fail(self, exc: BaseException) -> TuilabelError:
        return TuilabelError(f"cannot write the label store ({_first_line(exc)}); the label was not saved",
                             self._store.path)

    def __enter__(self) -> None:
        try:
            self._store.engine.begin()
        except self._store.engine.errors as exc:  # read-only, locked past the timeout, server gone
            raise self._fail(exc) from None

    def __exit__(self, exc_type: object, exc: BaseException | None, *rest: object) -> None:
        engine = self._store.engine
        if exc_type is not None:
            engine.rollback()
            if isinstance(exc, engine.errors):  # disk full, read-only, I/O error, connection lost
                raise self._fail(exc) from None
            return
        try:
            engine.commit()
        except engine.errors as exc:
            engine.rollback()
            raise self._fail(exc) from None
