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

from tuilabel.store import LabelStore


def test_add_current_and_sources(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite")
    s = store.start_session("browse", "ann")
    store.add(s, "a", 1)
    store.add(s, "b", None)  # unsure
    store.add(s, "a", 2)  # changed mind: the newest counts
    store.add_many(s, [("c", 0, 0.9), ("a", 3, 0.99)], source="pseudo")
    assert store.current() == {"a": (2, 1.0), "b": (None, 1.0)}
    both = store.current(("human", "pseudo"))
    assert both["a"] == (2, 1.0)  # a human label always outranks a pseudo-label
    assert both["c"] == (0, 0.9)


def test_undo_redo_and_redo_cleared_by_new_label(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite")
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
    store = LabelStore(tmp_path / "l.sqlite")
    assert len(store.undo(s, 100)) == 5
    assert store.current() == {}
    assert store.redo(s, 2) == [ids[0], ids[1]]
    assert set(store.current()) == {"i0", "i1"}


def test_undo_is_per_session(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite")
    s1, s2 = store.start_session("browse", "a"), store.start_session("browse", "b")
    store.add(s1, "x", 1)
    store.add(s2, "y", 2)
    store.undo(s1)
    assert store.current() == {"y": (2, 1.0)}


def test_samples_keep_their_pixels(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite")
    s = store.start_session("stream")
    frame = np.arange(28 * 28, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
    store.add(s, None, 7, sample=frame)
    (ev,) = store.events(samples=True)
    assert ev.label == 7 and ev.item_id is None and (ev.sample == frame).all()
    assert store.counts()[("sample", 7)] == 1


def test_replace_source_redecides_pseudo_labels(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite")
    s = store.start_session("batch")
    store.replace_source(s, "pseudo", [("a", 1, 0.9), ("b", 2, 0.8)])
    store.replace_source(s, "pseudo", [("c", 0, 0.95)])
    assert store.current(("pseudo",)) == {"c": (0, 0.95)}


def _writer(path, annotator, n, queue):
    store = LabelStore(path)
    s = store.start_session("browse", annotator)
    ids = [store.add(s, f"{annotator}-{k}", k % 10) for k in range(n)]
    queue.put(ids)


def test_two_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "l.sqlite"
    LabelStore(path).close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, name, 150, queue)) for name in ("ann", "bob")]
    for p in procs:
        p.start()
    acked = queue.get(timeout=60) + queue.get(timeout=60)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    store = LabelStore(path)
    assert len(store.current()) == 300 and len(set(acked)) == 300


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


def test_sigkill_at_random_moment_loses_no_acknowledged_label(tmp_path):
    rng = random.Random(os.getpid())
    for trial in range(3):
        path = tmp_path / f"k{trial}.sqlite"
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        acked = [int(proc.stdout.readline())]  # the writer is up (start-up time varies with load)
        deadline = time.monotonic() + rng.uniform(0.05, 1.0)
        while time.monotonic() < deadline or len(acked) < 3:  # killed mid-stream, never before it ran
            line = proc.stdout.readline()
            if line:
                acked.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT id FROM events WHERE kind = 'label'")}
        db.close()
        assert set(acked) <= stored
        store = LabelStore(path)  # reopens clean and keeps working
        s = store.start_session("browse")
        store.add(s, "after", 1)
        assert "after" in store.current()
        store.close()
