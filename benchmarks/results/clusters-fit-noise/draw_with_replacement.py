"""Whether the clusters CNN's draw in proportion to the weights (weights_as="rate", with replacement)
trains worse than the random baseline's plain epochs (weights_as="loss") on the same images with
equal weights: the first n of the session's random order, shift augmentation, 60,000 image passes,
the same CNN seed for both. What the two differ by is also the fit's noise on one set of images.
The copy of the one-off experiment behind the README's paragraph.

Usage: python draw_with_replacement.py POOL.npz TEST.npz N SEEDS(comma-separated) > OUT.jsonl
(the pool and test files of scripts/make_datasets.py)"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tuilabel.data import load_pool
from tuilabel.models.augment import PRESETS
from tuilabel.models.cnn import CNNClassifier
from tuilabel.sessions.clusters import random_order

torch.set_num_threads(1)
pool, test = load_pool(Path(sys.argv[1])), load_pool(Path(sys.argv[2]))
x, y, tx, ty = pool.as_float(), pool.truth, test.as_float(), test.truth
C = pool.n_classes
n = int(sys.argv[3])
for s in [int(a) for a in sys.argv[4].split(",")]:
    pick = random_order(len(x), s)[:n]
    row = {"seed": s, "n": n}
    for how in ("loss", "rate"):
        m = CNNClassifier(arch="small", epochs=1, patience=0, augment=PRESETS["shift"], seed=s + 4)
        m.epochs = max(1, round(60000 / m.images_per_epoch(n)))
        if how == "rate":
            m.fit(x[pick], y[pick], C, sample_weight=np.ones(n, np.float32), weights_as="rate")
        else:
            m.fit(x[pick], y[pick], C)
        row[how] = round(100 * m.score(tx, ty), 1)
    print(json.dumps(row), flush=True)
