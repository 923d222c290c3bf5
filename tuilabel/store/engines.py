"""The two engines under the label store: an SQLite file, or a PostgreSQL database by URL. Each
gives the store one connection and the same few calls (execute, a write transaction)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import TuilabelError
from .schema import PG_LOCK, _pg_statement, shown_location


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
    lost: tuple[type[Exception], ...] = ()  # a file: no connection to lose
    lost_since: float | None = None
    begun = False

    def create_temp(self) -> None:
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS touched (item_id TEXT PRIMARY KEY)")

    def close(self) -> None:
        self.db.close()


RETRY_FIRST, RETRY_MOST = 0.5, 10.0  # seconds between tries to reach a lost server: doubling, up to this
RECONNECT_TIMEOUT = 2  # seconds a try waits for the server (a key pressed during an outage waits this at most)


class _Postgres:
    """The PostgreSQL engine (psycopg 3): autocommit reads, and each write one transaction under
    an advisory lock, so that writers from several machines take turns as SQLite's do.

    A lost connection (the server restarted, a failover, the network) is tried again on the next
    call, with a backoff between tries; meanwhile every call fails at once with the reason, and
    ``lost_since`` says since when. Nothing is retried inside a call: a write whose commit failed
    is the caller's to decide (`LabelStore` journals it)."""

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
        self._url = url
        self.errors = (psycopg.Error,)
        self.integrity = (psycopg.Error,)
        self.lost = (psycopg.OperationalError, psycopg.InterfaceError)  # the connection, not the statement
        self.lost_since: float | None = None
        self._retry_at, self._retry_wait = 0.0, RETRY_FIRST
        self.begun = False  # inside a write transaction
        try:
            self.db = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))
        except psycopg.Error as exc:
            raise TuilabelError(f"cannot connect to the label store ({_first_line(exc)})", self.where) from None

    def _live(self) -> Any:
        """The connection, connected again if it was lost and the backoff allows a try now."""
        if not (self.db.closed or self.db.broken):
            return self.db
        if self.begun:  # lost inside a transaction: it is gone; the caller rolls back
            raise self._psycopg.OperationalError("the connection to the label store was lost")
        now = time.monotonic()
        if now < self._retry_at:
            raise self._psycopg.OperationalError(
                f"the label store is unreachable, next try in {self._retry_at - now:.0f} s")
        try:
            self.db = self._psycopg.connect(self._url, autocommit=True, connect_timeout=RECONNECT_TIMEOUT)
        except self._psycopg.Error:
            self._retry_at = time.monotonic() + self._retry_wait
            self._retry_wait = min(RETRY_MOST, 2 * self._retry_wait)
            raise
        self.lost_since, self._retry_wait, self._retry_at = None, RETRY_FIRST, 0.0
        return self.db

    def _call(self, fn: Any) -> Any:
        try:
            return fn(self._live())
        except self.lost:
            if self.lost_since is None:
                self.lost_since = time.time()
            if self.db.broken or self.db.closed:
                self._retry_at = max(self._retry_at, time.monotonic())  # the first try comes at the next call
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._call(lambda db: db.execute(_pg_statement(sql), params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._call(lambda db: self._executemany(db, sql, rows))

    @staticmethod
    def _executemany(db: Any, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with db.cursor() as cur:
            cur.executemany(_pg_statement(sql), rows)  # type: ignore[arg-type]

    def insert_returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Every row's id, the rows sent in one pipeline (a round trip each would be 20k of them)."""
        return self._call(lambda db: self._insert_returning(db, sql, rows))  # type: ignore[no-any-return]

    @staticmethod
    def _insert_returning(db: Any, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        if len(rows) == 1:
            return [int(db.execute(_pg_statement(sql), rows[0]).fetchone()[0])]
        ids = []
        with db.cursor() as cur:
            cur.executemany(_pg_statement(sql), rows, returning=True)  # type: ignore[arg-type]
            while True:
                ids.append(int(cur.fetchone()[0]))  # type: ignore[index]
                if not cur.nextset():
                    break
        return ids

    def begin(self) -> None:
        self._call(lambda db: db.execute("BEGIN"))
        self.begun = True
        self.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK,))

    def commit(self) -> None:
        try:
            self._call(lambda db: db.execute("COMMIT"))
        finally:
            self.begun = False

    def rollback(self) -> None:
        self.begun = False
        with contextlib.suppress(self._psycopg.Error):
            if not (self.db.closed or self.db.broken):
                self.db.execute("ROLLBACK")

    def create_temp(self) -> None:
        """Nothing: PostgreSQL takes a list of items as an array (`LabelStore._among`)."""

    def close(self) -> None:
        self.db.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
