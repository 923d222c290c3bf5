"""A batch round (any thread, no store): retrain the CNN on every human label, score the pool under
augmented views, rank it, and the semi-supervised fits on the guesses the first CNN is sure of."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ... import strategies
from ...models.augment import PRESETS
from ...models.cnn import CNNClassifier
from ..base import COSTS, Progress, choose_augment, cross_validated, no_progress
from . import head as heads
from .settings import (
    ASK_AFTER,
    DIVERSE_POOL,
    MIN_SEMI_EPOCHS,
    PATIENCE,
    SEMI_AGREE,
    SEMI_CONFIDENCE,
    SEMI_STEPS,
    STREAM_WEIGHT,
    TRAIN_PASSES,
    VIEW_BUDGET_CPU,
    on_gpu,
)

if TYPE_CHECKING:
    from .session import BatchSession


@dataclass
class RoundJob:
    """What a round needs, gathered on the session's thread."""

    round: int
    x: np.ndarray
    y: np.ndarray
    labelled_idx: np.ndarray
    candidates: np.ndarray  # unlabelled pool indices to score
    n_classes: int
    labels: int
    seconds: float
    frames_x: np.ndarray | None = None  # labelled stream frames, when settings.stream_frames
    frames_y: np.ndarray | None = None
    round_size: int = 0  # labels until the next round: how many the new ranking's front should spread over
    augment: str = "shift"  # the augmentation so far (auto: the last measured choice)
    augment_checked: int = 0  # auto: labels a class at the last measurement (0: none yet)
    learner: str = "cnn"  # with a backbone: which model answers so far (head.py)
    learner_lead: float = 0.0  # ... and the winner's lead at the last round's comparison (0: none)


@dataclass
class RoundResult:
    model: CNNClassifier
    ranking: np.ndarray  # pool indices, most worth labelling first
    probs: dict[int, np.ndarray]  # pool index -> mean class probabilities over augmentations
    uncertainty: dict[int, float]
    accuracy: float | None
    seconds_train: float
    seconds_score: float
    images_trained: int = 0  # image passes in training (every fit of the round)
    views_scored: int = 0
    tested: int = 0
    guesses: int = 0  # semi: pool images the second CNN trained on with the first one's class
    augment: str = "shift"  # the augmentation this round chose (or was told)
    augment_scores: dict[str, float] = field(default_factory=dict)  # auto: cross-validated accuracy of each
    augment_checked: int = 0
    learner: str = "cnn"  # with a backbone: the model that answers from this round on
    learner_scores: dict[str, float | None] = field(default_factory=dict)  # cross-validated accuracy of each
    learner_lead: float = 0.0  # the winner's lead in standard errors (0: not compared this round)
    head: Any = None  # with a backbone: the head fitted on this round's labels


def new_cnn(session: BatchSession, job: RoundJob, augment: str | None = None,
            epochs: int | None = None) -> CNNClassifier:
    s = session.arch_settings
    return CNNClassifier(arch=s.arch, epochs=epochs or s.epochs, patience=PATIENCE,
                         augment=PRESETS[augment or job.augment], seed=s.seed + job.round)


def measure_augment(session: BatchSession, job: RoundJob, progress: Progress) -> tuple[str, dict[str, float], int, int]:
    """``augment=auto``: ``choose_augment`` on the round's labels (half the epochs a fit).
    Returns the choice, the accuracies, the image passes and the labels a class it was measured at."""
    s = session.arch_settings
    if s.augment != "auto":
        return job.augment, {}, 0, job.augment_checked
    trained = 0

    def fit_predict(kind: str, train: np.ndarray, held: np.ndarray) -> np.ndarray:
        nonlocal trained
        progress(0.05, f"round {job.round}: measuring {kind} augmentation on {len(job.y)} labels")
        model = new_cnn(session, job, kind, epochs=max(1, s.epochs // 2))
        model.fit(job.x[train], job.y[train], job.n_classes)
        trained += model.images_seen_
        return model.predict(job.x[held])

    choice, scores, checked = choose_augment(job.y, job.n_classes, job.augment, job.augment_checked, fit_predict,
                                             s.seed + job.round)
    return choice, scores, trained, checked


def train(session: BatchSession, job: RoundJob, progress: Progress = no_progress) -> RoundResult:
    """The heavy part (any thread): retrain on the human labels, score under augmentation, rank;
    semi-supervised, a second CNN on the labels and the images the first is
    sure of. The candidates' pixels are read once for all of it."""
    s = session.arch_settings
    t0 = time.perf_counter()
    fits = 1 + s.semi
    job.augment, augment_scores, trained, checked = measure_augment(session, job, progress)

    def fit_progress(fit: int, epochs: int) -> Any:
        def step(epoch: int, loss: float) -> None:
            done = (fit * epochs + epoch) / (fits * epochs)
            progress(0.8 * done, f"round {job.round}: training on {len(job.y)} labels, epoch {epoch}/{epochs}")
        return step

    extra_x, extra_y, extra_w = [], [], []
    if job.frames_x is not None and len(job.frames_x):
        assert job.frames_y is not None
        extra_x.append(job.frames_x)
        extra_y.append(job.frames_y)
        extra_w.append(np.full(len(job.frames_y), STREAM_WEIGHT, np.float32))
    model = new_cnn(session, job)
    model.fit(job.x, job.y, job.n_classes, progress=fit_progress(0, s.epochs),
              extra_x=np.concatenate(extra_x) if extra_x else None,
              extra_y=np.concatenate(extra_y) if extra_y else None,
              extra_weight=np.concatenate(extra_w) if extra_w else 1.0)
    trained += model.images_seen_
    scoring, scored = 0.0, 0
    cx = session.pool.as_float(job.candidates)

    def score(model: CNNClassifier, start: float, text: str) -> np.ndarray:
        """The candidates under the round's views, timed and counted."""
        nonlocal scoring, scored
        progress(start, f"round {job.round}: {text} under {views_for(session, len(cx))} views")
        t_score = time.perf_counter()
        probs = score_views(session, model, cx, job.augment, progress, start, f"round {job.round}: {text}")
        scoring += time.perf_counter() - t_score
        scored += probs.shape[0] * probs.shape[2]
        return probs

    probs = score(model, 0.8 / fits, f"scoring {len(job.candidates)} images")
    rng = np.random.default_rng(s.seed + 1000 + job.round)
    scores = strategies.entropy(probs)
    worth_asking = np.bincount(job.y, minlength=job.n_classes).min() >= ASK_AFTER
    learner, head = job.learner, None
    learner_scores: dict[str, float | None] = {}
    lead = 0.0
    if session.features is not None:  # which model answers: measured on the labels' folds
        if heads.worth_comparing(len(job.y), job.n_classes, job.learner_lead):
            learner_scores, cv_trained = measure_learners(session, job, progress)
            trained += cv_trained
            learner = heads.better(learner_scores, job.learner)
            lead = heads.lead(learner_scores, len(job.y))
        head = heads.fit(session, job.labelled_idx, job.y, job.n_classes)
    if head is not None and learner == "head":  # the head answers: its doubts rank the pool
        ranking, head_probs, head_scores = heads.rank(session, head, job.candidates, job.round_size, rng)
        if learner == "head":
            scores = head_scores
    elif s.strategy == "auto" and worth_asking:
        ranking = diverse_ranking(session, model, job, cx, scores, rng)
    elif s.strategy == "auto" and head is not None:  # the CNN answers, but is not worth asking yet: random
        # order levelled by the head's guesses, so that every class reaches ASK_AFTER labels sooner
        assert session.features is not None
        guesses = head.predict_proba(session.features)[job.candidates].argmax(axis=1)  # in place, as heads.rank
        counts = np.bincount(job.y, minlength=job.n_classes)
        ranking = job.candidates[strategies.balanced(guesses, counts, rng)]
    else:  # auto before the model is worth asking: the very order strategy=random gives (paired runs)
        order = "random" if s.strategy == "auto" else s.strategy
        ranking = job.candidates[strategies.select(order, probs, len(job.candidates), rng, job.round_size)]
    mean = probs.mean(axis=2)
    guesses = 0
    base_x, base_y, base_w = list(extra_x), list(extra_y), list(extra_w)
    # more than one step only once every class has ASK_AFTER labels: a weak model's guesses gain
    # little from another pass, and early rounds must keep pace with the labeler
    steps = SEMI_STEPS if worth_asking else 1
    # ... and each semi-supervised fit trains twice as long then: on the sample at 250 labels
    # 98.0 and 98.2% against 97.7 and 97.6% (two label sets, same guesses)
    passes = TRAIN_PASSES * (2 if worth_asking else 1)
    for step in range(steps if s.semi and len(job.candidates) else 0):
        if step:  # the last step's model reads the pool again, under the same views
            probs = score(model, 0.8, "scoring with the semi-supervised model")
            mean = probs.mean(axis=2)
        agree = (probs.argmax(axis=1) == mean.argmax(axis=1)[:, None]).mean(axis=1) >= SEMI_AGREE - 1e-9
        sure = np.flatnonzero(agree & (mean.max(axis=1) >= SEMI_CONFIDENCE))
        most = TRAIN_PASSES // 10  # at least 10 epochs within the budget: a random share of a large pool's
        if len(sure) > most:
            sure = np.sort(np.random.default_rng(s.seed + job.round).choice(sure, most, replace=False))
        guesses = len(sure)
        extra_x = [*base_x, cx[sure]]
        extra_y = [*base_y, mean[sure].argmax(axis=1)]
        extra_w = [*base_w, np.ones(len(sure), np.float32)]
        n_train = len(job.y) + sum(len(e) for e in extra_y)
        epochs = min(s.epochs, max(MIN_SEMI_EPOCHS, -(-passes // n_train)))
        progress(0.8 * (fits - 1) / fits, f"round {job.round}: training on {len(job.y)} labels and "
                                          f"{guesses} sure guesses")
        model = new_cnn(session, job, epochs=epochs)
        model.fit(job.x, job.y, job.n_classes, progress=fit_progress(fits - 1, epochs),
                  extra_x=np.concatenate(extra_x), extra_y=np.concatenate(extra_y),
                  extra_weight=np.concatenate(extra_w))
        trained += model.images_seen_
        mean = model.predict_proba(cx)  # its guesses on the pages
    accuracy = None
    test = session.test_arrays()
    if head is not None and learner == "head":
        mean = head_probs
        cv = learner_scores.get("head") if learner_scores or session.test_features is not None else \
            heads.cross_validate(session, job.labelled_idx, job.y, job.n_classes, s.seed + job.round)
        accuracy = heads.accuracy(session, head, cv)
        if session.test_features is None:
            test = None  # no CNN evaluation charged: the head's accuracy was cross-validated
    elif test is not None:
        accuracy = model.score(*test)
    elif learner_scores:
        accuracy = learner_scores.get("cnn")
    elif s.cv_folds:
        accuracy, cv_trained = cross_validate(session, job, progress)
        trained += cv_trained
    progress(1.0, f"round {job.round}: done")
    return RoundResult(
        model=model, ranking=ranking,
        probs={int(i): mean[n] for n, i in enumerate(job.candidates)},
        uncertainty={int(i): float(scores[n]) for n, i in enumerate(job.candidates)},
        accuracy=accuracy, seconds_train=time.perf_counter() - t0 - scoring,
        seconds_score=scoring, images_trained=trained, views_scored=scored,
        tested=0 if test is None else len(test[1]), guesses=guesses,
        augment=job.augment, augment_scores=augment_scores, augment_checked=checked,
        learner=learner, learner_scores=learner_scores, learner_lead=lead, head=head,
    )


def diverse_ranking(session: BatchSession, model: CNNClassifier, job: RoundJob, cx: np.ndarray, scores: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """``strategy=auto``: the round's worth of labels spread over k-means clusters (of the CNN's
    representation) of the most uncertain candidates, the rest by uncertainty."""
    order = strategies.top_k(scores, len(scores), rng)
    top = order[: min(len(order), DIVERSE_POOL * max(1, job.round_size))]
    features = model.embed(cx[top])
    front = top[strategies.diverse(scores[top], features, job.round_size, rng)]
    return job.candidates[np.concatenate([front, order[len(top):]])]


class _FoldCNN:
    """A CNN trained on one fold of the round's labels, predicting the rest; counts the image passes."""

    def __init__(self, session: BatchSession, job: RoundJob, progress: Progress, text: str) -> None:
        self.session, self.job, self.progress, self.text = session, job, progress, text
        self.trained = 0

    def __call__(self, train: np.ndarray, held: np.ndarray) -> np.ndarray:
        job = self.job
        self.progress(0.95, f"round {job.round}: {self.text} on {len(job.y)} labels")
        model = new_cnn(self.session, job)
        model.fit(job.x[train], job.y[train], job.n_classes)
        self.trained += model.images_seen_
        return model.predict_proba(torch.as_tensor(job.x[held])).argmax(axis=1)


def measure_learners(session: BatchSession, job: RoundJob, progress: Progress) -> tuple[dict[str, float | None], int]:
    """With a backbone: the head and the CNN cross-validated on the same folds of the round's labels."""
    cnn = _FoldCNN(session, job, progress, "comparing the head and the CNN")
    scores = heads.choose_learner(session, job.labelled_idx, job.y, job.n_classes, cnn,
                                  session.arch_settings.seed + job.round)
    return scores, cnn.trained


def cross_validate(session: BatchSession, job: RoundJob, progress: Progress) -> tuple[float | None, int]:
    """Without a test set: the round's recipe cross-validated on its human labels."""
    cnn = _FoldCNN(session, job, progress, "cross-validating")
    return cross_validated(job.y, session.arch_settings.cv_folds, cnn, session.arch_settings.seed + job.round), \
        cnn.trained


def views_for(session: BatchSession, n: int) -> int:
    """Views a round scores each candidate under: the setting, fewer for a large subset on a CPU."""
    k = session.arch_settings.augmentations
    return k if on_gpu() else max(1, min(k, VIEW_BUDGET_CPU // max(n, 1)))


def score_views(session: BatchSession, model: CNNClassifier, cx: np.ndarray, augment: str = "shift",
           progress: Progress = no_progress, start: float = 0.0, what: str = "scoring") -> np.ndarray:
    """Class probabilities of each candidate (``cx``: their pixels as model input) under k
    augmentations: ``(n, classes, k)``."""
    x = torch.as_tensor(cx)
    g = torch.Generator().manual_seed(session.settings.seed)
    transform = PRESETS[augment]
    k = views_for(session, len(cx)) if transform is not None else 1
    passes = [model.predict_proba(x)]  # the image itself is one of the k views
    for view in range(1, k):
        assert transform is not None
        progress(start + (1 - start) * 0.9 * view / k, f"{what}, view {view + 1}/{k}")
        passes.append(model.predict_proba(transform(x, g)))
    return np.stack(passes, axis=2)


def compute_seconds(session: BatchSession, job: RoundJob, result: RoundResult) -> float:
    """The round on the reference CPU: training passes, scored views, the test evaluation."""
    scale = 9.0 if session.arch_settings.arch.startswith("seed") else 1.0  # the seed's nets cost ~9x more
    return scale * (COSTS.cnn_image_epoch * result.images_trained + COSTS.cnn_view * result.views_scored) \
        + COSTS.evaluation_item * result.tested
