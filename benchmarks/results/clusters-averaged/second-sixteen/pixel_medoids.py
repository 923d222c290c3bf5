"""The first epoch's 16 medoids from k-means (k = 20) on per-image standardised grey pixels (the
first 50 principal components) instead of the VAE's latent: on shapes, a representation that
ignores the colours. 16 labels (P16) and with random order's first 16 more (PR), two CNN seeds, the
recipe of second_sixteen.py. A one-off; usage: python pixel_medoids.py WS SEEDS OUT.jsonl"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the project
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # second_sixteen.py
from second_sixteen import label_only_accuracy

from tuilabel.cluster import kmeans, nmi
from tuilabel.sessions.clusters import random_order
from tuilabel.workspace import Workspace


def main() -> None:
    torch.set_num_threads(1)
    ws = Workspace(Path(sys.argv[1]))
    seeds, out = [int(a) for a in sys.argv[2].split(",")], sys.argv[3]
    assert ws.test is not None and ws.pool.truth is not None
    truth, x = ws.pool.truth, ws.pool.as_float()
    test = (ws.test.as_float(), ws.test.truth)
    g = x.mean(1).reshape(len(x), -1)
    g = (g - g.mean(1, keepdims=True)) / (g.std(1, keepdims=True) + 1e-6)
    g = g - g.mean(0)
    f = (g @ np.linalg.svd(g, full_matrices=False)[2][:50].T).astype(np.float32)
    for s in seeds:
        km = kmeans(f, 20, seed=s)
        med = []
        for k in np.argsort(-np.bincount(km.assignment, minlength=20))[:16]:  # the 16 biggest clusters
            members = np.flatnonzero(km.assignment == k)
            med.append(int(members[np.argmin(km.distances[members])]))
        rest = [i for i in random_order(len(truth), s).tolist() if i not in set(med)][:16]
        row: dict = {"seed": s, "nmi": round(float(nmi(truth, km.assignment)), 3),
                     "classes": np.bincount(truth[med], minlength=ws.pool.n_classes).tolist()}
        for cs in (s + 2, s + 102):
            row[f"cnn{cs - s}"] = {arm: label_only_accuracy(x, truth, test, ws.pool.n_classes, idx, cs)
                                   for arm, idx in (("P16", med), ("PR", med + rest))}
        print(json.dumps(row), flush=True)
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
