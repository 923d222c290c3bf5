"""Label propagation over the pool's nearest-neighbour graph: how the feature probe learns from the
unlabelled pool.

Each pool image is joined to its ``k`` most similar images (cosine similarity of the probe's
features, weight ``max(s, 0) ** power``), the graph made symmetric and normalized as
``D^-1/2 W D^-1/2``; a person's labels then spread along it, ``F <- alpha W F + (1 - alpha) Y``
(Zhou et al., "Learning with local and global consistency", 2004), each class's mass is evened out
and every image takes its likeliest class, as Iscen et al. ("Label propagation for deep
semi-supervised learning", 2019) pseudo-label a pool. The probe's softmax regression then trains on
the whole graph's labels instead of a person's few: on the 60,000-photograph pool that lifted random
order's test accuracy by 9.7-13.5 points at 32-80 labels (medians of seeds 0-2,
benchmarks/results/clusters-graph).

A large pool's graph holds ``GRAPH_NODES`` of its images (a fixed random subset) and, at each fit,
the labelled images outside them, each joined to its ``k`` nearest in the subset: the k-nearest
search grows with the square of the nodes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GRAPH_NODES = 20_000  # pool images in the graph; a larger pool's others join it only when labelled
GRAPH_K = 10  # neighbours an image is joined to
GRAPH_POWER = 3  # weight max(similarity, 0) ** power: the nearest count most
GRAPH_ALPHA = 0.99  # how far labels spread against staying where a person put them
GRAPH_STEPS = 20  # propagation steps
BLOCK = 2048  # rows of the similarity matrix at a time


def nearest(queries: np.ndarray, points: np.ndarray, k: int, skip_self: bool = False,
            progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar ``points`` (unit rows) of each query (unit rows): indices and cosine
    similarities, the most similar first; ``skip_self``: queries are ``points`` and none is its own neighbour."""
    import torch

    p = torch.as_tensor(np.ascontiguousarray(points, np.float32))
    k = max(1, min(k, len(points) - (1 if skip_self else 0)))
    index = np.zeros((len(queries), k), np.int64)
    value = np.zeros((len(queries), k), np.float32)
    for start in range(0, len(queries), BLOCK):
        s = torch.as_tensor(np.ascontiguousarray(queries[start:start + BLOCK], np.float32)) @ p.T
        if skip_self:
            rows = torch.arange(s.shape[0])
            s[rows, rows + start] = -2.0
        v, i = s.topk(k, dim=1)
        index[start:start + len(v)], value[start:start + len(v)] = i.numpy(), v.numpy()
        if progress is not None:
            progress(min(start + BLOCK, len(queries)), len(queries))
    return index, value


class NeighbourGraph:
    """The k-nearest-neighbour graph of (at most ``GRAPH_NODES`` of) the pool's features (unit rows,
    as the probe reads them); ``propagate`` spreads labels along it."""

    def __init__(self, features: np.ndarray, seed: int = 0, k: int = GRAPH_K, max_nodes: int = GRAPH_NODES,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.features = np.asarray(features, np.float32)
        n = len(self.features)
        self.k = k
        if n > max_nodes:
            self.nodes = np.sort(np.random.default_rng([seed, 2000]).choice(n, max_nodes, replace=False))
        else:
            self.nodes = np.arange(n)
        self.index, self.similarity = nearest(self.features[self.nodes], self.features[self.nodes], k,
                                              skip_self=True, progress=progress)

    @property
    def pairs(self) -> int:
        """Similarities the graph took to build: nodes x nodes."""
        return len(self.nodes) ** 2

    def propagate(self, items: np.ndarray, labels: np.ndarray, n_classes: int, alpha: float = GRAPH_ALPHA,
                  steps: int = GRAPH_STEPS) -> tuple[np.ndarray, np.ndarray]:
        """Spread ``labels`` of pool images ``items`` over the graph. Returns the pool images the
        graph holds (its nodes and ``items``) and each one's class: a person's where given, else the
        class whose evened-out share of the spread reaches it most (-1 where none reaches it)."""
        import torch

        items = np.asarray(items, np.int64)
        labels = np.asarray(labels, np.int64)
        extra = np.setdiff1d(items, self.nodes)  # labelled images outside the graph's nodes (sorted)
        held = np.concatenate([self.nodes, extra])
        inside = np.searchsorted(self.nodes, items)  # the nodes are sorted: an item's row among them
        inside = np.minimum(inside, len(self.nodes) - 1)
        at_rows = np.where(self.nodes[inside] == items, inside, len(self.nodes) + np.searchsorted(extra, items))
        rows, cols, weights = [np.repeat(np.arange(len(self.nodes)), self.index.shape[1]), self.index.ravel(),
                               self.similarity.ravel()]
        if len(extra):
            index, value = nearest(self.features[extra], self.features[self.nodes], self.k)
            rows = np.concatenate([rows, np.repeat(len(self.nodes) + np.arange(len(extra)), index.shape[1])])
            cols = np.concatenate([cols, index.ravel()])
            weights = np.concatenate([weights, value.ravel()])
        m = len(held)
        w = np.maximum(weights, 0.0) ** GRAPH_POWER
        r = torch.as_tensor(np.concatenate([rows, cols]))
        c = torch.as_tensor(np.concatenate([cols, rows]))
        v = torch.as_tensor(np.concatenate([w, w]).astype(np.float32))
        degree = torch.zeros(m).index_add_(0, r, v)
        inv = 1.0 / torch.sqrt(torch.clamp(degree, min=1e-12))
        matrix = torch.sparse_coo_tensor(torch.stack([r, c]), v * inv[r] * inv[c], (m, m),
                                         check_invariants=False).coalesce()
        seeds = torch.zeros(m, n_classes)
        at = torch.as_tensor(at_rows, dtype=torch.int64)
        seeds[at, torch.as_tensor(labels)] = 1.0
        spread = seeds.clone()
        for _ in range(steps):
            spread = alpha * (matrix @ spread) + (1 - alpha) * seeds
        spread = spread / torch.clamp(spread.sum(0, keepdim=True), min=1e-12)  # even out the classes' mass
        out = spread.argmax(1).numpy().astype(np.int64)
        out[spread.sum(1).numpy() <= 0] = -1
        out[at.numpy()] = labels
        return held, out
