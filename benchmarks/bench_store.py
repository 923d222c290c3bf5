"""The label store on both engines, and a workspace of a million images.

Part 1, writes: 1 and 5 concurrent annotators (processes), each writing labels through
`LabelStore.add` as fast as it can (every label its own committed transaction); per engine the
latency of one label (p50, p99, from the call to its commit) and the throughput of all writers
together.

Part 2, scale: a pool of N 28x28 images (the bundled sample repeated, each copy shifted by a pixel
and given noise; default 1,000,000) in a workspace, its log filled with M label events (default
1,000,000: labels with a class and unsure ones over N/2 items, a few undone), once per engine. Then, each
in a fresh process:
* open: `Workspace(path).check()` (config, pool memory-mapped, test set, store);
* a key to a label on disk: a browse session on the workspace, `handle(label)` for 1,000 keys; the
  time of `store.add` inside it (the key's label committed) and of the whole key (with the lease
  on the next item and the view drawn from); then a batch session the same (pages of 12, each
  page leased);
* `tuilabel status WS`: the command's wall time (Python start-up included);
* the largest resident memory of each process.
PostgreSQL runs on a server started here (pgserver), as the tests do.

Usage:
  python benchmarks/bench_store.py [--items 1000000] [--events 1000000] [--labels 300]
      [--out benchmarks/results/store.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import pg  # noqa: E402
from tuilabel.store import LabelStore  # noqa: E402
from tuilabel.workspace import Workspace, sample_dir  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


# -- part 1: write latency and throughput -----------------------------------------------------------


def _writer(location: str, name: str, n: int, start: float, queue) -> None:
    store = LabelStore(location)
    session = store.start_session("browse", name)
    while time.time() < start:  # all writers begin together
        time.sleep(0.001)
    times = []
    for k in range(n):
        t = time.perf_counter()
        store.add(session, f"{name}-{k}", k % 10)
        times.append(time.perf_counter() - t)
    queue.put((times, time.time()))


def writes(location: str, writers: int, labels: int) -> dict:
    LabelStore(location).close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 2.0
    procs = [ctx.Process(target=_writer, args=(location, f"ann{w}", labels, start, queue)) for w in range(writers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    latencies = [t for times, _ in results for t in times]
    wall = max(end for _, end in results) - start
    with LabelStore(location) as store:
        stored = len(store.current())
    return {"writers": writers, "labels": writers * labels, "stored": stored,
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "labels_per_s": round(writers * labels / wall, 1)}


# -- part 2: a million images ---------------------------------------------------------------------------


def big_pool(n: int, folder: Path) -> tuple[Path, Path]:
    """N images (the sample repeated, shifted and noised) as .npy files, written in chunks."""
    with np.load(sample_dir() / "mnist-pool.npz") as d:
        base, labels = d["images"], d["labels"]
    rng = np.random.default_rng(0)
    images = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    truth = np.empty(n, np.int64)
    for start in range(0, n, len(base)):
        k = min(len(base), n - start)
        shift = (start // len(base)) % 5 - 2
        chunk = np.roll(base[:k], shift, axis=2).astype(np.int16) + rng.integers(-8, 9, (k, 28, 28), dtype=np.int16)
        images[start:start + k] = np.clip(chunk, 0, 255).astype(np.uint8)
        truth[start:start + k] = labels[:k]
    images.flush()
    del images
    np.save(folder / "labels.npy", truth)
    return folder / "images.npy", folder / "labels.npy"


def fill_log(ws: Workspace, events: int, chunk: int = 20000) -> float:
    """``events`` label events over the first half of the pool, in transactions of ``chunk``."""
    t = time.perf_counter()
    store = ws.store
    rng = np.random.default_rng(1)
    ids = ws.pool.ids
    n_items = max(1, len(ids) // 2)
    sessions = [store.start_session("browse", f"annotator{a}") for a in range(5)]
    done = 0
    while done < events:
        k = min(chunk, events - done)
        items = rng.integers(0, n_items, k)
        labels = rng.integers(-1, ws.pool.n_classes, k)  # -1: unsure
        rows = [(str(ids[i]), None if lab < 0 else int(lab), 1.0) for i, lab in zip(items, labels)]
        store.add_many(sessions[(done // chunk) % len(sessions)], rows)
        done += k
        print(f"\r  log: {done:,} of {events:,} events", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - t


MEASURE = r"""
import json, resource, sys, time
t = time.perf_counter()
from tuilabel.workspace import Workspace
ws = Workspace(sys.argv[1]).check()
opened = time.perf_counter() - t
from tuilabel.sessions.base import Action
from tuilabel.sessions.browse import BrowseSession, BrowseSettings
t = time.perf_counter()
session = BrowseSession(ws, BrowseSettings(learn=False, seed=7), annotator="bench")
session_open = time.perf_counter() - t
store = ws.store
adds, keys = [], []
original = store.add
def timed_add(*a, **k):
    t0 = time.perf_counter()
    out = original(*a, **k)
    adds.append(time.perf_counter() - t0)
    return out
store.add = timed_add
for k in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    session.handle(Action("label", k % 10) if k % 9 else Action("unsure"))
    session.view()
    keys.append(time.perf_counter() - t0)
session.close()
from tuilabel.sessions.batch import BatchSession, BatchSettings
t = time.perf_counter()
batch = BatchSession(ws, BatchSettings(start=10**9), annotator="bench-batch")  # pages of the ranking, no round
batch_open = time.perf_counter() - t
batch_keys = []
for k in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    batch.handle(Action("label", k % 10))
    batch.view()
    batch_keys.append(time.perf_counter() - t0)
batch.close()
print(json.dumps({"open_s": opened, "session_open_s": session_open, "adds": adds, "keys": keys,
                  "batch_open_s": batch_open, "batch_keys": batch_keys,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def scale(ws_path: Path, keys: int) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(ws_path), str(keys)], capture_output=True, text=True,
                         check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    exe = Path(sys.executable).with_name("tuilabel")
    status_times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([str(exe) if exe.exists() else "tuilabel", "status", str(ws_path)], check=True,
                       capture_output=True)
        status_times.append(time.perf_counter() - t)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far
    return {
        "open_s": round(m["open_s"], 3), "browse_session_open_s": round(m["session_open_s"], 3),
        "label_on_disk_p50_ms": round(percentile(m["adds"], 50) * 1000, 2),
        "label_on_disk_p99_ms": round(percentile(m["adds"], 99) * 1000, 2),
        "key_p50_ms": round(percentile(m["keys"], 50) * 1000, 2),
        "key_p99_ms": round(percentile(m["keys"], 99) * 1000, 2),
        "batch_session_open_s": round(m["batch_open_s"], 3),
        "batch_key_p50_ms": round(percentile(m["batch_keys"], 50) * 1000, 2),
        "batch_key_p99_ms": round(percentile(m["batch_keys"], 99) * 1000, 2),
        "status_s_median": round(statistics.median(status_times), 3),
        "max_rss_mb": round(max(m["max_rss_mb"], children)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=300, help="labels per writer in part 1")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--part", choices=["writes", "scale", "both"], default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "store.json")
    args = parser.parse_args()
    if pg.server_url() is None:
        sys.exit(f"no PostgreSQL server could start: {pg.why_not()}")
    result: dict = {"writes": [], "scale": {}}
    work = Path(tempfile.mkdtemp(prefix="tuilabel-bench-store-"))
    try:
        if args.part in ("writes", "both"):
            for engine in ("sqlite", "postgresql"):
                for writers in (1, 5):
                    where = str(work / f"w{writers}.sqlite") if engine == "sqlite" else pg.fresh_database()
                    row = {"engine": engine, **writes(where, writers, args.labels)}
                    print(row, flush=True)
                    result["writes"].append(row)
        if args.part in ("scale", "both"):
            t = time.perf_counter()
            images, labels = big_pool(args.items, work)
            print(f"pool of {args.items:,} images written in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            for engine in ("sqlite", "postgresql"):
                t = time.perf_counter()
                store = None if engine == "sqlite" else pg.fresh_database()
                ws = Workspace.init(work / f"ws-{engine}", images, labels=labels, store=store)
                init_s = time.perf_counter() - t
                fill_s = fill_log(ws, args.events)
                n_events = ws.store.n_events()
                ws.close()
                row = {"items": args.items, "events": n_events, "init_s": round(init_s, 1),
                       "fill_s": round(fill_s, 1), **scale(work / f"ws-{engine}", args.keys)}
                print(engine, row, flush=True)
                result["scale"][engine] = row
                shutil.rmtree(work / f"ws-{engine}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
