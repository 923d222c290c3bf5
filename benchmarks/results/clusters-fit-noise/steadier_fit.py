"""How far one fit of the clusters' final CNN moves on the same images, and what steadies it.

The random-order baseline of bench_clusters.py, on the first n of the session's random order with
true labels, trained for P image passes and for P * 1.05 (what a clusters run's epoch may differ by)
with shift augmentation: the last epoch's weights, the mean of the weights over the last half of the
epochs (stochastic weight averaging), and the mean prediction of three CNN seeds (each way).

Usage: python steadier_fit.py POOL.npz TEST.npz --seeds 0 1 2 --labels 32 80 --out OUT.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tuilabel.data import load_pool
from tuilabel.models.augment import PRESETS
from tuilabel.models.cnn import CNNClassifier
from tuilabel.sessions.clusters import random_order

parser = argparse.ArgumentParser()
parser.add_argument("pool")
parser.add_argument("test")
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--labels", type=int, nargs="+", default=[32, 80])
parser.add_argument("--passes", type=int, default=57000)
parser.add_argument("--augment", default="shift")
parser.add_argument("--out", required=True)
args = parser.parse_args()
pool, test = load_pool(Path(args.pool)), load_pool(Path(args.test))
x, truth, tx, ty = pool.as_float(), pool.truth, test.as_float(), test.truth
with open(args.out, "a") as out:
    for seed in args.seeds:
        order = random_order(len(x), seed)
        for n in args.labels:
            pick = order[:n]
            for passes in (args.passes, round(args.passes * 1.05)):
                probs: dict[str, list[np.ndarray]] = {"last": [], "swa": []}
                for member in range(3):
                    for kind, average in (("last", None), ("swa", 0.5)):
                        cnn = CNNClassifier(arch="small", epochs=1, patience=0, augment=PRESETS[args.augment],
                                            seed=seed + 1 + 1000 * member, average_from=average)
                        cnn.epochs = max(1, round(passes / cnn.images_per_epoch(n)))
                        cnn.fit(x[pick], truth[pick], pool.n_classes)
                        probs[kind].append(cnn.predict_proba(tx))
                row = {"seed": seed, "labels": n, "passes": passes, "augment": args.augment}
                for kind, ps in probs.items():
                    row[kind] = float((ps[0].argmax(1) == ty).mean())
                    row[f"{kind}_ensemble3"] = float((np.mean(ps, 0).argmax(1) == ty).mean())
                print(json.dumps(row), flush=True)
                out.write(json.dumps(row) + "\n")
                out.flush()
