"""Trains the clusters mode's contrastive encoder (settings seed S) on a workspace's pool and saves pool
and test features to /tmp/off60/featS.npz. Usage: python enc.py WS S"""

import sys

import numpy as np
import torch

from tuilabel.sessions.clusters import ClustersSettings, load_or_train_encoder
from tuilabel.workspace import Workspace

torch.set_num_threads(1)

s = int(sys.argv[2])
ws = Workspace(sys.argv[1])
x = ws.pool.as_float()
enc = load_or_train_encoder(ws, ClustersSettings(seed=s), x, save_models=False)  # as a simulated run trains it
np.savez(
    f"/tmp/off60/feat{s}.npz",
    pool=enc.encode(x),
    test=enc.encode(ws.test.as_float()),
    truth=np.asarray(ws.pool.truth),
    ty=np.asarray(ws.test.truth),
)
print("done", s)
