"""The clusters mode's first epoch shown by medoids, by a random member of each cluster's nearest
fifth, or by random images: a CNN on the person's labels alone (shift augmentation, 60,000 image
passes, the same seed for each arm) at 16 labels, and at 32 with the first 16 of the session's
random order added. The copy of the one-off experiment behind the README's paragraph.

Usage: python first_epoch_inner_fifth.py WORKSPACE SEEDS(comma-separated) OUT.json
"""

from __future__ import annotations

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


def main() -> None:
    torch.set_num_threads(1)
    wsdir, seeds, out = sys.argv[1], [int(a) for a in sys.argv[2].split(",")], sys.argv[3]
    ws = Workspace(Path(wsdir))
    assert ws.test is not None and ws.pool.truth is not None
    truth, x = ws.pool.truth, ws.pool.as_float()
    tx, ty = ws.test.as_float(), ws.test.truth

    def fit(idx: list[int], seed: int) -> float:
        chosen = np.array(idx)
        model = CNNClassifier(arch="small", epochs=1, patience=0, augment=PRESETS["shift"], seed=seed)
        model.epochs = max(1, round(60000 / model.images_per_epoch(len(chosen))))
        model.fit(x[chosen], truth[chosen], ws.pool.n_classes)
        return model.score(tx, ty)

    results = []
    for s in seeds:
        plan = ClustersSession.prepare(ws, ClustersSettings(seed=s), save_models=False)["plan"]
        centres = plan.centres[:16]
        medoids = [int(c.medoid) for c in centres]
        rng = np.random.default_rng([s, 7])
        inner = []
        for c in centres:
            nearest = np.argsort(c.distances)
            fifth = max(1, int(np.ceil(0.2 * len(nearest))))
            inner.append(int(c.members[nearest[rng.integers(fifth)]]))
        order = [int(i) for i in random_order(len(truth), s)]
        after_medoids = [i for i in order if i not in set(medoids)][:16]
        after_inner = [i for i in order if i not in set(inner)][:16]
        row = {"seed": s,
               "16": {"medoids": fit(medoids, s + 1), "inner": fit(inner, s + 1), "random": fit(order[:16], s + 1)},
               "32": {"medoids": fit(medoids + after_medoids, s + 2), "inner": fit(inner + after_inner, s + 2),
                      "random": fit(order[:32], s + 2)}}
        print(json.dumps(row), flush=True)
        results.append(row)
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
