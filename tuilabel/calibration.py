"""A model's confidence as a person may read it: temperature scaling (Guo et al. 2017) fitted on the
labels themselves.

The probabilities a model gave an item before a person labelled it are out-of-sample for that model
(it had not trained on the label), so each label is one held-out check of what the model said. One
temperature ``T`` over the latest checks, chosen by log-likelihood, turns ``p`` into ``p ** (1/T)``
renormalised: the argmax stays, the percentage shown says how often such a guess was right. Numpy only.
"""

from __future__ import annotations

import numpy as np

MIN_CHECKS = 20  # held-out labels before a temperature is fitted: fewer say too little
TEMPERATURES = np.geomspace(0.25, 20.0, 48)  # the grid searched (T > 1 softens an overconfident model)


def scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` (..., classes) at ``temperature``: ``p ** (1/T)``, renormalised over the classes."""
    logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, None)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=-1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """The temperature with the highest log-likelihood of ``labels`` under ``probs`` (n, classes)
    scaled by it; None with fewer than ``MIN_CHECKS`` checks."""
    probs, labels = np.asarray(probs), np.asarray(labels, np.int64)
    if len(labels) < MIN_CHECKS:
        return None
    logp = np.log(np.clip(probs.astype(np.float64), 1e-12, None))
    z = logp[None] / TEMPERATURES[:, None, None]  # (temperatures, n, classes), all at once
    z -= z.max(axis=2, keepdims=True)
    ll = (z[:, np.arange(len(labels)), labels] - np.log(np.exp(z).sum(axis=2))).sum(axis=1)
    return float(TEMPERATURES[int(np.argmax(ll))])
