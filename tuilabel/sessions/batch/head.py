"""Batch with a backbone (the workspace's pretrained network, ``tuilabel embed``): the ranking comes
from a softmax-regression head on the cached embeddings, refitted every ``HEAD_EVERY`` labels in a
second or so, and the first labels are the pool's most typical images instead of random ones.

Which model answers (the guesses, the accuracy shown) is measured at CNN rounds: the head and the
CNN are cross-validated on the same folds of the person's labels and the better one is the
session's ``learner``. Not before ``COMPARE_FROM`` labels a class, and not in the round after a
decisive lead (the CNN's three fits would delay the next ranking; compared again the round after).
While the head answers, its uncertainty ranks the pool, spread over k-means clusters of the
embeddings; once the CNN answers, its rounds rank as they do without a backbone, but for the random
order before every class has 16 labels, which the head's guesses level (`strategies.balanced`: the
classes with the fewest labels first), so that the CNN is worth asking sooner (digits, seeds 0 and
1: 97.7 and 97.7% at 250 labels, against 97.7 and 97.1% with plain random order).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ... import strategies
from ...models.head import EmbeddingHead
from ..base import Progress, cross_validated, no_progress
from .settings import DIVERSE_POOL

if TYPE_CHECKING:
    from .session import BatchSession

HEAD_EVERY = 10  # labels between the head's refits: the ranking a person sees is at most this old
CV_FOLDS = 3  # folds of the learner's choice
COMPARE_FROM = 4  # labels a class (on average) before the head and the CNN are compared: folds of one or two
# labels a class are noise, and the comparison's three CNN fits delay the early rounds that matter most
DECISIVE = 2.0  # a lead of this many standard errors skips the next round's comparison (then compared again)
LEARNERS = ("head", "cnn")


@dataclass
class HeadJob:
    """A head refit: what it needs, gathered on the session's thread."""

    round: int
    idx: np.ndarray  # labelled pool indices
    y: np.ndarray
    candidates: np.ndarray  # unlabelled pool indices
    n_classes: int
    labels: int
    seconds: float
    round_size: int  # labels until the next refit: how many the ranking's front spreads over


@dataclass
class HeadResult:
    head: EmbeddingHead
    ranking: np.ndarray
    probs: dict[int, np.ndarray]
    uncertainty: dict[int, float]
    accuracy: float | None
    seconds: float = 0.0
    scored: int = 0


def fit(session: BatchSession, idx: np.ndarray, y: np.ndarray, n_classes: int) -> EmbeddingHead:
    assert session.features is not None
    return EmbeddingHead(seed=session.settings.seed).fit(session.features[idx], y, n_classes)


def rank(session: BatchSession, head: EmbeddingHead, candidates: np.ndarray, round_size: int,
         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates by the head's entropy, the next ``round_size`` spread over k-means clusters
    of the embeddings of the most uncertain (another ``strategy`` setting: that order of the head's
    probabilities; random: random order); returns (ranking, probabilities, entropies)."""
    assert session.features is not None
    probs = head.predict_proba(session.features)[candidates]  # the whole pool in place: no 300 MB copy
    scores = strategies.entropy(probs[..., None])
    strategy = session.settings.strategy
    if strategy != "auto":
        return candidates[strategies.select(strategy, probs[..., None], len(candidates), rng, round_size)], \
            probs, scores
    order = strategies.top_k(scores, len(scores), rng)
    top = order[: min(len(order), DIVERSE_POOL * max(1, round_size))]
    front = top[strategies.diverse(scores[top], session.features[candidates[top]], round_size, rng)]
    return candidates[np.concatenate([front, order[len(top):]])], probs, scores


def accuracy(session: BatchSession, head: EmbeddingHead, cv: float | None) -> float | None:
    """The head's test accuracy where there is a test set, else its cross-validated one."""
    test = session.workspace.test
    if session.test_features is not None and test is not None and test.truth is not None:
        return head.score(session.test_features, test.truth)
    return cv


def head_round(session: BatchSession, job: HeadJob, progress: Progress = no_progress) -> HeadResult:
    """Refit the head on every human label and rank the candidates (any thread). Its accuracy is
    the test set's; without one the estimate stays the last CNN round's cross-validation of the
    head (three more fits at every refit took 2 of a refit's 3.3 s on 60,000 images)."""
    t0 = time.perf_counter()
    progress(0.1, f"refitting the head on {len(job.y)} labels")
    head = fit(session, job.idx, job.y, job.n_classes)
    rng = np.random.default_rng(session.settings.seed + 2000 + job.round)
    progress(0.5, f"ranking {len(job.candidates)} images")
    ranking, probs, scores = rank(session, head, job.candidates, job.round_size, rng)
    return HeadResult(head=head, ranking=ranking,
                      probs={int(i): probs[n] for n, i in enumerate(job.candidates)},
                      uncertainty={int(i): float(scores[n]) for n, i in enumerate(job.candidates)},
                      accuracy=accuracy(session, head, None), seconds=time.perf_counter() - t0,
                      scored=len(job.candidates))


def choose_learner(session: BatchSession, idx: np.ndarray, y: np.ndarray, n_classes: int,
                   cnn_predict: Callable[[np.ndarray, np.ndarray], np.ndarray], seed: int) -> dict[str, float | None]:
    """Cross-validated accuracy of the head and of the CNN on the same folds of the labels.
    ``cnn_predict(train, held)`` trains a CNN on one part and returns its classes for the other."""
    scores: dict[str, float | None] = {
        "head": cross_validate(session, idx, y, n_classes, seed),
        "cnn": cross_validated(y, CV_FOLDS, cnn_predict, seed),
    }
    return scores


def worth_comparing(labels: int, n_classes: int, last_lead: float) -> bool:
    """Whether this round compares the learners: enough labels, and the last comparison was not decisive."""
    return labels >= COMPARE_FROM * n_classes and last_lead < DECISIVE


def lead(scores: dict[str, float | None], labels: int) -> float:
    """The winner's lead in standard errors of the difference of two accuracies on ``labels`` labels
    (0 without both figures)."""
    head, cnn = scores.get("head"), scores.get("cnn")
    if head is None or cnn is None or labels <= 0:
        return 0.0
    p = (head + cnn) / 2
    se = max(math.sqrt(2 * p * (1 - p) / labels), 1 / labels)
    return abs(head - cnn) / se


def cross_validate(session: BatchSession, idx: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> float | None:
    """The head alone, cross-validated on the labels (a round that does not compare, without a test set)."""
    return cross_validated(y, CV_FOLDS, lambda tr, held: fit(session, idx[tr], y[tr], n_classes)
                           .predict(session.features[idx[held]]), seed)  # type: ignore[index]


def better(scores: dict[str, float | None], current: str) -> str:
    """The learner with the higher cross-validated accuracy; a tie, or no measure, keeps ``current``."""
    head, cnn = scores.get("head"), scores.get("cnn")
    if head is None or cnn is None or head == cnn:
        return current
    return "head" if head > cnn else "cnn"
