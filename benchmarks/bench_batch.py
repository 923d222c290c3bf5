"""Batch mode: learning curves of the acquisition strategies on
the bundled sample or a data set that is not digits (made by ``scripts/make_datasets.py``).

Each run is `tuilabel simulate WS --mode batch` (exponential schedule from 20 labels: rounds at 20,
40, 80, ..., later when a round's compute outlasts the labels), with the given strategy
and every other setting at its default (the same final model); test accuracy
is read off at each round. Reports the median over seeds at each label count, the full 4,000-label
accuracy of the same network and training, the smallest label count at which each setting comes
within 0.5 points of it, and the time of one round and images scored per second.

With a backbone (the default, ``--backbone efficientnet-lite0``) the workspace's embeddings are
computed first (charged once to each simulated clock) and the head ranks and may answer; ``--backbone
none`` runs the CNN alone, as the mode did before backbones.

Usage:
  python benchmarks/bench_batch.py [--dataset mnist|photos|shapes|colour] [--seeds 0 1 2] [--max-labels 1280]
      [--backbone efficientnet-lite0|none]
      [--strategies random,auto,entropy,least_confidence,margin,fusion] [--reuse]

Runs are independent: split them over processes (``--strategies random`` in one, ``auto`` in the
other), then build the table from their per-run files with ``--reuse`` (a run whose file is in the
output folder is read, not run again).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_datasets import benchmark_files  # noqa: E402

from tuilabel.models.augment import Augment  # noqa: E402
from tuilabel.models.cnn import CNNClassifier  # noqa: E402
from tuilabel.sessions.batch import PATIENCE, BatchSettings  # noqa: E402
from tuilabel.simulate import SimSettings, run_simulation  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402


def full_set_accuracy(ws: Workspace, seed: int) -> tuple[float, float]:
    settings = BatchSettings(seed=seed).resolved(ws.pool.channels)
    t0 = time.perf_counter()
    model = CNNClassifier(arch=settings.arch, epochs=settings.epochs, patience=PATIENCE,
                          augment=Augment(), seed=seed)
    model.fit(ws.pool.as_float(), ws.pool.truth, ws.pool.n_classes)
    return model.score(ws.test.as_float(), ws.test.truth), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-labels", type=int, default=1280)
    parser.add_argument("--dataset", choices=["mnist", "photos", "shapes", "colour"], default="mnist")
    parser.add_argument("--strategies", default="random,auto")
    parser.add_argument("--full", action="store_true", help="also train on all 4,000 pool labels")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    parser.add_argument("--reuse", action="store_true", help="read runs whose file the output folder holds")
    parser.add_argument("--backbone", default="efficientnet-lite0",
                        help="the workspace's pretrained network (none: the pool-trained CNN alone, as before it)")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    strategies = [s.strip() for s in args.strategies.split(",")]
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pool_file, test_file = benchmark_files(args.dataset, Path(tmp))
        ws = Workspace.init(Path(tmp) / "ws", pool_file, test=test_file, backbone=args.backbone)
        full = None
        if args.full:
            full_runs = [full_set_accuracy(ws, s) for s in args.seeds]
            full = statistics.median(a for a, _ in full_runs)
            print(f"all 4,000 pool labels: test accuracy {full:.4f} (median of {len(full_runs)})", flush=True)
        for name in strategies:
            runs[name] = []
            for seed in args.seeds:
                settings = SimSettings(mode="batch", labels=args.max_labels, seed=seed, options={"strategy": name})
                t0 = time.perf_counter()
                tag = "" if args.backbone == "none" else f"{args.backbone}-"
                run_file = out_dir / f"batch-{args.dataset}-{tag}{name}-{seed}.json"
                if args.reuse and run_file.exists():
                    result = json.loads(run_file.read_text())
                else:
                    result = run_simulation(ws.path, settings, run_file)
                runs[name].append({"curve": result["curve"], "wall": time.perf_counter() - t0})
                last = result["curve"][-1]
                print(f"{name:<26} seed {seed}: {last['labels']} labels -> {last['accuracy']:.3f}"
                      f"  ({time.perf_counter() - t0:.0f}s)", flush=True)

    def acc_at(curve: list[dict], n: int) -> float | None:
        """The model trained on at most n labels (a round can start a few labels late)."""
        upto = [p["accuracy"] for p in curve if p["labels"] <= n]
        return upto[-1] if upto else None

    # the label counts the rounds came at (the schedule's, later when a round's compute outlasts its labels)
    counts = sorted({p["labels"] for rs in runs.values() for r in rs for p in r["curve"]})
    print(f"\ntest accuracy (%) by human labels, median of seeds {args.seeds}")
    print(f"{'':<26}" + "".join(f"{n:>7}" for n in counts) + "   reaches full-0.5 at")
    table = {}
    for name, rs in runs.items():
        row = []
        for n in counts:
            values = [v for v in (acc_at(r["curve"], n) for r in rs) if v is not None]
            row.append(100 * statistics.median(values) if values else float("nan"))
        reach = next((n for n, a in zip(counts, row) if full is not None and a >= 100 * full - 0.5), None)
        table[name] = {"accuracy": row, "reaches_full_minus_half_point_at": reach}
        reach_text = "-" if full is None else (str(reach) if reach else f"> {counts[-1]}")
        print(f"{name:<26}" + "".join(f"{a:>7.1f}" for a in row) + f"   {reach_text}")
    rounds = [p for rs in runs.values() for r in rs for p in r["curve"] if "seconds_train" in p]
    if rounds:
        train = statistics.median(p["seconds_train"] for p in rounds)
        score = statistics.median(p["seconds_score"] for p in rounds)
        scored = statistics.median(p["scored"] for p in rounds)
        k = BatchSettings().resolved(1).augmentations
        print(f"\none round (median over all rounds): retrain {train:.1f}s + score {score:.1f}s "
              f"({scored:.0f} images x {k} views: {scored * k / max(score, 1e-9):.0f} views scored per second)")
    stem = ("batch" if args.dataset == "mnist" else f"batch-{args.dataset}") + (
        "" if args.backbone == "none" else f"-{args.backbone}")
    (out_dir / f"{stem}.json").write_text(json.dumps({"dataset": args.dataset, "seeds": args.seeds, "counts": counts,
                                                     "full_accuracy": full, "table": table, "runs": runs}, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, row in table.items():
            ax.plot(counts, row["accuracy"], "-o" if name == "auto" else "--o", ms=3, label=name)
        if full is not None:
            ax.axhline(100 * full, color="k", lw=0.8, label="all 4,000 labels")
        ax.axhline(95, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("human labels")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"batch mode on {args.dataset} (median of seeds {args.seeds})")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / f"{stem}.png", dpi=110)
        print(f"wrote {out_dir / f'{stem}.png'}")
    except ImportError:
        pass
    print(f"wrote {out_dir / f'{stem}.json'}")


if __name__ == "__main__":
    main()
