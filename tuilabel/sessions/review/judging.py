"""How review judges a label: out-of-fold probabilities from CNNs that never saw it (cross-fitting),
confident learning's flags and a doubt score per label: pure functions of probability arrays, and
the folds' training (any thread, no store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...models.cnn import CNNClassifier
from ..base import Progress

if TYPE_CHECKING:
    from .session import ReviewSession


@dataclass
class ReviewJob:
    round: int
    items: np.ndarray  # pool indices of the labelled items
    labels: np.ndarray  # their stored labels
    weights: np.ndarray  # their confidences
    x: np.ndarray  # model input of the items
    n_classes: int
    reviewed: int
    seconds: float
    augment: str = "shift"  # the judging CNNs' augmentation
    # augment=auto before it is known: the out-of-fold agreement of the kinds already fitted on these
    # same labels and folds ({} in the first round); None: the augmentation is settled, nothing measured
    measured: dict[str, float] | None = None
    folds_of: int = 0  # the round whose folds and fold seeds these are (0: this one)
    judge: str = "cnn"  # who judges: "cnn" (a CNN a fold), or "head" (the backbone's head a fold: seconds)
    contest: float | None = None  # a CNN measured against the head: the head's out-of-fold agreement


@dataclass
class ReviewResult:
    probs: np.ndarray  # (n, classes): out-of-sample class probabilities of job.items
    flagged: np.ndarray  # (n,) bool: confident learning's likely errors
    accuracy: float | None  # the folds' ensemble on the test set
    images_trained: int
    scored: int
    tested: int
    seconds: float
    augment: str = "shift"  # the augmentation the folds trained with
    augment_scores: dict[str, float] = field(default_factory=dict)  # measured: out-of-fold agreement of each
    chosen: str | None = None  # once every kind is measured on the same labels: the better one
    judge: str = "cnn"
    agreement: float = 0.0  # out-of-fold agreement of the judges with the stored labels
    contest: float | None = None  # the head's agreement this CNN round was measured against (None: no contest)


def doubt_scores(probs: np.ndarray, labels: np.ndarray, score: str = "self_confidence") -> np.ndarray:
    """How strongly out-of-sample probabilities disagree with the stored labels, in [0, 1]."""
    n = np.arange(len(labels))
    given = probs[n, labels]
    if score == "self_confidence":
        return 1.0 - given
    other = probs.copy()
    other[n, labels] = -1.0
    return (other.max(1) - given + 1.0) / 2.0  # the normalised margin, mapped to [0, 1]


def confident_errors(probs: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Confident learning's flag (Northcutt et al.): an item is a likely error when some other class
    reaches that class's threshold (the mean probability the model gives it on items labelled with
    it) and the most probable such class is not the stored one."""
    thresholds = np.array([probs[labels == k, k].mean() if (labels == k).any() else 1.0 for k in range(n_classes)])
    above = probs >= thresholds[None, :] - 1e-12
    masked = np.where(above, probs, -1.0)
    best = masked.argmax(1)
    return above.any(1) & (best != labels)


def head_cross_fit(session: ReviewSession, job: ReviewJob, folds: np.ndarray, progress: Progress,
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """As `cross_fit`, with the backbone's head a fold (a second each): the held-out probabilities and
    the folds' mean on the test set's embeddings (None without them)."""
    from ...models.head import EmbeddingHead

    assert session.features is not None
    s = session.settings
    x = session.features[job.items]
    probs = np.zeros((len(job.items), job.n_classes), np.float32)
    test = session.test_features if session.workspace.test is not None else None
    test_probs = None if test is None else np.zeros((len(test), job.n_classes), np.float32)
    for k in range(s.folds):
        held = folds == k
        progress(k / s.folds, f"review round {job.round}: judging fold {k + 1}/{s.folds} with the pretrained head")
        head = EmbeddingHead(seed=s.seed + k).fit(x[~held], job.labels[~held], job.n_classes)
        if held.any():
            probs[held] = head.predict_proba(x[held])
        if test is not None and test_probs is not None:
            test_probs += head.predict_proba(test) / s.folds
    return probs, test_probs


def cross_fit(session: ReviewSession, job: ReviewJob, folds: np.ndarray, folds_of: int,
              test: tuple[np.ndarray, np.ndarray] | None,
              progress: Progress) -> tuple[np.ndarray, np.ndarray | None, int]:
    """One fold model per fold, trained with ``job.augment`` (seeded by the round ``folds_of``,
    so that two kinds measured on the same labels differ only in their augmentation): the
    held-out probabilities, the folds' mean on the test set (None without one) and the image passes."""
    s = session.settings
    probs = np.zeros((len(job.items), job.n_classes), np.float32)
    test_probs = None if test is None else np.zeros((len(test[1]), job.n_classes), np.float32)
    trained = 0
    # a round that only measures another augmentation says so (the ranking shown stays meanwhile)
    what = f"trying {job.augment} augmentation" if job.measured else f"review round {job.round}"
    for k in range(s.folds):
        held = folds == k
        train_idx = np.flatnonzero(~held)
        progress(k / s.folds, f"{what}: judging fold {k + 1}/{s.folds} "
                 f"({held.sum()} labels) with a CNN trained on the other {len(train_idx)}")
        model = session.fold_model(len(train_idx), s.seed + 100 * folds_of + k, job.augment)

        def step(epoch: int, loss: float, fold: int = k, model: CNNClassifier = model) -> None:
            progress((fold + epoch / model.epochs) / s.folds,
                     f"{what}: fold {fold + 1}/{s.folds}, epoch {epoch}/{model.epochs}")

        model.fit(job.x[train_idx], job.labels[train_idx], job.n_classes,
                  sample_weight=job.weights[train_idx], progress=step)
        trained += model.images_seen_
        if held.any():
            probs[held] = model.predict_proba(job.x[held])
        if test is not None and test_probs is not None:
            test_probs += model.predict_proba(test[0]) / s.folds
    return probs, test_probs, trained
