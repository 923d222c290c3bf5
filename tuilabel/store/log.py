"""The label store's writes: sessions, label events, undo and redo, leases (`LabelStore`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import TuilabelError
from .base import StoreBase
from .journal import Entry, Journal
from .schema import LEASE_SECONDS, LIVE, SOURCES, default_annotator


class LabelStore(StoreBase):
    """A workspace's labels: an SQLite file (a path) or a PostgreSQL database (a URL). Each instance
    owns one connection; open one per process (or per thread that writes)."""

    # -- sessions -------------------------------------------------------------------------------

    def start_session(self, mode: str, annotator: str | None = None) -> str:
        session = uuid.uuid4().hex[:12]
        who = annotator or default_annotator()
        with self._write():
            self._x("INSERT INTO sessions (id, mode, annotator, started) VALUES (?, ?, ?, ?)",
                    (session, mode, who, time.time()))
        self._sessions[session] = (mode, who)  # known without the store (a label kept in the journal)
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
        """Record several labels in one transaction: (item_id, label, confidence) each. With a
        journal (`use_journal`), labels of pool items that cannot reach the store are kept there
        instead and written when it is back (their ids are negative meanwhile)."""
        when = time.time() if when is None else when  # before the first try: what makes a retry exactly-once
        try:
            if self.journal is not None and len(self.journal):
                self.flush_journal()  # the waiting ones first: the store keeps the order they were typed in
            with self._write():
                return self._insert(session, rows, samples, source, when)
        except TuilabelError:
            if self.journal is None or self.engine.lost_since is None or samples is not None:
                raise
            self._session_row(session)  # known already: the session began while the store was there
            first = len(self.journal)
            self.journal.append([Entry(session, item, label, float(confidence), source, when)
                                 for item, label, confidence in rows])
            return [-(first + k + 1) for k in range(len(rows))]

    # -- the journal: labels kept in the workspace while a PostgreSQL store is unreachable ---------

    def add_groups(self, batches: Sequence[tuple[str, Sequence[tuple[str, int | None, float]]]],
                   source: str = "human") -> list[int]:
        """Several sessions' labels in one transaction (an import: whole or absent)."""
        when = time.time()
        ids: list[int] = []
        with self._write():
            for session, rows in batches:
                ids += self._insert(session, rows, None, source, when)
        return ids

    def use_journal(self, path: Path) -> None:
        """Keep labels that cannot reach the store in ``path`` (`tuilabel.store.journal`), and write
        what an earlier process left there now."""
        self.journal = Journal(path)
        if len(self.journal):
            self.flush_journal()

    def waiting(self) -> int:
        """Labels kept in the journal, not in the store yet."""
        return 0 if self.journal is None else len(self.journal)

    @property
    def unreachable_since(self) -> float | None:
        return self.engine.lost_since

    def flush_journal(self) -> int:
        """Write the journal's labels to the store in one transaction, in order, each once (an entry
        the store holds already, from a commit that failed to say so, is passed over). Returns how
        many were written; raises as a write does while the store is still away."""
        if self.journal is None or not len(self.journal):
            return 0
        entries = self.journal.entries
        written = 0
        with self._write():
            for e in entries:
                held = self._one("SELECT 1 FROM events WHERE session = ? AND item_id = ? AND time = ?"
                                 " AND kind = 'label'", (e.session, e.item_id, e.time))
                if held is None:
                    self._insert(e.session, [(e.item_id, e.label, e.confidence)], None, e.source, e.time)
                    written += 1
        self.journal.clear(len(entries))
        return written

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
        """Take back the last ``n`` live label events of a session; returns their ids (those still in
        the journal first: negative)."""
        if self.journal is not None and len(self.journal):
            waiting = self.journal.drop_last(session, n)
            if waiting:
                return [-k - 1 for k in range(waiting)] + (self.undo(session, n - waiting, source) if n > waiting
                                                           else [])
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
