"""The spread's evidence: what a label spread to a cluster weighs beside a person's.

A label spreads to every member of its cluster with weight ``w_n = p_c exp(-a d_n)`` (seed 003's
equation 2). What those labels then weigh in training is the spread weight S, measured: each time a
person labels an image that an earlier label had spread to, that `Checks` the spread label, and
S = 2q - 1, how much more often the checks agreed than not. The person's own word (the mean
confidence c they gave the clusters' labels) counts as `PRIOR_CHECKS` checks beside the real ones,
and before the first check it is all there is (S = 2c - 1). The spread labels together take at
most S of the CNN's training draws (`share_scale`), and a later epoch shows medoids for S of its
images (`earned_share`). docs/decisions/clusters.md has the measurements behind each rule.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from .settings import PRIOR_CHECKS


@dataclass
class Checks:
    """A person's labels on images that carried a spread label: how many agreed with it, of how many."""

    agreed: int = 0
    checked: int = 0

    def add(self, agreed: bool, sign: int = 1) -> None:
        self.agreed += sign * int(agreed)
        self.checked += sign

    def as_list(self) -> list[int]:
        return [self.agreed, self.checked]


def spread_weight(checks: Checks, confidence: float | None, saved: float | None = None) -> float:
    """S: 2q - 1 for q = (agreed + 1 + m c)/(checked + 2 + m), m = `PRIOR_CHECKS`, c the mean
    confidence the person gave (``confidence``; without it, the checks alone, Laplace-smoothed).
    Before the first check: 2c - 1, else ``saved`` (a reopened session's), else 1."""
    if not checks.checked:
        if confidence is None:
            return saved if saved is not None else 1.0
        return float(np.clip(2 * confidence - 1, 0.0, 1.0))
    q = (checks.agreed + 1) / (checks.checked + 2)
    if confidence is not None:
        q = (checks.agreed + 1 + PRIOR_CHECKS * confidence) / (checks.checked + 2 + PRIOR_CHECKS)
    return float(np.clip(2 * q - 1, 0.0, 1.0))


def spread_rows(ids: np.ndarray, members: np.ndarray, distances: np.ndarray, label: int, p_c: float, a: float,
                leave_out: Set[int | None]) -> list[tuple[str, int, float]]:
    """Equation 2: ``label`` for each of ``members`` but ``leave_out``, weighed w_n = p_c exp(-a d_n),
    as the store's rows (item id, label, weight)."""
    weights = p_c * np.exp(-a * distances)
    return [(str(ids[i]), label, float(w)) for i, w in zip(members, weights) if int(i) not in leave_out]


def label_masses(labels: np.ndarray, weights: np.ndarray, taken: np.ndarray) -> tuple[float, float]:
    """The summed weights of the spread labels and of a person's (``taken``): their shares of the draws."""
    has = labels >= 0
    return float(weights[has & ~taken].sum()), float(weights[has & taken].sum())


def share_scale(spread: float, people: float, cap: float) -> float:
    """What the spread labels' weights (``spread`` in all) are multiplied by so that they take at most
    ``cap`` of the draws beside a person's (``people`` in all): 1 where they take no more already, or
    where there is no person's label to weigh them against."""
    if cap >= 1 or spread <= 0 or people <= 0 or spread <= cap / (1 - cap) * people:
        return 1.0
    return cap / (1 - cap) * people / spread


def weigh(labels: np.ndarray, weights: np.ndarray, taken: np.ndarray, factor: float) -> np.ndarray:
    """The training weights: a person's labels as they are, the spread labels times ``factor`` (S)
    and scaled so that together they take at most S of the draws."""
    out = weights.copy()
    spread, people = label_masses(labels, weights, taken)
    out[(labels >= 0) & ~taken] *= factor * share_scale(factor * spread, people, factor)
    return out


def earned_share(show: str, factor: float | None, learner: str = "cnn") -> float:
    """The share of a later epoch's centres that are medoids of the least sure clusters: the spread's
    weight (1 before there is one); none where the encoder's features answer (``learner``): there
    random images taught them more than the medoids; 1 where decoded centres are shown."""
    if show != "medoid" or factor is None:
        return 1.0
    if learner == "features":
        return 0.0
    return float(np.clip(factor, 0.0, 1.0))
