"""The batch head's refit on a large pool of cached embeddings: fit and rank, timed.

A pool of N images (default 60,000) with 1,280 features each (EfficientNet-Lite0's width; random
features with a class signal, since what is timed does not depend on their values), L labels
(default 250): the time of one refit as the batch mode runs it on its light-update lane
(`sessions/batch/head.py: head_round`: fit the softmax regression, class probabilities of every
unlabelled image, entropy, the next 10 spread over k-means clusters of the 100 most uncertain),
median of 5, beside the fit alone and one matrix product of the pool with the head's weights (the
floor: what reading every feature once costs) measured in the same process.

    python benchmarks/bench_head.py [--items 60000] [--labels 250] [--out benchmarks/out/head.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_compute import median_seconds  # noqa: E402  (this folder: the script's own)

from tuilabel.models.head import EmbeddingHead  # noqa: E402
from tuilabel.sessions.batch import BatchSession, BatchSettings  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=60_000)
    parser.add_argument("--labels", type=int, default=250)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "head.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, args.items)
    features = rng.normal(size=(args.items, 1280)).astype(np.float32)
    features[:, :10] += 2 * np.eye(10, dtype=np.float32)[truth]
    with tempfile.TemporaryDirectory() as tmp:
        images = rng.integers(0, 255, (args.items, 8, 8), dtype=np.uint8)
        np.savez(Path(tmp) / "pool.npz", images=images, labels=truth)
        ws = Workspace.init(Path(tmp) / "ws", Path(tmp) / "pool.npz")
        store = ws.store
        s = store.start_session("browse")
        for i in range(args.labels):
            store.add(s, ws.pool.ids[i], int(truth[i]))
        session = BatchSession(ws, BatchSettings(), save_models=False, features=features)
        job = session.refresh_snapshot()
        refit = median_seconds(lambda: session.train(job), 5)
        fit = median_seconds(lambda: EmbeddingHead().fit(features[job.idx], job.y, 10), 5)
        head = EmbeddingHead().fit(features[job.idx], job.y, 10)
        weights = torch.as_tensor(np.asarray(head.model_.coef_))
        floor = median_seconds(lambda: torch.as_tensor(features) @ weights, 5)
        ws.close()
    result = {"items": args.items, "labels": args.labels, "threads": torch.get_num_threads(),
              "refit_seconds": refit, "fit_seconds": fit, "matmul_seconds": floor,
              "refit_over_matmul": refit / floor}
    print(f"{args.items} images x 1280 features, {args.labels} labels, {torch.get_num_threads()} threads: "
          f"refit (fit + rank) {refit:.2f} s median of 5; the fit alone {fit:.2f} s; "
          f"one product of the pool with the weights {floor * 1000:.0f} ms ({refit / floor:.0f}x)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
