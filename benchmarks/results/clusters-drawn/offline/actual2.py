"""A run's own labels (its scratch label store) scored with the graph-trained probe against random order,
and its first 16/32/48 followed by random order. Usage: python actual2.py SEED STORE.sqlite"""

import sqlite3
import sys

import numpy as np
import torch

from tuilabel.models.probe import FeatureProbe
from tuilabel.sessions.clusters import random_order

torch.set_num_threads(1)

s = int(sys.argv[1])
db = sys.argv[2]
d = np.load(f"/tmp/off60/feat{s}.npz")
raw, rawt, truth, ty = d["pool"], d["test"], d["truth"], d["ty"]
n = len(raw)
rows = (
    sqlite3.connect(db)
    .execute("select item_id, label from events where source='human' and kind='label' order by id")
    .fetchall()
)
picks = [int(r[0]) for r in rows]
graph = FeatureProbe(None, pool=raw).pool_graph(raw, seed=s)


def score(p):
    p = np.asarray(p)
    pr = FeatureProbe(None, pool=raw, graph=graph, seed=s)
    pr.fit_items(raw[p], p, truth[p], 10)
    return round(100 * float((pr.proba_of_features(rawt).argmax(1) == ty).mean()), 1)


order = random_order(n, s)
counts = (16, 32, 48, 64, 80)
print("random      ", [score(order[:m]) for m in counts])
print("actual      ", [score(picks[:m]) for m in counts])
for pre in (16, 32, 48):
    first = picks[:pre]
    rest = [int(i) for i in order if int(i) not in set(first)]
    print(f"actual{pre}+rnd", [score((first + rest)[:m]) for m in counts])
for e in range(5):
    print("epoch", e + 1, "classes", np.bincount(truth[picks[16 * e : 16 * e + 16]], minlength=10))
print(
    "random 80 classes", np.bincount(truth[order[:80]], minlength=10), "actual", np.bincount(truth[picks], minlength=10)
)
