"""What the pool's statistics add to softmax regression on the encoder's features, and what covering
the clusters adds to random order (seeds 0 to S-1). Features: unit length as before ("raw"), less the
pool's mean ("poolmean"), or standardized by the pool's mean and spread ("std", what
models/probe.py does now), each row made unit length again. Orders: the session's random order
against 16 medoids of 16 clusters then, 16 a step, covering_order (random images from clusters no
label is in; what the clusters mode shows where the features answer). Medians of test accuracy (%)
at 16-80 labels, the mean paired difference, and random order's spread over seeds.
Usage: python standardize.py photos|mnist DIR [SEEDS] (DIR as in ../../clusters-probe/offline/common.py)"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clusters-probe" / "offline"))
from common import setup  # the set-up of ../../clusters-probe/offline

from tuilabel.cluster import kmeans
from tuilabel.models.linear import SoftmaxRegression
from tuilabel.sessions.clusters import covering_order, random_order

seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 9
name, ws, encoder, f, truth, ft, ty = setup()
n = len(f)
mu, sd = f.mean(0), f.std(0) + 1e-6
counts = (16, 32, 48, 64, 80)
variants = [(1e-4, "raw"), (1e-4, "poolmean"), (1e-4, "std"), (1e-5, "std")]


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def score(pick: np.ndarray, l2: float, prep: str) -> float:
    a, b = {"raw": (f, ft), "poolmean": (f - mu, ft - mu), "std": ((f - mu) / sd, (ft - mu) / sd)}[prep]
    model = SoftmaxRegression(l2=l2, max_iter=100).fit(unit(a)[pick], truth[pick], 10)
    return model.score(unit(b), ty)


results: dict = {}
for seed in range(seeds):
    order = random_order(n, seed)
    km = kmeans(f, 16, seed=seed)
    a = km.assignment
    cover = [int(np.flatnonzero(a == c)[np.argmin(km.distances[a == c])]) for c in range(16) if (a == c).any()]
    for step in range(1, 5):
        taken = np.zeros(n, bool)
        taken[cover] = True
        cover += [int(i) for i in covering_order(f, taken, order, 16, seed + step)[:16]]
    for kind, picks in (("random", order), ("cover", np.array(cover))):
        for v in variants:
            results.setdefault((kind, v), []).append([score(picks[:m], *v) for m in counts])
print(name, f"seeds 0-{seeds - 1}; labels", counts)
for v in variants:
    r, c = np.array(results[("random", v)]) * 100, np.array(results[("cover", v)]) * 100
    print(f"l2 {v[0]:g} {v[1]:8s} random " + " ".join(f"{x:5.1f}" for x in np.median(r, 0))
          + " | medoids, covering " + " ".join(f"{x:5.1f}" for x in np.median(c, 0))
          + " | paired " + " ".join(f"{x:+5.1f}" for x in (c - r).mean(0))
          + " | random's sd " + " ".join(f"{x:4.1f}" for x in r.std(0)))
