"""Experiment (issue 45): a softmax-regression head on a backbone's cached embeddings, with the labels
chosen at random, as k-means medoids (typical images), or by the head's uncertainty spread over k-means
clusters after medoid starts. Test accuracy at 20..500 labels, median of seeds.

Usage: python experiments/head_selection.py WS [WS ...] [--seeds 0 1 2] [--c 0.1]
(each WS made by `tuilabel init ... --backbone efficientnet-lite0` and `tuilabel embed`)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuilabel import embeddings, strategies
from tuilabel.cluster import kmeans
from tuilabel.models.head import like_pool, pool_features
from tuilabel.models.linear import SoftmaxRegression
from tuilabel.workspace import Workspace

LEVELS = (20, 40, 80, 160, 250, 500)


def head(f: np.ndarray, y: np.ndarray, k: int, c: float) -> SoftmaxRegression:
    return SoftmaxRegression(l2=1.0 / (2 * c * max(len(y), 1)), max_iter=200).fit(f, y, k)


def medoids(f: np.ndarray, n: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """The image nearest each of n k-means centres."""
    r = kmeans(f, n, seed=seed, n_init=1, max_iter=30)
    out = []
    for j in range(n):
        members = np.flatnonzero(r.assignment == j)
        if len(members):
            out.append(members[r.distances[members].argmin()])
    return np.array(out)


def run(ws: Workspace, how: str, seed: int, c: float) -> dict[int, float]:
    pool, shift, scale = pool_features(embeddings.load(ws, ws.backbone))
    test = like_pool(embeddings.load(ws, ws.backbone, "test"), shift, scale)
    truth, ty, k = ws.pool.truth, ws.test.truth, ws.pool.n_classes
    rng = np.random.default_rng(seed)
    out: dict[int, float] = {}
    if how == "random":
        order = rng.permutation(len(pool))
        for n in LEVELS:
            out[n] = head(pool[order[:n]], truth[order[:n]], k, c).score(test, ty)
        return out
    labelled = medoids(pool, LEVELS[0], seed)
    if how == "medoids":
        for n in LEVELS:
            idx = medoids(pool, n, seed)
            out[n] = head(pool[idx], truth[idx], k, c).score(test, ty)
        return out
    # active: medoids first, then pages of 10 by margin spread over clusters of the 100 most uncertain
    while len(labelled) <= LEVELS[-1]:
        model = head(pool[labelled], truth[labelled], k, c)
        if len(labelled) in LEVELS:
            out[len(labelled)] = model.score(test, ty)
        rest = np.setdiff1d(np.arange(len(pool)), labelled)
        probs = model.predict_proba(pool[rest])
        scores = strategies.margin(probs[..., None]) if how == "margin" else strategies.entropy(probs[..., None])
        top = strategies.top_k(scores, min(100, len(rest)), rng)
        pick = top[strategies.diverse(scores[top], pool[rest][top], 10, rng)]
        labelled = np.concatenate([labelled, rest[pick]])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workspaces", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--how", default="random,medoids,entropy")
    parser.add_argument("--c", type=float, default=0.1)
    args = parser.parse_args()
    for path in args.workspaces:
        ws = Workspace(path)
        for how in args.how.split(","):
            runs = [run(ws, how, s, args.c) for s in args.seeds]
            row = "  ".join(f"{n}:{100 * statistics.median(r[n] for r in runs):5.1f}" for n in LEVELS)
            print(f"{Path(path).name:12s} {how:8s} {row}", flush=True)


if __name__ == "__main__":
    main()
