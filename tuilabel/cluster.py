"""k-means with the elbow method, and the clustering metrics of seed 004 (ACC, NMI, ARI).

Plain functions over arrays, no UI and no model imports: the clusters session and `tuilabel eval`
both use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


@dataclass
class KMeansResult:
    centres: np.ndarray  # (k, d)
    assignment: np.ndarray  # (n,) cluster of each point
    distances: np.ndarray  # (n,) Euclidean distance of each point to its centre
    inertia: float  # sum of squared distances


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 4, max_iter: int = 100) -> KMeansResult:
    """Lloyd's algorithm from k-means++ starts; the best of ``n_init`` runs by inertia."""
    X = torch.as_tensor(np.asarray(x, dtype=np.float32))
    n = len(X)
    k = max(1, min(int(k), n))
    g = torch.Generator().manual_seed(seed)
    best: KMeansResult | None = None
    for _ in range(n_init):
        centres = _kmeans_pp(X, k, g)
        for _ in range(max_iter):
            assign = torch.cdist(X, centres).argmin(1)
            new = torch.zeros_like(centres).index_add_(0, assign, X)
            counts = torch.bincount(assign, minlength=k).float()
            empty = counts == 0
            new = new / counts.clamp_min(1)[:, None]
            if empty.any():  # an emptied cluster restarts on the point farthest from its centre
                far = torch.cdist(X, new).min(1).values.argsort(descending=True)[: int(empty.sum())]
                new[empty] = X[far]
            if torch.allclose(new, centres, atol=1e-6):
                centres = new
                break
            centres = new
        d = torch.cdist(X, centres)
        dist, assign = d.min(1)
        inertia = float((dist**2).sum())
        if best is None or inertia < best.inertia:
            best = KMeansResult(centres.numpy(), assign.numpy(), dist.numpy(), inertia)
    assert best is not None
    return best


def nearest_centre(x: np.ndarray, centres: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """The nearest of ``centres`` to each row of ``x`` (in chunks: a large pool never holds all distances)."""
    X, C = torch.as_tensor(np.asarray(x, dtype=np.float32)), torch.as_tensor(np.asarray(centres, dtype=np.float32))
    if not len(X):
        return np.zeros(0, np.int64)
    return torch.cat([torch.cdist(X[i:i + chunk], C).argmin(1) for i in range(0, len(X), chunk)]).numpy()


def _kmeans_pp(X: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    first = int(torch.randint(len(X), (1,), generator=g))
    centres = [X[first]]
    d2 = ((X - X[first]) ** 2).sum(1)
    for _ in range(1, k):
        total = float(d2.sum())
        if total <= 0:
            pick = int(torch.randint(len(X), (1,), generator=g))
        else:
            pick = int(torch.multinomial(d2 / total, 1, generator=g))
        centres.append(X[pick])
        d2 = torch.minimum(d2, ((X - X[pick]) ** 2).sum(1))
    return torch.stack(centres)


def elbow(inertias: dict[int, float]) -> int:
    """The k at the elbow of the inertia curve: the point farthest below the chord joining its two
    ends, with both axes scaled to [0, 1] (the "kneedle" rule)."""
    ks = np.array(sorted(inertias))
    if len(ks) < 3:
        return int(ks[0])
    v = np.array([inertias[k] for k in ks], dtype=np.float64)
    xs = (ks - ks[0]) / (ks[-1] - ks[0])
    span = v[0] - v[-1]
    ys = (v - v[-1]) / span if span > 0 else np.zeros_like(v)
    chord = 1.0 - xs  # the line from (0, 1) to (1, 0)
    return int(ks[int(np.argmax(chord - ys))])


def choose_k(x: np.ndarray, k_min: int, k_max: int, seed: int = 0) -> tuple[int, dict[int, float]]:
    """Cluster for each k in ``[k_min, k_max]`` and pick the elbow; also returns every inertia."""
    inertias = {k: kmeans(x, k, seed=seed, n_init=2).inertia for k in range(k_min, k_max + 1)}
    return elbow(inertias), inertias


# -- metrics ----------------------------------------------------------------------------------------


def _contingency(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    t = np.unique(np.asarray(truth), return_inverse=True)[1]
    p = np.unique(np.asarray(pred), return_inverse=True)[1]
    table = np.zeros((t.max() + 1, p.max() + 1), dtype=np.int64)
    np.add.at(table, (t, p), 1)
    return table


def clustering_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """Unsupervised clustering accuracy: the best one-to-one map of clusters to classes (Hungarian
    matching); with more clusters than classes, the unmatched clusters count as wrong."""
    if len(truth) == 0:
        return float("nan")
    table = _contingency(truth, pred)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(truth))


def nmi(truth: np.ndarray, pred: np.ndarray) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's default)."""
    table = _contingency(truth, pred).astype(np.float64)
    n = table.sum()
    if n == 0:
        return float("nan")
    pt, pp = table.sum(1) / n, table.sum(0) / n
    pij = table / n
    nz = pij > 0
    mi = float((pij[nz] * np.log(pij[nz] / np.outer(pt, pp)[nz])).sum())
    ht = float(-(pt[pt > 0] * np.log(pt[pt > 0])).sum())
    hp = float(-(pp[pp > 0] * np.log(pp[pp > 0])).sum())
    if ht == 0 and hp == 0:
        return 1.0
    denom = (ht + hp) / 2
    return mi / denom if denom > 0 else 0.0


def ari(truth: np.ndarray, pred: np.ndarray) -> float:
    """Adjusted Rand index (Hubert and Arabie)."""
    table = _contingency(truth, pred).astype(np.float64)
    n = table.sum()

    def pairs(v: np.ndarray) -> float:
        return float((v * (v - 1) / 2).sum())

    index = pairs(table)
    a, b = pairs(table.sum(1)), pairs(table.sum(0))
    total = n * (n - 1) / 2
    expected = a * b / total if total else 0.0
    maximum = (a + b) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def clustering_report(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    known = np.asarray(truth) >= 0
    t, p = np.asarray(truth)[known], np.asarray(pred)[known]
    return {"acc": clustering_accuracy(t, p), "nmi": nmi(t, p), "ari": ari(t, p)}
