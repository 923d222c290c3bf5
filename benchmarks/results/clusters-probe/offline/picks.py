"""Which images teach softmax regression on the encoder's features most (seeds 0-2, the probe as
models/probe.py fits it): random order against (1) TypiClust-like picks (k-means with as many
clusters as labels so far plus 16, the member nearest the centre of each of the 16 biggest clusters
none of the labels is in), (2) the 16 least sure by margin after 16 random, (3) 16 medoids of 16
clusters first and random images after (what the clusters mode shows where the features answer).
Usage: python picks.py photos|mnist DIR"""
import numpy as np
from common import setup

from tuilabel.cluster import kmeans
from tuilabel.models.probe import FeatureProbe
from tuilabel.sessions.clusters import random_order

name, ws, encoder, f, truth, ft, ty = setup()


def score(pick: list[int] | np.ndarray) -> float:
    probe = FeatureProbe(encoder).fit_features(f[np.asarray(pick)], truth[np.asarray(pick)], 10)
    return float((probe.proba_of_features(ft).argmax(1) == ty).mean())


for seed in range(3):
    order = random_order(len(f), seed)
    typical: list[int] = []
    unsure = list(order[:16])
    rows = []
    for step in range(5):
        k = len(typical) + 16
        km = kmeans(f, k, seed=seed + step)
        covered = set(km.assignment[typical].tolist())
        new = []
        for c in np.argsort(-np.bincount(km.assignment, minlength=k), kind="stable"):
            members = np.flatnonzero(km.assignment == c)
            members = members[~np.isin(members, typical)]
            if c in covered or not len(members):
                continue
            new.append(int(members[np.argmin(km.distances[members])]))
            if len(new) == 16:
                break
        typical += new
        if step:
            probs = FeatureProbe(encoder).fit_features(f[unsure], truth[unsure], 10).proba_of_features(f)
            top = np.sort(probs, 1)
            margin = top[:, -1] - top[:, -2]
            margin[unsure] = np.inf
            unsure += list(np.argsort(margin)[:16])
        n = len(typical)
        rows.append(f"{n}: typical {score(typical):.3f} margin {score(unsure):.3f} random {score(order[:n]):.3f}")
    km = kmeans(f, 16, seed=seed)
    medoids = [int(np.flatnonzero(km.assignment == c)[np.argmin(km.distances[km.assignment == c])])
               for c in range(16) if (km.assignment == c).any()]
    for n in (32, 48, 64, 80):
        rest = [int(i) for i in order if i not in medoids][: n - len(medoids)]
        rows.append(f"{n}: medoids then random {score(medoids + rest):.3f}")
    print(name, seed, " | ".join(rows), flush=True)
