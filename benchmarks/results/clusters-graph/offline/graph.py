"""What the neighbour graph adds to the feature probe, with the labels held fixed: softmax regression
on a person's labels alone against the same regression on the graph's spread labels
(models/graph.py, what models/probe.py does now), on random order and on the clusters mode's picks
where the features answer (16 medoids of 16 clusters, then covering_order 16 a step), and two
mixtures (the first 16 of random order then covering; the medoids then random order). One encoder
(seed 0), orders 0 to S-1; mean test accuracy (%) at 16-80 labels, its spread over orders, and the
mean paired difference. Usage: python graph.py photos|mnist DIR [S] (DIR as in
../../clusters-probe/offline/common.py)"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clusters-probe" / "offline"))
from common import setup  # the set-up of ../../clusters-probe/offline

from tuilabel.cluster import kmeans
from tuilabel.models.probe import FeatureProbe
from tuilabel.sessions.clusters import covering_order, random_order

orders = int(sys.argv[3]) if len(sys.argv) > 3 else 8
name, ws, encoder, f, truth, ft, ty = setup()
raw, raw_test = encoder.encode(ws.pool.as_float()), encoder.encode(ws.test.as_float())
n, classes = len(f), ws.pool.n_classes
counts = (16, 32, 48, 64, 80)
graph = FeatureProbe(encoder, pool=raw).pool_graph(raw)


def score(pick: np.ndarray, with_graph: bool) -> float:
    probe = FeatureProbe(encoder, pool=raw, graph=graph if with_graph else None)
    probe.fit_items(raw[pick], pick, truth[pick], classes)
    return 100 * float((probe.proba_of_features(raw_test).argmax(1) == ty).mean())


km = kmeans(f, 16, seed=0)
a = km.assignment
medoids = [int(np.flatnonzero(a == c)[np.argmin(km.distances[a == c])]) for c in range(16) if (a == c).any()]
results: dict = {}
for o in range(orders):
    order = random_order(n, o)
    picks = list(medoids)
    for step in range(1, 5):
        taken = np.zeros(n, bool)
        taken[picks] = True
        picks += [int(i) for i in covering_order(f, taken, order, 16, o + step)[:16]]
    randoms = [int(i) for i in order[:16]]
    first_random = list(randoms)
    for step in range(1, 5):
        taken = np.zeros(n, bool)
        taken[first_random] = True
        first_random += [int(i) for i in covering_order(f, taken, order, 16, o + step)[:16]]
    rest = [int(i) for i in order if int(i) not in set(medoids)]
    for kind, chosen in (("random order", order), ("medoids, covering", np.array(picks)),
                         ("random 16, covering", np.array(first_random)),
                         ("medoids, random", np.array(medoids + rest))):
        for learner in ("labels alone", "graph"):
            results.setdefault((kind, learner), []).append([score(chosen[:m], learner == "graph") for m in counts])
    print(f"order {o} done", flush=True)
print(f"{name}: {n} pool images, graph of {len(graph.nodes)}; orders 0-{orders - 1}; labels", counts)
KINDS = ("random order", "medoids, covering", "random 16, covering", "medoids, random")
for kind in KINDS:
    for learner in ("labels alone", "graph"):
        r = np.array(results[(kind, learner)])
        line = f"{kind:20s} {learner:12s} mean " + " ".join(f"{x:5.1f}" for x in r.mean(0))
        line += " | sd " + " ".join(f"{x:4.1f}" for x in r.std(0))
        if learner == "graph":
            line += " | graph minus alone " + " ".join(
                f"{x:+5.1f}" for x in (r - np.array(results[(kind, "labels alone")])).mean(0))
        print(line)
for kind in KINDS[1:]:
    for learner in ("labels alone", "graph"):
        d = np.array(results[(kind, learner)]) - np.array(results[("random order", learner)])
        print(f"{kind} minus random order, {learner:12s}: mean " + " ".join(f"{x:+5.1f}" for x in d.mean(0))
              + " | orders more than a point behind " + " ".join(f"{int(x):3d}" for x in (d < -1).sum(0)))
