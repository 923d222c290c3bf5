"""After the clusters mode's first 16 medoids, at 32 labels: the next 16 images at random (the
mode's order when nothing spreads, MR) or from the outer half of their clusters (MP), the medoids
weighing 1 or 0.5 (_half), against random order's first 32 (R32); and at 48 labels. At 16 and
32: the first epoch's 16 clusters shown by a random member each (S16, SR) instead of the medoid
(M16, MR), against random order (R16, R32). A CNN on the
person's labels alone (shift augmentation, 60,000 image passes, the mean of the second half's
weights, each label drawn in proportion to its weight), two CNN seeds per arm, the same seeds for
every arm. The copy of the one-off experiment behind the README's paragraph (seeds 1-5 ran with
the arms R32, MR and MR_half; the arms at 16 and SR ran apart, seeds 0-3 and 0-2).

Usage, from the project root: python benchmarks/results/clusters-averaged/second_sixteen.py WS SEEDS OUT.jsonl
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tuilabel.models.augment import PRESETS
from tuilabel.models.cnn import CNNClassifier
from tuilabel.sessions.clusters import ClustersSession, ClustersSettings, random_order
from tuilabel.workspace import Workspace


def label_only_accuracy(x: np.ndarray, truth: np.ndarray, test: tuple[np.ndarray, np.ndarray], n_classes: int,
                        idx: list[int], seed: int, weight: np.ndarray | None = None) -> float:
    """Test accuracy (%) of the module's CNN recipe trained on the pool images ``idx`` with their true labels."""
    chosen = np.array(idx)
    m = CNNClassifier(arch="small", epochs=1, patience=0, augment=PRESETS["shift"], seed=seed, average_from=0.5)
    m.epochs = max(1, round(60000 / m.images_per_epoch(len(chosen))))
    m.fit(x[chosen], truth[chosen], n_classes, sample_weight=weight, weights_as="rate")
    return round(100 * m.score(*test), 1)


def main() -> None:
    torch.set_num_threads(1)
    arms = sys.argv[4].split(",") if len(sys.argv) > 4 else None  # e.g. R32,MR,MR_half
    wsdir, seeds, out = sys.argv[1], [int(a) for a in sys.argv[2].split(",")], sys.argv[3]
    ws = Workspace(Path(wsdir))
    assert ws.test is not None and ws.pool.truth is not None
    truth, x = ws.pool.truth, ws.pool.as_float()
    test = (ws.test.as_float(), ws.test.truth)
    for s in seeds:
        t0 = time.time()
        plan = ClustersSession.prepare(ws, ClustersSettings(seed=s), save_models=False)["plan"]
        medoids = [int(c.medoid) for c in plan.centres[:16]]
        outer = np.zeros(len(truth), bool)
        for c in plan.centres:
            outer[c.members[c.distances > np.median(c.distances)]] = True
        order = [int(i) for i in random_order(len(truth), s)]
        rest = [i for i in order if i not in set(medoids)]
        peri = [i for i in rest if outer[i]]
        rng = np.random.default_rng([s, 11])
        strat = [int(c.members[rng.integers(len(c.members))]) for c in plan.centres[:16]]
        strat_rest = [i for i in order if i not in set(strat)]
        rest_not_peri = [i for i in rest if i not in set(peri[:16])]
        mr, mp = medoids + rest[:16], medoids + peri[:16]
        half = np.array([0.5] * 16 + [1.0] * 16, np.float32)
        sets = {"M16": (medoids, None), "S16": (strat, None), "R16": (order[:16], None),
                "SR": (strat + strat_rest[:16], None), "R32": (order[:32], None), "MR": (mr, None),
                "MP": (mp, None), "MR_half": (mr, half), "MP_half": (mp, half), "R48": (order[:48], None),
                "MR48": (medoids + rest[:32], None), "MP48": (mp + rest_not_peri[:16], None)}
        row: dict = {"seed": s, "n_clusters": len(plan.centres),
                     "classes_medoids": np.bincount(truth[medoids], minlength=ws.pool.n_classes).tolist()}
        for cs in (s + 2, s + 102):
            row[f"cnn{cs - s}"] = {k: label_only_accuracy(x, truth, test, ws.pool.n_classes, idx, cs, w)
                                   for k, (idx, w) in sets.items() if arms is None or k in arms}
        row["s"] = round(time.time() - t0)
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
