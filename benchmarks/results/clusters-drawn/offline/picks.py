"""Offline check of pick rules against random order with the graph-trained probe on the 60,000-photograph
pool (encoder features from enc.py, saved under /tmp/off60). Kinds FIRST+REST: the first 16 labels are
med (the medoids of the 16 biggest of 20 k-means clusters), rand (the first 16 of the order), strat (the
first image of the order in each of those 16 clusters) or prop; the next 64, 16 an epoch, are cover
(covering_order), rand (the order), prop (clusters of labelled + 16, each given labels in proportion to
its size) or bal (the order, skipping images whose guessed class has more labels than another guessed
class). Usage: python picks.py SEED ORDERS KINDS, e.g. python picks.py 0 0,1,2,3,4 random,med+cover;
summ.py LOG... prints picks-60k.txt from the printed lines (picks-60k.log)."""

import json
import sys

import numpy as np
import torch

from tuilabel.cluster import kmeans, nearest_centre
from tuilabel.models.probe import FeatureProbe, unit
from tuilabel.sessions.clusters import COVER_FIT, covering_order, random_order

torch.set_num_threads(1)

s = int(sys.argv[1])
orders = [int(o) for o in sys.argv[2].split(",")]
kinds = sys.argv[3].split(",")
d = np.load(f"/tmp/off60/feat{s}.npz")
raw, rawt, truth, ty = d["pool"], d["test"], d["truth"], d["ty"]
n, C = len(raw), 10
cover = unit(raw)
graph = FeatureProbe(None, pool=raw).pool_graph(raw, seed=s)
counts = (16, 32, 48, 64, 80)


def score(pick):
    p = FeatureProbe(None, pool=raw, graph=graph, seed=s)
    p.fit_items(raw[pick], pick, truth[pick], C)
    return round(100 * float((p.proba_of_features(rawt).argmax(1) == ty).mean()), 2)


km = kmeans(raw, 20, seed=s + 1)
a = km.assignment
sizes = np.bincount(a, minlength=20)
medoids = [int(np.flatnonzero(a == c)[np.argmin(km.distances[a == c])]) for c in np.argsort(-sizes)][:16]


def proportional(features, taken, order, per_epoch, seed, k=None):
    free = order[~taken[order]]
    labelled = int(taken.sum())
    k = k or max(1, labelled + per_epoch)
    assignment = nearest_centre(features, kmeans(features[np.sort(order[:COVER_FIT])], k, seed=seed).centres)
    size = np.bincount(assignment, minlength=k).astype(float)
    have = np.bincount(assignment[taken], minlength=k).astype(float)
    deficit = size / size.sum() * (labelled + per_epoch) - have
    queues = {}
    for i in free:
        queues.setdefault(int(assignment[i]), []).append(int(i))
    out = []
    for _ in range(per_epoch):
        c = max((c for c in queues if queues[c]), key=lambda c: deficit[c])
        out.append(queues[c].pop(0))
        deficit[c] -= 1
    return np.array(out)


def balanced(picks, taken, order, per_epoch):
    pr = FeatureProbe(None, pool=raw, graph=graph, seed=s)
    pr.fit_items(raw[picks], np.array(picks), truth[picks], C)
    guess = pr.proba_of_features(raw).argmax(1)
    have = np.bincount(truth[picks], minlength=C).astype(float)
    seen = np.unique(guess)
    out = []
    for i in order[~taken[order]]:
        g = guess[i]
        if have[g] <= have[seen].min():
            out.append(int(i))
            have[g] += 1
            if len(out) == per_epoch:
                break
    return np.array(out)


def grow(first, order, rule):
    """``first`` then 16 an epoch by ``rule`` from ``order`` (the session's order for order 0)."""
    picks = list(first)
    for step in range(2, 6):
        taken = np.zeros(n, bool)
        taken[picks] = True
        if rule == "cover":
            nxt = covering_order(cover, taken, order, 16, s + step)[:16]
        elif rule == "prop":
            nxt = proportional(cover, taken, order, 16, s + step)
        elif rule == "bal":
            nxt = balanced(picks, taken, order, 16)
        else:
            nxt = order[~taken[order]][:16]
        picks += [int(i) for i in nxt]
    return np.array(picks)


res = {}
for o in orders:
    order = random_order(n, s) if o == 0 else np.random.default_rng([s, 1000, o]).permutation(n)
    for kind in kinds:
        if kind == "random":
            chosen = order
        else:
            first, rule = kind.split("+")
            f16 = medoids if first == "med" else [int(i) for i in order[:16]]
            if first == "strat":
                big = list(np.argsort(-sizes)[:16])
                f16 = []
                for i in order:
                    if a[i] in big:
                        big.remove(a[i])
                        f16.append(int(i))
                        if not big:
                            break
            if first == "prop":
                f16 = proportional(cover, np.zeros(n, bool), order, 16, s + 1)
            chosen = grow(f16, order, rule)
        res[f"{kind}/{o}"] = [score(chosen[:m]) for m in counts]
        print(s, o, kind, res[f"{kind}/{o}"], flush=True)
with open(f"/tmp/off60/res-{s}-{sys.argv[2]}-{sys.argv[3]}.json", "w") as out:
    json.dump(res, out)
