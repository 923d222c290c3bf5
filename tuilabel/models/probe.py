"""A linear probe: softmax regression on the contrastive encoder's features, made unit length.

The encoder (``models/contrastive.py``) learns from the pool without labels which images look
alike; a linear classifier on its features needs few labels where those features separate the
classes. On the photographs benchmark set, with the same 80 random labels, it reached 63-69% where
the CNN trained from pixels reached 51% (seeds 0-2); on digits the CNN is far ahead (95% against
73-79%). The clusters mode's ``classifier=auto`` measures which of the two answers better on a
person's labels.

Each feature is standardized by the whole pool's mean and spread (not the few labelled images'),
then the row made unit length again: the unlabelled pool's part in the probe. With random labels
that added 2.5 points at 80 labels on photographs and 3.1 on digits (medians of nine and five
seeds, benchmarks/results/clusters-cover/offline).

Given the pool's neighbour graph (``pool_graph``, ``models/graph.py``), ``fit_items`` trains the
regression on every image the graph holds, each with the class a person's labels spread to it,
instead of on those labels alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from ._io import load_bundle, save_bundle
from .graph import NeighbourGraph
from .linear import SoftmaxRegression

PROBE_L2 = 1e-4  # on unit features: 1e-3 and 1e-2 lost 2-20 points at 32 and 80 labels on photographs


class Encoder(Protocol):
    """What the probe reads images through: the contrastive encoder, or a backbone's stored features."""

    def encode(self, x: np.ndarray) -> np.ndarray: ...


def unit(features: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero)."""
    f = np.asarray(features, np.float32)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


class FeatureProbe:
    """Softmax regression on ``encoder``'s features (unit length, standardized by ``pool``'s: the
    encoder's features of the whole pool, when given); answers for images as a CNN does
    (``predict_proba`` of ``N x C x H x W`` floats in [0, 1]), or for features already encoded."""

    def __init__(self, encoder: Encoder, l2: float = PROBE_L2, seed: int = 0,
                 pool: np.ndarray | None = None, graph: NeighbourGraph | None = None) -> None:
        self.encoder = encoder
        self.head = SoftmaxRegression(l2=l2, max_iter=100, seed=seed)
        units = unit(pool) if pool is not None and len(pool) > 1 else None
        self.shift = units.mean(0) if units is not None else np.zeros(0, np.float32)
        self.scale = units.std(0) + 1e-6 if units is not None else np.zeros(0, np.float32)
        self.graph = graph
        self.trained_on = 0  # rows the head last trained on: a person's labels, or the graph's

    def pool_graph(self, pool: np.ndarray, seed: int = 0, progress: Callable[[int, int], None] | None = None
                   ) -> NeighbourGraph:
        """The neighbour graph of the pool's encoder features as the head reads them (``prepare``);
        ``graph`` of the probes that train on the pool."""
        return NeighbourGraph(self.prepare(pool), seed=seed, progress=progress)

    def fit_items(self, features: np.ndarray, items: np.ndarray, y: np.ndarray, n_classes: int) -> FeatureProbe:
        """Train on pool images ``items`` (their encoder ``features``, their classes ``y``): with a
        graph, on every image the graph holds, each with the class the labels spread to it
        (``NeighbourGraph.propagate``); without one, on the labelled images alone."""
        if self.graph is None:
            return self.fit_features(features, y, n_classes)
        held, classes = self.graph.propagate(items, y, n_classes)
        keep = classes >= 0
        self.head.fit(self.graph.features[held[keep]], classes[keep], n_classes)
        self.n_classes_ = n_classes
        self.trained_on = int(keep.sum())
        return self

    def prepare(self, features: np.ndarray) -> np.ndarray:
        """What the head reads: unit length, standardized by the pool's, unit length again."""
        f = unit(features)
        return unit((f - self.shift) / self.scale) if len(self.shift) else f

    def fit_features(self, features: np.ndarray, y: np.ndarray, n_classes: int) -> FeatureProbe:
        """Train on the encoder's features of the labelled images (as ``encoder.encode`` gives them)."""
        self.head.fit(self.prepare(features), np.asarray(y, np.int64), n_classes)
        self.n_classes_ = n_classes
        self.trained_on = len(y)
        return self

    def proba_of_features(self, features: np.ndarray) -> np.ndarray:
        return self.head.predict_proba(self.prepare(features))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros((0, self.n_classes_), np.float32)
        return self.proba_of_features(self.encoder.encode(np.asarray(x, np.float32)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(1)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

    def save(self, path: Path) -> None:
        """The head alone: the encoder has its own file (``clusters-space``)."""
        h = self.head
        save_bundle(path, {"kind": "probe", "n_classes": self.n_classes_, "l2": h.l2},
                    {"coef": h.coef_.numpy(), "intercept": h.intercept_.numpy(), "mean": h.mean_.numpy(),
                     "shift": self.shift, "scale": self.scale})

    @classmethod
    def load(cls, path: Path, encoder: Encoder) -> FeatureProbe:
        import torch

        header, arrays = load_bundle(path, "probe")
        probe = cls(encoder, l2=float(header["l2"]))
        probe.head.coef_ = torch.as_tensor(arrays["coef"])
        probe.head.intercept_ = torch.as_tensor(arrays["intercept"])
        probe.head.mean_ = torch.as_tensor(arrays["mean"])
        probe.head.n_classes_ = probe.n_classes_ = int(header["n_classes"])
        empty = np.zeros(0, np.float32)  # a file from before the pool's standardization: none
        probe.shift, probe.scale = arrays.get("shift", empty), arrays.get("scale", empty)
        return probe
