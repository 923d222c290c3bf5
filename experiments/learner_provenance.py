"""Experiment (issue 45): compare the head and the CNN on the labels no learner's doubt chose.

Batch with a backbone picks which learner answers by cross-validating both on the person's labels.
Those labels were mostly chosen by the head's own doubts (its hard cases), which deflates the head
and not the CNN: shapes seed 1 handed over to the CNN at 196 labels (0.90 against 0.76) and ended at
91.2% where the head had 97-98.5. Here the folds still train on every label, but a held-out label
counts only if it was given before every class had ASK_AFTER labels (random, typical or balanced
order: not chosen by any learner's uncertainty). Fewer than MIN_SCORED such labels: the usual
comparison. Run on one data set and seed; the curve is written like bench_batch's runs.

Usage: python experiments/learner_provenance.py [--dataset shapes] [--seed 1] [--labels 250] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_datasets import benchmark_files  # noqa: E402

from tuilabel.sessions.batch import head as heads  # noqa: E402
from tuilabel.sessions.batch.settings import ASK_AFTER  # noqa: E402
from tuilabel.simulate import SimSettings, run_simulation  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402

MIN_SCORED = 20
original = heads.choose_learner


def unasked_mask(session, idx: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per label in ``idx``: given before every class had ASK_AFTER labels (no learner's doubt chose it)."""
    events = sorted(session.store.events(("human",), current_only=True), key=lambda ev: ev.time)
    counts = np.zeros(session.pool.n_classes, np.int64)
    unasked: set[str] = set()
    for ev in events:
        if ev.label is None or ev.item_id is None:
            continue
        if counts.min() < ASK_AFTER:
            unasked.add(ev.item_id)
        counts[ev.label] += 1
    ids = session.pool.ids[idx]
    return np.array([str(i) in unasked for i in ids])


def choose_on_unasked(session, idx, y, n_classes, cnn_predict, seed):  # type: ignore[no-untyped-def]
    mask = unasked_mask(session, idx)
    if mask.sum() < MIN_SCORED:
        return original(session, idx, y, n_classes, cnn_predict, seed)
    rng = np.random.default_rng(seed)  # the folds of `cross_validated`
    order = rng.permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]
    fold = np.empty(len(y), np.int64)
    fold[order] = np.arange(len(y)) % heads.CV_FOLDS
    right = {"head": 0, "cnn": 0}
    for k in range(heads.CV_FOLDS):
        held, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        scored = held[mask[held]]
        if not len(scored):
            continue
        head = heads.fit(session, idx[train], y[train], n_classes).predict(session.features[idx[scored]])
        right["head"] += int((head == y[scored]).sum())
        cnn = np.asarray(cnn_predict(train, held))[mask[held]]
        right["cnn"] += int((cnn == y[scored]).sum())
    n = int(mask.sum())
    scores = {name: right[name] / n for name in right}
    print(f"compare at {len(y)} labels on {n} unasked: head {scores['head']:.3f} cnn {scores['cnn']:.3f}",
          file=sys.stderr, flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["mnist", "photos", "shapes"], default="shapes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--labels", type=int, default=250)
    parser.add_argument("--out", default="learner-provenance.json")
    args = parser.parse_args()
    heads.choose_learner = choose_on_unasked  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        pool_file, test_file = benchmark_files(args.dataset, Path(tmp))
        ws = Workspace.init(Path(tmp) / "ws", pool_file, test=test_file, backbone="efficientnet-lite0")
        settings = SimSettings(mode="batch", labels=args.labels, seed=args.seed, options={"strategy": "auto"})
        result = run_simulation(ws.path, settings, Path(args.out))
    for point in result["curve"]:
        print(point["labels"], point["accuracy"], point.get("learner"))


if __name__ == "__main__":
    main()
