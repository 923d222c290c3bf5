"""A head on a backbone's cached embeddings: softmax regression, fitted in well under a second.

The features come from a frozen pretrained network (``models/backbones.py``), standardized by the
whole pool's mean and spread. The penalty follows scikit-learn's ``C`` (the loss summed over the
labels plus half the squared weights over ``C``), so that it weakens as the labels grow: on the
photographs set (4,000 images, medians of seeds 0-2) C=0.1 reached 53.4/84.3% at 20/250 random
labels, C=0.01 50.8/84.2 and C=1 54.3/84.0. Each class weighs the same in the loss (few labels are
rarely balanced, least of all the typical first ones): +0.4 to +3.9 points at 20 random labels on
the three benchmark sets, level at 250 (docs/decisions/backbones.md).
"""

from __future__ import annotations

import numpy as np

from .linear import SoftmaxRegression

HEAD_C = 0.1  # inverse penalty strength, as scikit-learn's LogisticRegression(C=...)
HEAD_ITERATIONS = 200  # L-BFGS steps a fit takes at most


def pool_features(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The square root of the (non-negative, pooled ReLU6) features, standardized by the pool:
    returns the pool's features and the shift and scale that bring other images (a test set) alike.
    The square root evens out a few large channels: +2 to +6 points at 20 random labels on
    photographs, the same at 250."""
    root = np.sqrt(np.maximum(np.asarray(raw, np.float32), 0))
    shift, scale = root.mean(0), root.std(0) + 1e-6
    return (root - shift) / scale, shift, scale


def like_pool(raw: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Other images' features standardized as the pool's (``pool_features``)."""
    return (np.sqrt(np.maximum(np.asarray(raw, np.float32), 0)) - shift) / scale


class EmbeddingHead:
    """Softmax regression on standardized embeddings; ``predict_proba`` takes feature rows."""

    def __init__(self, c: float = HEAD_C, seed: int = 0) -> None:
        self.c = c
        self.seed = seed

    def fit(self, features: np.ndarray, y: np.ndarray, n_classes: int) -> EmbeddingHead:
        l2 = 1.0 / (2.0 * self.c * max(len(y), 1))
        self.model_ = SoftmaxRegression(l2=l2, max_iter=HEAD_ITERATIONS, seed=self.seed, balanced=True)
        self.model_.fit(np.asarray(features, np.float32), np.asarray(y, np.int64), n_classes)
        self.n_classes_ = n_classes
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities of feature rows; the rows are read in place, not copied (a pool of
        60,000 x 1,280 is 300 MB): the regression's centring folds into its intercept."""
        import torch

        if not len(features):
            return np.zeros((0, self.n_classes_), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(features, np.float32))
        w = self.model_.coef_
        logits = x @ w + (self.model_.intercept_ - self.model_.mean_ @ w)
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.predict_proba(features).argmax(axis=1)

    def score(self, features: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(features) == np.asarray(y)).mean())
