"""Acquisition strategies: small pure functions over probability arrays.

``probs`` is ``(n, classes)``, or ``(n, classes, k)`` for k augmentations (or passes) of each
image. Every uncertainty function returns one score per image, higher = more worth labelling.
"""

from __future__ import annotations

import numpy as np

from .cluster import kmeans

EPS = 1e-12


def _mean(probs: np.ndarray) -> np.ndarray:
    return probs.mean(axis=2) if probs.ndim == 3 else probs


def entropy(probs: np.ndarray) -> np.ndarray:
    """Response distribution entropy in bits, averaged over augmentations (seed 001)."""
    h = -(probs * np.log2(probs + EPS)).sum(axis=1)
    return h.mean(axis=1) if h.ndim == 2 else h


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """One minus the top class probability (seed 002)."""
    return 1.0 - _mean(probs).max(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """Minus the gap between the two most probable classes: a small gap is uncertain."""
    top2 = np.sort(_mean(probs), axis=1)[:, -2:]
    return -(top2[:, 1] - top2[:, 0])


def random_scores(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.random(len(probs))


def top_k(scores: np.ndarray, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of the ``k`` highest scores, ties broken at random."""
    tiebreak = (rng or np.random.default_rng(0)).random(len(scores))
    order = np.lexsort((tiebreak, -scores))
    return order[: max(0, k)]


def fusion(probs: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """CEAL fusion (seed 004): the top k/2 by least confidence, margin and entropy each; their
    union without duplicates; k of it at random. When the criteria agree so much that the union
    is smaller than k, each criterion's share grows until it is not."""
    k = min(k, len(probs))
    rankings = [top_k(f(probs), len(probs), rng) for f in (least_confidence, margin, entropy)]
    share = max(1, k // 2)
    while True:
        union = np.unique(np.concatenate([r[:share] for r in rankings]))
        if len(union) >= k or share >= len(probs):
            return rng.permutation(union)[:k]
        share += max(1, (k - len(union)) // 3 + 1)


def diverse(scores: np.ndarray, features: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Uncertainty with diversity: the ``features`` rows (the most uncertain candidates, say) fall
    into ``k`` k-means clusters, and the highest-scoring member of each is chosen, so that a batch is
    not ``k`` copies of one confusion. Returns every index into ``scores``: the ``k`` chosen first
    (highest score first), then the rest by score."""
    n = len(scores)
    k = min(k, n)
    if k <= 1 or k >= n:
        return top_k(scores, n, rng)
    assign = kmeans(features, k, seed=int(rng.integers(2**31)), n_init=1).assignment
    order = top_k(scores, n, rng)
    best: dict[int, int] = {}
    for i in order:
        best.setdefault(int(assign[i]), int(i))
    picked = np.array(sorted(best.values(), key=lambda i: -scores[i]), np.int64)
    return np.concatenate([picked, order[~np.isin(order, picked)]])


TYPICAL_SAMPLE = 20_000  # pool images the first labels' k-means reads at most


def typical(features: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The first labels before any model: the ``features`` row nearest the centre of each of ``k``
    k-means clusters (a medoid: the most typical image of a kind), the largest cluster's first, then
    each the farthest from those before it.
    Labels chosen so cover the pool's kinds where random ones repeat the common kinds."""
    k = min(k, len(features))
    if k <= 0:
        return np.zeros(0, np.int64)
    rows = np.arange(len(features))
    if len(rows) > TYPICAL_SAMPLE:  # a large pool: its kinds are found in a random share of it
        rows = np.sort(np.random.default_rng(seed).choice(rows, TYPICAL_SAMPLE, replace=False))
    result = kmeans(features[rows], k, seed=seed, n_init=3, max_iter=30)
    sizes = np.bincount(result.assignment, minlength=k)
    medoids = []
    for j in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(result.assignment == j)
        if len(members):
            medoids.append(int(rows[members[result.distances[members].argmin()]]))
    # in farthest-first order from the largest cluster's: the first few labels already far apart
    chosen = np.asarray(medoids, np.int64)
    f = np.asarray(features[chosen], np.float32)
    order, nearest = [0], _sq_dists(f, f[:1])[:, 0]
    while len(order) < len(chosen):
        nearest[order] = -np.inf
        nxt = int(nearest.argmax())
        order.append(nxt)
        nearest = np.minimum(nearest, _sq_dists(f, f[nxt:nxt + 1])[:, 0])
    return chosen[order]


def balanced(guesses: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random order, filling up the classes with the fewest labels first: an index's key is its class's
    label count (``counts``, by the class a model guesses for it, ``guesses``) plus its place in a
    random order of that class's candidates, so that labelling in this order levels the counts as
    far as the guesses are right. Returns the candidates' positions, first first."""
    order = rng.permutation(len(guesses))
    rank = np.empty(len(guesses), np.int64)
    for k in np.unique(guesses):
        members = order[guesses[order] == k]
        rank[members] = np.arange(len(members))
    key = counts[guesses] + rank + rng.random(len(guesses))  # ties between classes broken at random
    return np.argsort(key, kind="stable")


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]


STRATEGIES = ("auto", "random", "entropy", "least_confidence", "margin", "fusion")


def select(strategy: str, probs: np.ndarray, k: int, rng: np.random.Generator, front: int = 0) -> np.ndarray:
    """Indices into ``probs`` of the ``k`` images to label next, most worth it first. ("auto" needs
    features: the batch session applies it with `diverse`; here it is entropy.) ``front``: how many
    of them the next round's labels will take (0: all ``k``); fusion samples those from its union
    and ranks the rest by entropy (sampling all of the pool would be the entropy order itself)."""
    if strategy == "auto":
        strategy = "entropy"
    if strategy == "fusion":
        k = min(k, len(probs))
        h = entropy(probs)  # once for the pool: the sample's order and the rest's
        chosen = fusion(probs, min(front, k) if front > 0 else k, rng)
        rest = np.setdiff1d(np.arange(len(probs)), chosen)
        by_entropy = [part[np.argsort(-h[part], kind="stable")] for part in (chosen, rest)]
        return np.concatenate(by_entropy)[:k]
    scorers = {"random": lambda p: random_scores(p, rng), "entropy": entropy,
               "least_confidence": least_confidence, "margin": margin}
    if strategy not in scorers:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    return top_k(scorers[strategy](probs), k, rng)


def exponential_schedule(labelled: int, start: int = 20) -> int:
    """Seed 001: label as many as are already labelled (the training set doubles)."""
    return max(start, labelled)
