"""Shared set-up of the offline checks in this folder: a benchmark data set's workspace (made once
under DIR by scripts/make_datasets.py's benchmark_files), its contrastive encoder with the default
settings (seed 0; trained once, about 150 s on one core, saved in the workspace), and the pool's and
test set's features scaled to length 1. Each check: python CHECK.py photos|mnist DIR"""
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from make_datasets import benchmark_files  # noqa: E402

from tuilabel.models.probe import unit  # noqa: E402
from tuilabel.sessions.clusters import ClustersSettings, load_or_train_encoder  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402


def setup() -> tuple:
    """(dataset name, workspace, encoder, pool features, pool truth, test features, test truth)."""
    torch.set_num_threads(1)
    name, folder = sys.argv[1], Path(sys.argv[2]) / sys.argv[1]
    if not (folder / "ws").exists():
        folder.mkdir(parents=True, exist_ok=True)
        pool_file, test_file = benchmark_files(name, folder)
        Workspace.init(folder / "ws", pool_file, test=test_file)
    ws = Workspace(folder / "ws")
    encoder = load_or_train_encoder(ws, ClustersSettings(), ws.pool.as_float())
    f, ft = unit(encoder.encode(ws.pool.as_float())), unit(encoder.encode(ws.test.as_float()))
    return name, ws, encoder, f, np.asarray(ws.pool.truth), ft, np.asarray(ws.test.truth)


def weighted_probe(f: np.ndarray, y: np.ndarray, w: np.ndarray, ft: np.ndarray, ty: np.ndarray, l2: float,
                   n_classes: int = 10) -> float:
    """Test accuracy of softmax regression (as models/linear.py fits it) with per-label loss weights."""
    x, yt, wt = torch.as_tensor(f), torch.as_tensor(y).long(), torch.as_tensor(w, dtype=torch.float32)
    mean = x.mean(0)
    x = x - mean
    coef = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([coef, bias], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (torch.nn.functional.cross_entropy(x @ coef + bias, yt, reduction="none") * wt).sum() / wt.sum()
        loss = loss + l2 * (coef * coef).sum()
        loss.backward()
        return loss

    opt.step(closure)
    pred = ((torch.as_tensor(ft) - mean) @ coef + bias).argmax(1).numpy()
    return float((pred == ty).mean())
