"""A long run stays flat: memory, open files and threads at the start and the end of long sessions.

Three headless sessions, each on a workspace of its own, driven as the screens drive them (actions
in, updates on the session's schedule, the view read after each key):
* browse: ``--browse-labels`` labels (default 10,000) on a pool of random 16x16 images, its softmax
  regression retrained on the doubling schedule;
* batch: ``--rounds`` rounds (default 200) on a pool of 3,000 such images, a round every 5 labels,
  one-epoch CNNs (what is under test is what a round leaves behind, not the model);
* stream: ``--stream-minutes`` (default 30) of frames at 30 fps on the simulated clock, a sticky
  label switched every 200 frames, online learning on and the offline retrains of the label weights
  every 500 labelled frames, an RBM of one epoch (the frames' content is not under test).
Each part reports the process's resident memory (VmRSS), open file descriptors and threads after a
warm-up and at the end, and the largest RSS seen; growth is end minus start.

Usage:
  python benchmarks/bench_soak.py [--browse-labels 10000] [--rounds 200] [--stream-minutes 30]
      [--out benchmarks/results/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def vitals() -> dict[str, float]:
    status = Path("/proc/self/status").read_text().splitlines()
    rss = next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0) / 1024
    return {"rss_mb": round(rss, 1), "open_files": len(os.listdir("/proc/self/fd")),
            "threads": len(os.listdir("/proc/self/task")), "python_threads": threading.active_count()}


def workspace(folder: Path, n: int, seed: int = 0):
    from tuilabel.workspace import Workspace

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    images = (rng.random((n, 16, 16)) * 60 + truth[:, None, None] * 45).astype(np.uint8)
    np.savez(folder / "pool.npz", images=images, labels=truth)
    return Workspace.init(folder / "ws", folder / "pool.npz")


def measure(name: str, steps: int, step, every: int) -> dict:
    """Run ``step(k)`` for k in range(steps): vitals after the first tenth (warm) and at the end."""
    start = None
    peak = 0.0
    t0 = time.perf_counter()
    for k in range(steps):
        step(k)
        if k % every == 0 or k == steps - 1:
            v = vitals()
            peak = max(peak, v["rss_mb"])
            if start is None and k >= steps // 10:
                start = v
            print(f"\r{name}: {k + 1}/{steps}  rss {v['rss_mb']} MB  fds {v['open_files']}  "
                  f"threads {v['threads']}", end="", file=sys.stderr, flush=True)
    end = vitals()
    print(file=sys.stderr)
    assert start is not None
    return {"steps": steps, "seconds": round(time.perf_counter() - t0, 1), "start": start, "end": end,
            "peak_rss_mb": max(peak, end["rss_mb"]),
            "growth": {k: round(end[k] - start[k], 1) for k in start}}


def soak_browse(folder: Path, labels: int) -> dict:
    from tuilabel.sessions import Action, SimClock
    from tuilabel.sessions.browse import BrowseSession, BrowseSettings

    ws = workspace(folder, labels + 2000)
    clock = SimClock()
    session = BrowseSession(ws, BrowseSettings(seed=0), clock=clock)
    truth = ws.pool.truth

    def step(_k: int) -> None:
        clock.advance(1.0)
        session.handle(Action("label", int(truth[session.current_index])))
        session.update_if_due()
        session.view()

    out = measure("browse", labels, step, every=200)
    session.close()
    ws.close()
    return out


def soak_batch(folder: Path, rounds: int) -> dict:
    from tuilabel.sessions import Action, SimClock
    from tuilabel.sessions.batch import BatchSession, BatchSettings

    ws = workspace(folder, max(3000, 6 * rounds))  # 5 labels a round: never labelled out
    clock = SimClock()
    settings = BatchSettings(arch="small", epochs=1, augmentations=2, start=5, schedule="fixed", batch_size=5,
                             semi=False, augment="shift", seed=0)
    session = BatchSession(ws, settings, clock=clock, page_size=12)
    truth = ws.pool.truth

    def step(_k: int) -> None:
        while True:
            clock.advance(1.0)
            session.handle(Action("label", int(truth[session.page[session.focus].index])))
            session.view()
            if session.update_if_due():
                return

    out = measure("batch", rounds, step, every=5)
    session.close()
    ws.close()
    return out


def soak_stream(folder: Path, minutes: float) -> dict:
    from tuilabel.models.rbm import RBM
    from tuilabel.sessions import Action, SimClock
    from tuilabel.sessions.stream import StreamSession, StreamSettings

    ws = workspace(folder, 2000)
    clock = SimClock()
    rbm = RBM(n_hidden=64, epochs=1).fit(ws.pool.as_float(np.arange(200)), ws.pool.n_classes)
    session = StreamSession(ws, StreamSettings(fps=30, autospeed=False), clock=clock, rbm=rbm)  # offline every 500
    frames = int(minutes * 60 * 30)

    def step(k: int) -> None:
        if k % 200 == 0:
            session.handle(Action("label", (k // 200) % ws.pool.n_classes))
        clock.now = session.next_frame_at
        session.tick()
        session.update_if_due()  # the offline retrains every 500 labelled frames, as the screen runs them
        session.view()

    out = measure("stream", frames, step, every=1000)
    session.close()
    ws.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browse-labels", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--stream-minutes", type=float, default=30.0)
    parser.add_argument("--parts", default="browse,batch,stream")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "soak.json"))
    args = parser.parse_args()
    results: dict = {"command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts.split(","):
            folder = Path(tmp) / part
            folder.mkdir()
            if part == "browse":
                results["browse"] = soak_browse(folder, args.browse_labels)
            elif part == "batch":
                results["batch"] = soak_batch(folder, args.rounds)
            elif part == "stream":
                results["stream"] = soak_stream(folder, args.stream_minutes)
            print(json.dumps({part: results[part]["growth"]}), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
