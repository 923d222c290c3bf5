"""A representation of the pool learned without labels: principal components of the pixels.

Each image is standardised on its own first (its mean brightness and contrast removed, per
channel), so that what the components keep is the image's pattern rather than its exposure or
colour cast. Fitted on a random sample, so that the cost does not grow with the pool beyond the
projection. Used for the cold start (`strategies.typical`) before any model exists.
"""

from __future__ import annotations

import numpy as np


def standardised(x: np.ndarray) -> np.ndarray:
    """``N x C x H x W`` floats to ``N x (C*H*W)``, each image and channel at mean 0, unit spread."""
    flat = x.reshape(len(x), x.shape[1], -1).astype(np.float32)
    flat = flat - flat.mean(axis=2, keepdims=True)
    flat = flat / (flat.std(axis=2, keepdims=True) + 1e-3)
    return flat.reshape(len(x), -1)


def pca_features(x: np.ndarray, dims: int = 32, sample: int = 3000, seed: int = 0) -> np.ndarray:
    """``x`` (``N x C x H x W`` in [0, 1]) projected on the first ``dims`` principal components of
    a sample of at most ``sample`` of its standardised images."""
    rng = np.random.default_rng(seed)
    flat = standardised(x)
    fit = flat if len(flat) <= sample else flat[rng.choice(len(flat), sample, replace=False)]
    mean = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    return ((flat - mean) @ vt[:dims].T).astype(np.float32)
