"""Whether the clusters mode's first-epoch medoids lose to random images at 32 labels on the
60,000-photo pool because they leave the classes unbalanced (they over-pick one class, "coffee":
4 and 7 of 16 in seeds 0 and 2). A CNN on the person's labels alone (shift augmentation, 60,000
image passes, the same seed per arm) at 16 labels (medoids or the first 16 of the random order)
and at 32 (plus the first 16 of the random order), trained with seed 001's class weights (cw, the
default), with every class drawn equally often (bal), or in proportion to 1/sqrt(count) (sqrt).
Each entry: test accuracy (%) and the most test images predicted as one class (of 10,000).
The copy of the one-off experiment behind the README's paragraph.

Usage: python first_epoch_class_balance.py WORKSPACE SEEDS(comma-separated) > OUT.jsonl
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tuilabel.models.augment import PRESETS
from tuilabel.models.cnn import CNNClassifier
from tuilabel.sessions.clusters import ClustersSession, ClustersSettings, random_order
from tuilabel.workspace import Workspace

torch.set_num_threads(1)
ws = Workspace(Path(sys.argv[1]))
truth, x = ws.pool.truth, ws.pool.as_float()
tx, ty = ws.test.as_float(), ws.test.truth
C = ws.pool.n_classes


def fit(idx, seed, how):
    chosen = np.array(idx)
    y = truth[chosen]
    m = CNNClassifier(arch="small", epochs=1, patience=0, augment=PRESETS["shift"], seed=seed,
                      use_class_weights=(how == "cw"))
    m.epochs = max(1, round(60000 / m.images_per_epoch(len(chosen))))
    if how == "bal":
        cnt = np.bincount(y, minlength=C)
        m.fit(x[chosen], y, C, sample_weight=1.0 / cnt[y], weights_as="rate")
    elif how == "sqrt":
        cnt = np.bincount(y, minlength=C)
        m.fit(x[chosen], y, C, sample_weight=1.0 / np.sqrt(cnt[y]), weights_as="rate")
    else:
        m.fit(x[chosen], y, C)
    pred = m.predict_proba(tx).argmax(1)
    return round(100 * float((pred == ty).mean()), 1), int(np.bincount(pred, minlength=C).max())
for s in [int(a) for a in sys.argv[2].split(",")]:
    plan = ClustersSession.prepare(ws, ClustersSettings(seed=s), save_models=False)["plan"]
    med = [int(c.medoid) for c in plan.centres[:16]]
    order = [int(i) for i in random_order(len(truth), s)]
    after = [i for i in order if i not in set(med)][:16]
    row = {"seed": s}
    for how in ("cw", "bal", "sqrt"):
        row[how] = {"medoids32": fit(med + after, s + 2, how), "random32": fit(order[:32], s + 2, how),
                    "medoids16": fit(med, s + 1, how), "random16": fit(order[:16], s + 1, how)}
    print(json.dumps(row), flush=True)
