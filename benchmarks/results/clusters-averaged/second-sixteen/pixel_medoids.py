"""The first epoch's 16 medoids from k-means (k = 20) on per-image standardised grey pixels (the
first 50 principal components) instead of the VAE's latent: on shapes, a representation that
ignores the colours. 16 labels (P16) and with random order's first 16 more (PR), two CNN seeds, the
recipe of second_sixteen.py. A one-off; usage: python pixel_medoids.py WS SEEDS OUT.jsonl"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from tuilabel.cluster import kmeans, nmi
from tuilabel.models.augment import PRESETS
from tuilabel.models.cnn import CNNClassifier
from tuilabel.sessions.clusters import random_order
from tuilabel.workspace import Workspace

torch.set_num_threads(1)
ws = Workspace(Path(sys.argv[1]))
seeds = [int(a) for a in sys.argv[2].split(",")]
out = sys.argv[3]
truth, x = ws.pool.truth, ws.pool.as_float()
tx, ty = ws.test.as_float(), ws.test.truth
g = x.mean(1).reshape(len(x), -1)
g = (g - g.mean(1, keepdims=True)) / (g.std(1, keepdims=True) + 1e-6)
g = g - g.mean(0)
vt = np.linalg.svd(g, full_matrices=False)[2]
f = (g @ vt[:50].T).astype(np.float32)


def fit(idx, seed):
    m = CNNClassifier(arch="small", epochs=1, patience=0, augment=PRESETS["shift"], seed=seed, average_from=0.5)
    m.epochs = max(1, round(60000 / m.images_per_epoch(len(idx))))
    m.fit(x[np.array(idx)], truth[np.array(idx)], ws.pool.n_classes, weights_as="rate")
    return round(100 * m.score(tx, ty), 1)


for s in seeds:
    km = kmeans(f, 20, seed=s)
    a, c = np.asarray(km.assignment), np.asarray(km.centres)
    order_c = np.argsort(-np.bincount(a, minlength=20))[:16]
    med = []
    for k in order_c:
        mem = np.flatnonzero(a == k)
        med.append(int(mem[np.argmin(((f[mem] - c[k]) ** 2).sum(1))]))
    order = [int(i) for i in random_order(len(truth), s)]
    rest = [i for i in order if i not in set(med)][:16]
    row = {"seed": s, "nmi": round(float(nmi(truth, a)), 3),
           "classes": np.bincount(truth[med], minlength=ws.pool.n_classes).tolist()}
    for cs in (s + 2, s + 102):
        row[f"cnn{cs - s}"] = {"P16": fit(med, cs), "PR": fit(med + rest, cs)}
    print(json.dumps(row), flush=True)
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")
