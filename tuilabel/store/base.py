"""The label store's connection, derived tables and reads (`StoreBase`); the writes are in log.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from typing_extensions import Self

from ..errors import TuilabelError
from .engines import _first_line, _Postgres, _Sqlite
from .schema import _DIALECTS, DERIVED_VERSION, LIVE, PRIORITY, SCHEMA, SOURCES, LabelEvent, is_url

IDLE_SECONDS = 30.0  # time_spent: a longer gap between two events counts as this much (a wait, a break)


class StoreBase:
    """The store's connection, its derived tables and every read; `LabelStore` adds the writes."""

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
        self.journal: Any = None  # labels waiting for an unreachable PostgreSQL store (LabelStore.use_journal)
        self._last_counts: dict[tuple[str, int | None], int] = {}
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
        try:
            return self.engine.execute(sql, params)
        except self.engine.lost as exc:  # the server is gone (for now): one line, not a traceback
            if self.engine.begun:
                raise  # inside a write: its transaction says so
            raise TuilabelError(f"cannot reach the label store ({_first_line(exc)})", self.path) from None

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._x(sql, params).fetchone()

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

    def meta(self, key: str) -> str | None:
        """A value the store keeps beside the labels (the history of the classes, ...)."""
        return self._meta(key)

    def set_meta(self, values: dict[str, str]) -> None:
        """Values kept beside the labels, written together in one transaction."""
        with self._write():
            for key, value in values.items():
                self._set_meta(key, value)

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

    def _tallies(self) -> list[tuple[str, int | None, int]]:
        return [(what, None if label == -1 else label, n)
                for what, label, n in self._x("SELECT what, label, n FROM tallies WHERE n > 0").fetchall()]

    def counts(self) -> dict[tuple[str, int | None], int]:
        """(source, label) to the number of current labels; samples count under ("sample", label).
        Read from the tallies the writes keep: costs the same on a log of a million events."""
        out: dict[tuple[str, int | None], int] = {}
        try:
            tallies = self._tallies()
        except TuilabelError:
            if self.engine.lost_since is None or self.journal is None:
                raise
            out = dict(self._last_counts)  # the store is away: the last figures, and what waits for it
            for e in self._waiting_entries():
                out[(e.source, e.label)] = out.get((e.source, e.label), 0) + 1
            return out
        for what, label, n in tallies:
            key = ("sample", label) if what.startswith("sample:") else (what, label)
            out[key] = out.get(key, 0) + n
        self._last_counts = dict(out)
        return out

    def _waiting_entries(self) -> list[Any]:
        return [] if self.journal is None else self.journal.entries

    def session_counts(self, session: str) -> tuple[int, int]:
        """Live label events of ``session``: (with a class, unsure). Versioned by the log's newest id:
        a screen asks on every key, and the count runs again only when something was written."""
        try:
            version = self._one("SELECT MAX(id) FROM events")[0]
        except TuilabelError:
            cached = self._session_counts.get(session)
            if self.engine.lost_since is None or self.journal is None:
                raise
            known = (0, 0) if cached is None else cached[1]  # the store is away: and what waits for it
            mine = [e for e in self._waiting_entries() if e.session == session]
            return known[0] + sum(e.label is not None for e in mine), known[1] + sum(e.label is None for e in mine)
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

    def time_spent(self, idle: float = IDLE_SECONDS) -> float:
        """Seconds spent labelling: the gaps between a session's consecutive events (the first from
        the session's start), each counted up to ``idle`` seconds: a longer one was a wait for a model,
        a break or a screen left open, and counts as ``idle`` at most."""
        row = self._one(
            "SELECT COALESCE(SUM(CASE WHEN gap > ? THEN ? ELSE gap END), 0) FROM ("
            " SELECT e.time - COALESCE(LAG(e.time) OVER (PARTITION BY e.session ORDER BY e.time, e.id),"
            " s.started) AS gap FROM events e JOIN sessions s ON s.id = e.session) gaps WHERE gap > 0",
            (idle, idle),
        )
        return float(row[0])

    def n_events(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM events")[0])

    # -- copying between engines ----------------------------------------------------------------

    def copy_to(self, other: StoreBase, progress: Any = None, chunk: int = 20000) -> int:
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

    def __init__(self, store: StoreBase) -> None:
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
