"""The label store's suite, run on both engines: SQLite (a file) and PostgreSQL (a real server these
tests start; skipped with the reason printed when none can start here)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tuilabel.agreement import agreement, store_agreement
from tuilabel.store import LabelStore


def recomputed(store: LabelStore, sources=("human",)) -> dict:
    """The current labels straight from the log (what the derived table must say)."""
    best: dict = {}
    rank = {"human": 0, "propagated": 1, "pseudo": 2}
    for ev in store.events(tuple(rank)):
        if ev.item_id is None:
            continue
        key = (rank[ev.source], -ev.id)
        if ev.item_id not in best or key < best[ev.item_id][0]:
            best[ev.item_id] = (key, ev)
    return {item: (ev.label, ev.confidence) for item, (_, ev) in best.items() if ev.source in sources}


@pytest.mark.slow
def test_add_current_and_sources(loc):
    store = LabelStore(loc)
    s = store.start_session("browse", "ann")
    store.add(s, "a", 1)
    store.add(s, "b", None)  # unsure
    store.add(s, "a", 2)  # changed mind: the newest counts
    store.add_many(s, [("c", 0, 0.9), ("a", 3, 0.99)], source="pseudo")
    assert store.current() == {"a": (2, 1.0), "b": (None, 1.0)}
    both = store.current(("human", "pseudo"))
    assert both["a"] == (2, 1.0)  # a human label always outranks a pseudo-label
    assert both["c"] == (0, 0.9)
    assert store.counts() == {("human", 2): 1, ("human", None): 1, ("pseudo", 0): 1}


def test_time_spent_counts_the_gaps_between_labels_and_caps_a_pause(loc):
    from tuilabel.store.base import IDLE_SECONDS

    store = LabelStore(loc)
    s = store.start_session("batch", "ann")
    t0 = store._one("SELECT started FROM sessions WHERE id = ?", (s,))[0]
    for n, offset in enumerate((2.0, 5.0, 305.0, 306.0)):  # 5 minutes waiting for a round, then one more
        store.add(s, f"i{n}", 1, when=t0 + offset)
    other = store.start_session("browse", "ann")  # another session: its own first gap
    t1 = store._one("SELECT started FROM sessions WHERE id = ?", (other,))[0]
    store.add(other, "j", 0, when=t1 + 4.0)
    assert store.time_spent() == pytest.approx(2 + 3 + IDLE_SECONDS + 1 + 4)


def test_undo_redo_and_redo_cleared_by_new_label(loc):
    store = LabelStore(loc)
    s = store.start_session("browse")
    ids = [store.add(s, f"i{k}", k % 3) for k in range(5)]
    assert store.undo(s, 2) == ids[:2:-1][:2] == [ids[4], ids[3]]
    assert set(store.current()) == {"i0", "i1", "i2"}
    assert store.redo(s) == [ids[3]]
    assert set(store.current()) == {"i0", "i1", "i2", "i3"}
    store.add(s, "j", 1)
    assert not store.can_redo(s) and store.redo(s) == []
    # unlimited depth, persisted: a new connection can keep undoing
    store.close()
    store = LabelStore(loc)
    assert len(store.undo(s, 100)) == 5
    assert store.current() == {}
    assert store.redo(s, 2) == [ids[0], ids[1]]
    assert set(store.current()) == {"i0", "i1"}
    assert store.counts() == {("human", 0): 1, ("human", 1): 1}


def test_undo_is_per_session(loc):
    store = LabelStore(loc)
    s1, s2 = store.start_session("browse", "a"), store.start_session("browse", "b")
    store.add(s1, "x", 1)
    store.add(s2, "y", 2)
    store.undo(s1)
    assert store.current() == {"y": (2, 1.0)}


def test_samples_keep_their_pixels(loc):
    store = LabelStore(loc)
    s = store.start_session("stream")
    frame = np.arange(28 * 28, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
    store.add(s, None, 7, sample=frame)
    (ev,) = store.events(samples=True)
    assert ev.label == 7 and ev.item_id is None and (ev.sample == frame).all()
    assert store.counts()[("sample", 7)] == 1 and store.sample_counts() == {("stream", 7): 1}
    store.undo(s)
    assert store.counts() == {} and store.sample_counts() == {}
    store.redo(s)
    assert store.sample_counts() == {("stream", 7): 1}


def test_replace_source_redecides_pseudo_labels(loc):
    store = LabelStore(loc)
    s = store.start_session("batch")
    store.replace_source(s, "pseudo", [("a", 1, 0.9), ("b", 2, 0.8)])
    store.replace_source(s, "pseudo", [("c", 0, 0.95)])
    assert store.current(("pseudo",)) == {"c": (0, 0.95)}
    assert store.counts() == {("pseudo", 0): 1}


def test_current_view_matches_the_log_after_a_random_history(loc):
    """The derived current labels and tallies equal a recomputation from the log after random adds,
    spreads, retractions, undos and redos by two sessions; a rebuild gives the same again."""
    rng = random.Random(3)
    store = LabelStore(loc)
    sessions = [store.start_session("browse", "a"), store.start_session("clusters", "b")]
    spread_events: list[int] = []
    for _ in range(150):
        s = rng.choice(sessions)
        roll = rng.random()
        if roll < 0.45:
            store.add(s, f"i{rng.randrange(30)}", rng.choice([None, 0, 1, 2]))
        elif roll < 0.6:
            _, spread = store.add_with_spread(s, np.zeros((2, 2), np.uint8), rng.randrange(3), 0.8,
                                              [(f"i{rng.randrange(30)}", rng.randrange(3), 0.7) for _ in range(4)])
            spread_events += spread
        elif roll < 0.7 and spread_events:
            store.retract(s, [spread_events.pop(rng.randrange(len(spread_events)))])
        elif roll < 0.8:
            store.replace_source(s, "pseudo", [(f"i{rng.randrange(30)}", rng.randrange(3), 0.6) for _ in range(3)])
        elif roll < 0.9:
            store.undo(s, rng.randint(1, 3))
        else:
            store.redo(s, rng.randint(1, 2))
    every = ("human", "propagated", "pseudo")
    expected = recomputed(store, every)
    assert store.current(every) == expected and len(expected) > 10
    counts: dict = {}
    for item, (label, _) in expected.items():
        source = next(src for src in every if item in store.current((src,)))
        counts[(source, label)] = counts.get((source, label), 0) + 1
    samples = [ev.label for ev in store.events(samples=True)]
    for label in set(samples):
        counts[("sample", label)] = samples.count(label)
    assert store.counts() == counts
    shared = [(a, b, n, round(k, 9)) for a, b, n, k in agreement(store.events(("human",)))]  # from the log

    def kappas():
        return [(a, b, n, round(k, 9)) for a, b, n, k in store_agreement(store.pair_counts())]

    assert shared and kappas() == shared
    store.rebuild()
    assert store.current(every) == expected and store.counts() == counts
    assert kappas() == shared


def _writer(loc, annotator, n, queue):
    store = LabelStore(loc)
    s = store.start_session("browse", annotator)
    ids = [store.add(s, f"{annotator}-{k}", k % 10) for k in range(n)]
    queue.put(ids)


@pytest.mark.slow
def test_four_concurrent_writers_lose_nothing(loc):
    LabelStore(loc).close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    names = ("ann", "bob", "cy", "dee")
    procs = [ctx.Process(target=_writer, args=(loc, name, 500, queue)) for name in names]
    for p in procs:
        p.start()
    acked = [i for _ in names for i in queue.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    store = LabelStore(loc)
    assert len(store.current()) == 2000 and len(set(acked)) == 2000
    assert sum(store.counts().values()) == 2000


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from tuilabel.store import LabelStore
    store = LabelStore(sys.argv[1])
    s = store.start_session("browse")
    k = 0
    while True:
        event = store.add(s, f"item-{k}", k % 10)
        if k % 7 == 6:
            store.undo(s)
        print(event, flush=True)  # the acknowledgement: only after the commit returned
        k += 1
    """
)


@pytest.mark.slow
def test_sigkill_at_random_moment_loses_no_acknowledged_label(loc, tmp_path):
    rng = random.Random(os.getpid())
    for trial in range(3):
        where = loc if not loc.endswith(".sqlite") else str(tmp_path / f"k{trial}.sqlite")
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, where], stdout=subprocess.PIPE, text=True)
        acked = [int(proc.stdout.readline())]  # the writer is up (start-up time varies with load)
        deadline = time.monotonic() + rng.uniform(0.05, 1.0)
        while time.monotonic() < deadline or len(acked) < 3:  # killed mid-stream, never before it ran
            line = proc.stdout.readline()
            if line:
                acked.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if where.endswith(".sqlite"):
            db = sqlite3.connect(where)
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            db.close()
        store = LabelStore(where)  # reopens clean and keeps working
        stored = {ev.id for ev in store.events()}
        undone = {int(r[0]) for r in store._x("SELECT target FROM events WHERE kind = 'undo'").fetchall()}
        assert set(acked) - undone <= stored
        assert store.current() == recomputed(store)  # the derived view committed with the events
        s = store.start_session("browse")
        store.add(s, "after", 1)
        assert "after" in store.current()
        store.close()


def test_claims_hand_concurrent_annotators_different_items(loc):
    a, b = LabelStore(loc), LabelStore(loc)
    sa, sb = a.start_session("batch", "ann"), b.start_session("batch", "bob")
    items = [f"i{k}" for k in range(10)]
    first = a.claim(sa, items, 4)
    second = b.claim(sb, items, 4)
    assert first == items[:4] and second == items[4:8]
    a.add(sa, "i0", 1)
    assert b.claim(sb, items[:1], 1) == []  # labelled by ann: not handed out again
    a.release(sa)
    assert b.claim(sb, items, 3) == ["i1", "i2", "i3"] or b.claim(sb, items, 3)[:1] == ["i1"]
    # with overlap 2 an item goes to two annotators, never twice to the same one
    c = LabelStore(loc)
    sc = c.start_session("batch", "cy")
    assert c.claim(sc, items, 10, overlap=2) == items  # bob holds some, ann labelled i0: one each
    assert a.claim(a.start_session("batch", "ann"), ["i0"], 1, overlap=2) == []  # ann labelled it


def test_a_lease_expires_when_its_annotator_leaves(loc):
    a, b = LabelStore(loc), LabelStore(loc)
    sa, sb = a.start_session("browse", "ann"), b.start_session("browse", "bob")
    assert a.claim(sa, ["x"], 1, ttl=0.2) == ["x"]
    assert b.claim(sb, ["x"], 1) == []
    time.sleep(0.3)  # ann's session went away without releasing (a dropped connection)
    assert b.claim(sb, ["x"], 1) == ["x"]
    a.renew(sa)
    assert [(item, who) for item, _, who, _ in a.leases()] == [("x", "bob")]


def test_migrate_round_trip_keeps_log_and_current_labels(loc, tmp_path):
    """SQLite -> this engine -> SQLite: the same events, sessions and current labels."""
    source = LabelStore(tmp_path / "src.sqlite")
    s = source.start_session("clusters", "ann")
    source.add(s, None, 3, sample=np.full((4, 4), 9, np.uint8))
    source.add_with_spread(s, np.zeros((4, 4), np.uint8), 1, 0.9, [("a", 1, 0.8), ("b", 1, 0.7)])
    source.add(s, "b", 2)
    source.undo(s)
    source.add(s, "c", None)
    if loc.endswith(".sqlite"):
        loc = str(tmp_path / "mid.sqlite")
    middle = LabelStore(loc)
    assert source.copy_to(middle) == source.n_events()
    assert middle.fingerprint() == source.fingerprint()
    back = LabelStore(tmp_path / "back.sqlite")
    middle.copy_to(back)
    assert back.fingerprint() == source.fingerprint()
    assert [e.sample.tolist() for e in back.events(samples=True)] == [e.sample.tolist()
                                                                      for e in source.events(samples=True)]
    s2 = middle.start_session("browse", "bob")  # the copy keeps counting ids after the copied ones
    assert middle.add(s2, "d", 0) > max(e.id for e in source.events())
    with pytest.raises(Exception, match="not empty"):
        source.copy_to(middle)


def test_a_store_from_an_older_tuilabel_is_upgraded(tmp_path):
    """The previous schema (a window-function view, no derived tables) opens and reads the same."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE sessions (id TEXT PRIMARY KEY, mode TEXT NOT NULL, annotator TEXT NOT NULL, started REAL);
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target INTEGER,
            item_id TEXT, sample BLOB, sample_shape TEXT, label INTEGER, source TEXT NOT NULL DEFAULT 'human',
            confidence REAL NOT NULL DEFAULT 1.0, annotator TEXT NOT NULL, mode TEXT NOT NULL,
            session TEXT NOT NULL, time REAL NOT NULL);
        CREATE VIEW current_labels AS SELECT * FROM events;
        INSERT INTO sessions VALUES ('s1', 'browse', 'ann', 1.0);
        INSERT INTO events (kind, item_id, label, annotator, mode, session, time)
            VALUES ('label', 'a', 1, 'ann', 'browse', 's1', 2.0), ('label', 'b', 2, 'ann', 'browse', 's1', 3.0);
        INSERT INTO events (kind, target, annotator, mode, session, time) VALUES ('undo', 2, 'ann', 'browse', 's1', 4);
        """
    )
    db.close()
    os.chmod(path, 0o444)
    try:
        if not os.access(path, os.W_OK):  # (root writes anyway: then only the writable upgrade is shown)
            ro = LabelStore(path)  # read-only: upgraded in memory, the file untouched
            assert ro.read_only and ro.current() == {"a": (1, 1.0)} and ro.counts() == {("human", 1): 1}
    finally:
        os.chmod(path, 0o644)
    store = LabelStore(path)
    assert store.current() == {"a": (1, 1.0)} and store.counts() == {("human", 1): 1}
    s = store.start_session("browse", "bob")
    store.add(s, "b", 0)
    assert store.current() == {"a": (1, 1.0), "b": (0, 1.0)}


def test_the_default_annotator_is_the_login_name_without_user_set(monkeypatch):
    import pwd
    import socket

    from tuilabel.store.schema import default_annotator

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert default_annotator() == f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"  # not "user@..."


@pytest.mark.slow
def test_a_postgresql_store_reconnects_after_the_server_restarts(tmp_path):
    """The server stopped as a crash stops it, then started again: the store keeps refusing while it
    is down (one line, nothing acknowledged), and takes labels again once it is back, with no new
    store object (no restart of tuilabel)."""
    from tuilabel.errors import TuilabelError

    from .pg import own_server

    server = own_server(tmp_path / "pg")
    try:
        store = LabelStore(server.url)
        s = store.start_session("browse", "ann")
        store.add(s, "a", 1)
        server.stop()
        for item in ("b", "c"):
            with pytest.raises(TuilabelError, match=r"not saved|cannot reach"):
                store.add(s, item, 2)
        with pytest.raises(TuilabelError, match="cannot reach"):
            store.counts()  # a read: one line too
        assert store.engine.lost_since is not None
        server.start()
        deadline = time.monotonic() + 30
        while True:  # the next try comes after the backoff (half a second at first)
            try:
                store.add(s, "d", 3)
                break
            except TuilabelError:
                assert time.monotonic() < deadline, "never reconnected"
                time.sleep(0.2)
        assert store.engine.lost_since is None
        assert store.current() == {"a": (1, 1.0), "d": (3, 1.0)}
        store.close()
    finally:
        server.close()


@pytest.mark.slow
def test_labels_typed_while_the_server_is_away_wait_in_the_journal_and_land_once_in_order(tmp_path):
    from tuilabel.errors import TuilabelError

    from .pg import own_server

    server = own_server(tmp_path / "pg")
    journal = tmp_path / "ws" / "journal.jsonl"
    journal.parent.mkdir()
    try:
        store = LabelStore(server.url)
        store.use_journal(journal)
        s = store.start_session("browse", "ann")
        store.add(s, "a", 1)
        assert store.counts() == {("human", 1): 1} and store.session_counts(s) == (1, 0)
        server.stop()
        ids = [store.add(s, item, 2) for item in ("b", "c", "x")]
        assert all(i < 0 for i in ids) and store.waiting() == 3 and journal.exists()
        assert store.unreachable_since is not None
        assert store.undo(s) == [-1] and store.waiting() == 2  # x: taken back before it ever left
        assert store.counts() == {("human", 1): 1, ("human", 2): 2}  # the last figures, and what waits
        assert store.session_counts(s) == (3, 0)
        # a commit that failed to say so: "b" reached the store, its journal line is still here
        b = next(e for e in store.journal.entries if e.item_id == "b")
        server.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                other = LabelStore(server.url)  # another process saw the store back first
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        with other._write():
            other._insert(s, [("b", 2, 1.0)], None, "human", b.time)
        other.close()
        while True:  # what the screen does every few seconds, once the backoff lets it try
            try:
                store.flush_journal()
                break
            except TuilabelError:
                assert time.monotonic() < deadline, "never reconnected"
                time.sleep(0.3)
        assert store.waiting() == 0 and not journal.exists()
        assert store.add(s, "d", 3) > 0  # written, not kept
        events = [(e.item_id, e.label) for e in store.events(samples=False) if e.session == s]
        assert events == [("a", 1), ("b", 2), ("c", 2), ("d", 3)]  # once each, in the order typed
        store.close()
    finally:
        server.close()


@pytest.mark.slow
def test_a_process_killed_with_labels_waiting_leaves_them_to_the_next_start(tmp_path):
    from .pg import own_server

    server = own_server(tmp_path / "pg")
    journal = tmp_path / "journal.jsonl"
    try:
        store = LabelStore(server.url)
        store.use_journal(journal)
        s = store.start_session("batch", "ann")
        server.stop()
        store.add(s, "a", 0)
        store.add(s, "b", None)
        del store  # killed: nothing more runs; the journal is on disk
        with open(journal, "a") as f:
            f.write('{"session": "' + s + '", "item_id": "c", "lab')  # a line cut short by the kill
        server.start()
        again = LabelStore(server.url)
        again.use_journal(journal)  # the next start writes them
        assert again.current() == {"a": (0, 1.0), "b": (None, 1.0)} and again.waiting() == 0
        again.close()
    finally:
        server.close()


def test_a_full_disk_refuses_the_label_keeps_the_store_intact_and_labelling_resumes(tmp_path):
    """SQLite's own "database or disk is full" (the file capped at its size, as a full disk caps it):
    a one-line refusal, nothing half-written, and the next label goes in once there is room."""
    from tuilabel.errors import TuilabelError

    store = LabelStore(tmp_path / "labels.sqlite")
    s = store.start_session("browse", "ann")
    store.add(s, "first", 1)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(TuilabelError, match=r"full.*not saved"):
        for n in range(5000):  # until a page more is needed
            store.add_many(s, [(f"i{n}-{k}", k % 3, 1.0) for k in range(50)])
    before = store.current()
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store._db.execute(f"PRAGMA max_page_count = {pages * 100}")  # room again, no reopening
    store.add(s, "after", 2)
    assert store.current() == {**before, "after": (2, 1.0)}
    assert recomputed(store) == store.current()
