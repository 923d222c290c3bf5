"""Offline: what each way of showing the space trial's clusters would make the simulated person
say of each space (the clusters judge's confidence: 1 when all 6 members shown share the image's
class, 0.7 when at least 70% do, 0.4 otherwise; ground truth, no errors). For the first epoch's
plan of each space (the session's own, seeded as a run is):
- medoid4 / medoid8: the medoids of the 4 / 8 biggest clusters, with the members nearest the centre
  (trial_images=medoid, the trial before);
- random-near: the random order's first 4 / 60 images, each with the members of its cluster nearest
  the image (the version tried and reverted in ../clusters-drawn);
- random-core: the same images, each with the members nearest its cluster's centre
  (trial_images=random, the default now).
Usage, from the repository root: python benchmarks/results/clusters-after-trial/offline/trial_rating.py
mnist|photos SEED (its output for seeds 0-2: trial_rating.txt beside it)."""
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "scripts"))
from make_datasets import benchmark_files

from tuilabel.sessions import SimClock
from tuilabel.sessions.clusters import ClustersSession, ClustersSettings, random_order
from tuilabel.workspace import Workspace


def level(share: float) -> float:
    return 1.0 if share == 1.0 else 0.7 if share >= 0.7 else 0.4


def core(c, skip: int) -> np.ndarray:
    """The 6 members nearest the cluster's centre, ``skip`` left out."""
    near = c.members[np.argsort(c.distances)]
    return near[near != skip][:6]


def main() -> None:
    torch.set_num_threads(1)
    name, seed = sys.argv[1], int(sys.argv[2])
    tmp = Path(tempfile.mkdtemp())
    pool_file, test_file = benchmark_files(name, tmp)
    ws = Workspace.init(tmp / "ws", pool_file, test=test_file)
    settings = ClustersSettings(space="auto", seed=seed, classifier="auto")
    session = ClustersSession(ws, settings, clock=SimClock(), save_models=False,
                              **ClustersSession.prepare(ws, settings, save_models=False))
    truth = ws.pool.truth
    order = random_order(len(truth), seed)
    for space, plan in session.trial_plans.items():
        centres = plan.centres
        medoids = [level(np.mean(truth[core(c, c.medoid)] == truth[c.medoid])) for c in centres[:8]]
        near_image, near_centre = [], []
        for i in order[:60]:
            c = next(c for c in centres if i in c.members)
            d = np.linalg.norm(plan.latent[c.members] - plan.latent[i], axis=1)
            near = c.members[np.argsort(d)]
            near = near[near != i][:6]
            near_image.append(level(np.mean(truth[near] == truth[i])))
            near_centre.append(level(np.mean(truth[core(c, i)] == truth[i])))
        print(f"{name} seed {seed} {space:12s} medoid4 {np.mean(medoids[:4]):.3f} medoid8 {np.mean(medoids):.3f} "
              f"random-near4 {np.mean(near_image[:4]):.3f} random-near60 {np.mean(near_image):.3f} "
              f"random-core4 {np.mean(near_centre[:4]):.3f} random-core8 {np.mean(near_centre[:8]):.3f} "
              f"random-core60 {np.mean(near_centre):.3f}", flush=True)


if __name__ == "__main__":
    main()
