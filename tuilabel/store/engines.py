"""The two engines under the label store: an SQLite file, or a PostgreSQL database by URL. Each
gives the store one connection and the same few calls (execute, a write transaction)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
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
