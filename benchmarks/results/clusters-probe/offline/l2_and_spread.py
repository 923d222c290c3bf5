"""Softmax regression on the encoder's features of the first 32 or 80 images of the session's random
order (seeds 0-2): the L2 weight (1e-4, 1e-3, 1e-2), and (at 1e-3) the same labels spread to their
k-means cluster (k = 32, the last label in a cluster wins) beside them at 0.2 or 0.4 of the loss
weight, as the clusters mode's spread would be. Usage: python l2_and_spread.py photos|mnist DIR"""
import numpy as np
from common import setup, weighted_probe

from tuilabel.cluster import kmeans
from tuilabel.sessions.clusters import random_order

name, ws, encoder, f, truth, ft, ty = setup()
km = kmeans(f, 32, seed=0)
for seed in range(3):
    order = random_order(len(f), seed)
    for n in (32, 80):
        pick = order[:n]
        spread = np.full(len(f), -1)
        for i in pick:
            spread[km.assignment == km.assignment[i]] = truth[i]
        spread_only = spread >= 0
        spread_only[pick] = False
        row = [f"l2={l2:g}: {weighted_probe(f[pick], truth[pick], np.ones(n), ft, ty, l2):.3f}"
               for l2 in (1e-4, 1e-3, 1e-2)]
        for share in (0.2, 0.4):
            x = np.concatenate([f[pick], f[spread_only]])
            y = np.concatenate([truth[pick], spread[spread_only]])
            w = np.concatenate([np.ones(n), np.full(spread_only.sum(), share / (1 - share) * n / spread_only.sum())])
            row.append(f"spread {share:.1f}: {weighted_probe(x, y, w, ft, ty, 1e-3):.3f}")
        right = (spread[spread_only] == truth[spread_only]).mean()
        print(name, seed, n, f"spread right {right:.2f}", " ".join(row), flush=True)
