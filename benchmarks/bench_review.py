"""Review mode: how well the review queue finds wrong labels, and training through noise.

Part 1, the queue: `tuilabel simulate WS --mode review --labels 1000 --error-rate P --seed S` on the
sample. A simulated labeler labels 1,000 random pool items with error rate P (errors uniform over the
other classes), then a reviewer who knows the truth works down the queue. For each run: the
injected errors, recall (errors found / injected) and precision (errors found / items reviewed)
after reviewing 0.5x, 1x and 1.25x as many items as there are errors, and the test accuracy of a
CNN trained on the noisy, the reviewed and the clean labels of the same items.

Part 2, bootstrapping (Reed et al., seed 004): the same CNN trained on N pool images whose labels
are flipped at rate P (symmetric, uniform over the other classes), with cross-entropy, soft
bootstrapping (beta 0.95) and hard bootstrapping (beta 0.8); test accuracy, median over seeds.

On ``--dataset photos|shapes`` (made by ``scripts/make_datasets.py``) the same runs use those data
sets; ``--set KEY=VALUE`` passes a review setting to the queue's runs (``augment=geometric`` to
compare the judging CNNs' augmentation with the default's choice).

Usage:
  python benchmarks/bench_review.py [--noise 0.1 0.2 0.4] [--seeds 0 1 2] [--part queue|loss|both]
      [--dataset mnist|photos|shapes] [--set KEY=VALUE ...]
      [--loss-items 4000] [--loss-epochs 20] [--out benchmarks/results/review.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_datasets import benchmark_files  # noqa: E402

from tuilabel.models.augment import Augment  # noqa: E402
from tuilabel.models.cnn import LOSSES, CNNClassifier  # noqa: E402
from tuilabel.sessions.settings import parse_option  # noqa: E402
from tuilabel.simulate import SimSettings, run_simulation  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402


def queue_run(ws_path: Path, noise: float, seed: int, labels: int, out_dir: Path,
              options: dict[str, str] | None = None) -> dict:
    settings = SimSettings(mode="review", labels=labels, seed=seed, error_rate=noise, options=dict(options or {}))
    result = run_simulation(ws_path, settings, out_dir / f"review-{noise}-{seed}.json")
    found = result["found_after"]
    n = result["injected_errors"]
    # the round that measured both kinds of augmentation (the second, under augment=auto), else the first
    chose = next((p for p in result["curve"] if len(p.get("augment_cv") or {}) > 1), (result["curve"] or [{}])[0])
    row = {"noise": noise, "seed": seed, "injected": n, "reviewed": result["reviewed"],
           "found": result["errors_found"], "wall_seconds": result["wall_seconds"],
           "augment": chose.get("augment"), "augment_cv": chose.get("augment_cv"),
           **{f"accuracy_{k}": v for k, v in result["accuracy_after_training"].items()}}
    for factor in (0.5, 1.0, 1.25):
        k = int(np.ceil(factor * n))
        got = found[min(k, len(found) - 1)]
        row[f"recall_{factor}x"] = got / n if n else None
        row[f"precision_{factor}x"] = got / min(k, max(len(found) - 1, 1)) if k else None
    return row


def loss_run(ws: Workspace, noise: float, seed: int, loss: str, items: int, epochs: int) -> float:
    pool, test = ws.pool, ws.test
    assert pool.truth is not None and test is not None and test.truth is not None
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(pool), min(items, len(pool)), replace=False))
    y = pool.truth[idx].copy()
    flip = rng.random(len(y)) < noise
    y[flip] = (y[flip] + rng.integers(1, pool.n_classes, flip.sum())) % pool.n_classes
    model = CNNClassifier(arch="small", epochs=epochs, patience=0, augment=Augment(), seed=seed, loss=loss)
    model.fit(pool.as_float(idx), y, pool.n_classes)
    return model.score(test.as_float(), test.truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2, 0.4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--part", choices=("queue", "loss", "both"), default="both")
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--loss-items", type=int, default=4000)
    ap.add_argument("--loss-epochs", type=int, default=20)
    ap.add_argument("--dataset", choices=("mnist", "photos", "shapes"), default="mnist")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a review setting for the queue")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "review.json")
    args = ap.parse_args()
    options = dict(parse_option(kv) for kv in args.set)
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        ws_path = Path(tmp) / "ws"
        pool_file, test_file = benchmark_files(args.dataset, Path(tmp))
        Workspace.init(ws_path, pool_file, test=test_file)
        if args.part in ("queue", "both"):
            rows = []
            for noise in args.noise:
                for seed in args.seeds:
                    row = queue_run(ws_path, noise, seed, args.labels, Path(tmp), options)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            report["queue"] = rows
            report["queue_median"] = {
                str(noise): {key: statistics.median(r[key] for r in rows if r["noise"] == noise)
                             for key in rows[0] if key not in ("noise", "seed") and rows[0][key] is not None}
                for noise in args.noise
            }
        if args.part in ("loss", "both"):
            ws = Workspace(ws_path)
            table: dict = {}
            for noise in args.noise:
                for loss in LOSSES:
                    scores = [loss_run(ws, noise, seed, loss, args.loss_items, args.loss_epochs) for seed in args.seeds]
                    table.setdefault(str(noise), {})[loss] = {"median": statistics.median(scores), "runs": scores}
                    print(f"noise {noise:.0%} {loss:5s} median {statistics.median(scores):.4f} runs {scores}",
                          flush=True)
            report["bootstrapping"] = table
            ws.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
