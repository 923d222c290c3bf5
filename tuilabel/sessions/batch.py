"""Batch: a CNN ranks the unlabelled pool and pages through the images it is most confused by
(seeds 001, 002, 004).

Each key labels one image and is committed at once. When the labels reach the schedule's next
target (exponential: as many as are already labelled), a round starts: the CNN is retrained on
every human label and the pool is re-scored under augmentation; a second CNN then trains on the
labels and the unlabelled images the first is sure of under most views (semi-supervised). A round
runs beside the labeling: the user keeps paging through the previous ranking, and the new one
replaces it when it is ready.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import strategies
from ..data import shown_id, to_model_input
from ..errors import TuilabelError
from ..models.augment import PRESETS
from ..models.cnn import ARCHITECTURES, CNNClassifier
from ..workspace import Workspace
from .base import COSTS, BaseSession, Clock, CurvePoint, Progress, choose_augment, cross_validated, no_progress
from .paging import Paging
from .settings import MODEL_GROUP, TeamSettings, setting

MODEL = "cnn"  # the model file this mode keeps (see Workspace.model_path)


def on_gpu() -> bool:
    return torch.cuda.is_available()


SCORE_CAP_CPU = 20_000  # unlabelled images a round scores at most, by default (a large pool: a random subset)
SCORE_CAP_GPU = 200_000
VIEW_BUDGET_CPU = 40_000  # augmented views a round scores at most on a CPU: fewer views of a large subset
TRAIN_PASSES = 60_000  # image passes a round's training aims at once the sure guesses swell the training set
DIVERSE_POOL = 10  # uncertainty with diversity: clusters among this many times a round's worth of the most uncertain
ASK_AFTER = 16  # strategy auto: random order until every class has this many labels (a weak model's doubts mislead)
PATIENCE = 15  # early stopping's patience, on a split of the human labels once there are 1,000
SEMI_CONFIDENCE = 0.5  # a sure guess: mean probability over the views at least this ...
SEMI_AGREE = 0.7  # ... and this share of the views giving its class
SEMI_STEPS = 2  # semi-supervised fits a round once every class has ASK_AFTER labels (one before)
STREAM_WEIGHT = 0.5  # weight of a stream frame in training (stream_frames)


@dataclass
class BatchSettings(TeamSettings):
    mode = "batch"
    strategy: str = setting("auto", "how the unlabelled pool is ranked once there is a model; auto: random order "
                                    "until every class has 16 labels, then the most uncertain (entropy) spread "
                                    "over k-means clusters of the CNN's representation",
                            choices=strategies.STRATEGIES)
    schedule: str = setting("exponential", "rounds when the labels double, or every batch_size labels",
                            choices=("exponential", "fixed"))
    batch_size: int = setting(50, "labels per round with the fixed schedule", min=1)
    start: int = setting(20, "random pool images labelled before the first model", min=2)
    augment: str = setting("auto", "augmentation in training and scoring: geometric (seed 001's: rotation, "
                                   "shear, elastic; for strokes such as digits), shift (small moves and scaling; "
                                   "for objects and photographs), none; auto: shift until a round has 4 labels "
                                   "a class, then whichever of the two cross-validates better on the labels",
                           choices=("auto", *PRESETS))
    semi: bool = setting(True, "semi-supervised: after scoring, a second CNN trains on the labels and the pool "
                               "images the first gives one class under most views (semi_agree); it gives the "
                               "guesses and the accuracy")
    stream_frames: bool = setting(False, "also train on every labelled stream frame (at half a label's weight)")
    cv_folds: int = setting(3, "no test set: the accuracy shown is cross-validated on the human labels "
                                   "over this many folds (more CNN training a round); 0 = none", min=0, max=10)
    seed: int = setting(0, "random order before the first model, training and augmentation", min=0)
    arch: str = setting("", "the CNN; empty: seed 001's network on a GPU, the small one on a CPU",
                        choices=("", *ARCHITECTURES), group=MODEL_GROUP)
    epochs: int = setting(40, "training epochs per round", min=1, group=MODEL_GROUP)
    augmentations: int = setting(10, "views per image when scoring (seed 001's k); a large pool on a CPU gets "
                                      "fewer, to 40,000 views a round", min=1, max=100, group=MODEL_GROUP)

    def resolved(self, channels: int) -> BatchSettings:
        """The settings with the architecture decided for this machine: seed 001's network on a GPU."""
        return self.replace(arch=self.arch or (("seed-mnist" if channels == 1 else "seed-cifar") if on_gpu()
                                               else "small"))


def score_subset(arch: str, pool_size: int) -> int:
    """Unlabelled images a round scores (0: all of them), so that a round's ranking keeps pace with
    the labeler: a random 20,000 of a larger pool on a CPU (200,000 on a GPU), 2,000 with seed
    001's networks on a CPU (about 9x slower)."""
    gpu = on_gpu()
    if not gpu and arch.startswith("seed"):
        return 2000
    cap = SCORE_CAP_GPU if gpu else SCORE_CAP_CPU
    return cap if pool_size > cap else 0


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


@dataclass
class PageItem:
    index: int
    item_id: str
    image: np.ndarray
    guess: int | None
    confidence: float | None
    uncertainty: float | None
    label: int | None = None  # what the user gave on this page
    answered: bool = False


@dataclass
class BatchView:
    page: list[PageItem]
    focus: int
    page_number: int
    round: int
    labels: int
    next_round_at: int
    training: bool
    accuracy: float | None
    counts: list[int]
    unsure: int = 0
    history: list[tuple[int, float | None]] = field(default_factory=list)  # (labels, accuracy) per round
    message: str = ""


class BatchSession(Paging, BaseSession):
    mode = "batch"
    settings_class = BatchSettings
    settings: BatchSettings

    def __init__(
        self,
        workspace: Workspace,
        settings: BatchSettings | None = None,
        clock: Clock | None = None,
        annotator: str | None = None,
        save_models: bool = True,
        page_size: int = 12,
    ) -> None:
        super().__init__(workspace, settings, clock, annotator, save_models)
        self.arch_settings = self.settings.resolved(self.pool.channels)  # what training runs with
        self.score_subset = score_subset(self.arch_settings.arch, len(self.pool))
        self.rng = np.random.default_rng(self.settings.seed)
        self.page_size = page_size
        self.augment_choice = self.settings.augment if self.settings.augment != "auto" else "shift"
        self.augment_checked = 0  # auto: labels a class when the choice was last measured
        self.model: CNNClassifier | None = None
        self.round = 0
        self.accuracy: float | None = None
        self.probs: dict[int, np.ndarray] = {}
        self.uncertainty: dict[int, float] = {}
        self.history: list[tuple[int, float | None]] = []
        self.labelled = self._labelled_indices()
        self.ranking = self.rng.permutation(len(self.pool))  # no model yet: random order
        self.next_round_at = max(self.settings.start, self.classified + 1)
        self.resume()
        self.page: list[PageItem] = []
        self.page_number = 0
        self.focus = 0
        self._undo: list[tuple[int, int]] = []  # (page number, pool index) of each answer given
        self._pages: dict[int, list[PageItem]] = {}  # earlier pages, for an undo that reaches back
        self.new_page()

    @property
    def ranking(self) -> np.ndarray:
        """Pool indices, most useful to label first (random before the first model)."""
        return self._ranking

    @ranking.setter
    def ranking(self, order: np.ndarray) -> None:
        self._ranking = order
        self._ranked: list[int] = order.tolist()  # once per ranking, not once per page
        self._front = 0  # the leading run of answered items, passed over

    @property
    def training(self) -> bool:
        return self.updating

    @property
    def spent(self) -> int:
        return len(self.labelled)

    def resume(self) -> None:
        """The CNN and ranking a previous batch session saved: guesses and order from the start."""
        if self.save_models and self.workspace.has_model(MODEL):
            self.model = self.workspace.load_model(MODEL, CNNClassifier.load)
        state = self.load_state()
        if state is None:
            return
        self.round = int(state["round"])
        self.history = [(int(n), a) for n, a in state["history"]]
        self.accuracy = self.history[-1][1] if self.history else None
        ranked = np.array(state["ranking"], dtype=np.int64)
        scored = np.array(state["scored"], dtype=np.int64)
        probs = np.array(state["probs"], dtype=np.float32).reshape(len(scored), -1)
        self.probs = {int(i): probs[n] for n, i in enumerate(scored)}
        self.uncertainty = {int(i): float(u) for i, u in zip(scored, state["uncertainty"])}
        if self.settings.augment == "auto":
            self.augment_choice = state.get("augment", self.augment_choice)
            self.augment_checked = int(state.get("augment_checked", 0))
        if self.model is not None:  # items the saved ranking never saw come after it, in random order
            rest = np.setdiff1d(self.ranking, ranked, assume_unique=True)
            self.ranking = np.concatenate([ranked, self.rng.permutation(rest)])
        self.next_round_at = max(int(state["next_round_at"]), self.classified + 1)
        self.message = f"resumed after round {self.round}: the saved model's ranking and guesses"

    def shown_item(self) -> int | None:
        return self.page[self.focus].index if self.page else None

    # -- pool bookkeeping -----------------------------------------------------------------------

    def _labelled_indices(self) -> set[int]:
        """Items answered (a class or unsure) that are never shown here again: any person's, or with
        overlap, this annotator's and those that ``overlap`` others answered."""
        answered = self.store.labels(("human",))
        self.unsure = {self.pool.index_of(i) for i, label in answered.items() if label is None}
        if self.overlap > 1:
            me = self.store.annotator_of(self.session_id)
            done = self.store.labelled_by(me) | self.store.answered_by_others(me, self.overlap)
            return {self.pool.index_of(i) for i in done}
        return {self.pool.index_of(i) for i in answered}

    @property
    def classified(self) -> int:
        """Answers with a class (not unsure): what the schedule and the screen count."""
        return len(self.labelled) - len(self.unsure)

    def _refill_page(self) -> None:
        self.page = []
        self.page_number -= 1  # the same page number, drawn again
        self.new_page()

    def new_page(self) -> None:
        if self.page:
            self._pages[self.page_number] = self.page
            self.release(item.index for item in self.page if not item.answered)
        shown = {item.index for item in self.page}
        # in ranking order, the first items no other annotator holds (read lazily: a million-item
        # ranking costs what a page takes); the answered run at its front is passed once
        ranked = self._ranked
        while self._front < len(ranked) and ranked[self._front] in self.labelled:
            self._front += 1
        candidates = (i for i in itertools.islice(ranked, self._front, None)
                      if i not in self.labelled and i not in shown)
        self.page = [self._item(i) for i in self.claim(candidates, self.page_size)]
        self.page_number += 1
        self.focus = 0

    def _item(self, index: int) -> PageItem:
        p = self.probs.get(index)
        if p is None and self.model is not None:
            p = self.model.predict_proba(self.pool.as_float(np.array([index])))[0]
        return PageItem(
            index=index,
            item_id=str(self.pool.ids[index]),
            image=self.pool.images[index],
            guess=None if p is None else int(p.argmax()),
            confidence=None if p is None else float(p.max()),
            uncertainty=self.uncertainty.get(index),
        )

    # -- actions --------------------------------------------------------------------------------

    def _answer(self, label: int | None) -> None:
        if not self.page:
            self.message = "nothing left to label"
            return
        item = self.page[self.focus]
        self.store.add(self.session_id, item.item_id, label)
        item.label, item.answered = label, True
        self.labelled.add(item.index)
        if label is None:
            self.unsure.add(item.index)
        self._undo.append((self.page_number, item.index))
        name = "unsure" if label is None else self.pool.class_names[label]
        self.message = f"{shown_id(item.item_id)} -> {name}"
        self._move_on()

    def do_label(self, label: int) -> None:
        """Label the focused image and move to the next."""
        if self.known_class(label):
            self._answer(int(label))

    def do_accept(self) -> None:
        """Accept the model's guess for the focused image."""
        if self.page and self.page[self.focus].guess is not None:
            self._answer(self.page[self.focus].guess)
        else:
            self.message = "no guess yet: the first model comes after the first round"

    def do_unsure(self) -> None:
        """Mark the focused image as not any class / unsure."""
        self._answer(None)

    def do_undo(self) -> None:
        """Take back the last answer and focus that image again."""
        if not self._undo:
            self.message = "nothing to undo"
            return
        page_number, index = self._undo.pop()
        if not self.store.undo(self.session_id):
            self.message = "nothing to undo"
            return
        if page_number != self.page_number:  # the answer was on an earlier page: go back to it
            self._pages[self.page_number] = self.page
            self.page, self.page_number = self._pages.pop(page_number), page_number
        position = next(n for n, it in enumerate(self.page) if it.index == index)
        item = self.page[position]
        self.labelled.discard(item.index)
        self.unsure.discard(item.index)
        item.label, item.answered = None, False
        self.focus = position
        self.message = f"undone: {shown_id(item.item_id)}"

    def do_skip_page(self) -> None:
        """Leave this page unlabelled and show the next one."""
        self.new_page()

    # -- the update cycle: a round ----------------------------------------------------------------

    def due_update(self) -> bool:
        if self.updating or self.classified < self.next_round_at:
            return False
        return len(self.labelled) < len(self.pool)  # nothing left to score: no round

    def snapshot(self) -> RoundJob:
        idx, y = self.human_labels()
        open_items = np.ones(len(self.pool), bool)
        open_items[np.fromiter(self.labelled, np.int64, len(self.labelled))] = False
        unlabelled = np.flatnonzero(open_items).astype(np.int64)
        subset = self.score_subset
        if subset and len(unlabelled) > subset:
            unlabelled = np.sort(self.rng.choice(unlabelled, subset, replace=False))
        self.round += 1
        t = self.round
        self.updating = True
        n = self.classified
        if self.settings.schedule == "exponential":
            self.next_round_at = n + strategies.exponential_schedule(n, self.settings.start)
        else:
            self.next_round_at = n + self.settings.batch_size
        job = RoundJob(t, self.pool.as_float(idx), y, idx, unlabelled, self.pool.n_classes, n,
                       self.elapsed, round_size=self.next_round_at - n, augment=self.augment_choice,
                       augment_checked=self.augment_checked)
        if self.settings.stream_frames:
            job.frames_x, job.frames_y = self._stream_frames()
        return job

    def _stream_frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live labelled stream frame of the workspace's pool shape, as model input."""
        frames, labels = self.store.labelled_samples(self.pool.image_shape)
        return to_model_input(frames), labels

    def _new_cnn(self, job: RoundJob, augment: str | None = None, epochs: int | None = None) -> CNNClassifier:
        s = self.arch_settings
        return CNNClassifier(arch=s.arch, epochs=epochs or s.epochs, patience=PATIENCE,
                             augment=PRESETS[augment or job.augment], seed=s.seed + job.round)

    def _choose_augment(self, job: RoundJob, progress: Progress) -> tuple[str, dict[str, float], int, int]:
        """``augment=auto``: ``choose_augment`` on the round's labels (half the epochs a fit).
        Returns the choice, the accuracies, the image passes and the labels a class it was measured at."""
        s = self.arch_settings
        if s.augment != "auto":
            return job.augment, {}, 0, job.augment_checked
        trained = 0

        def fit_predict(kind: str, train: np.ndarray, held: np.ndarray) -> np.ndarray:
            nonlocal trained
            progress(0.05, f"round {job.round}: measuring {kind} augmentation on {len(job.y)} labels")
            model = self._new_cnn(job, kind, epochs=max(1, s.epochs // 2))
            model.fit(job.x[train], job.y[train], job.n_classes)
            trained += model.images_seen_
            return model.predict(job.x[held])

        choice, scores, checked = choose_augment(job.y, job.n_classes, job.augment, job.augment_checked, fit_predict,
                                                 s.seed + job.round)
        return choice, scores, trained, checked

    def train(self, job: RoundJob, progress: Progress = no_progress) -> RoundResult:
        """The heavy part (any thread): retrain on the human labels, score under augmentation, rank;
        semi-supervised, a second CNN on the labels and the images the first is
        sure of. The candidates' pixels are read once for all of it."""
        s = self.arch_settings
        t0 = time.perf_counter()
        fits = 1 + s.semi
        job.augment, augment_scores, trained, checked = self._choose_augment(job, progress)

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
        model = self._new_cnn(job)
        model.fit(job.x, job.y, job.n_classes, progress=fit_progress(0, s.epochs),
                  extra_x=np.concatenate(extra_x) if extra_x else None,
                  extra_y=np.concatenate(extra_y) if extra_y else None,
                  extra_weight=np.concatenate(extra_w) if extra_w else 1.0)
        trained += model.images_seen_
        scoring, scored = 0.0, 0
        cx = self.pool.as_float(job.candidates)

        def score(model: CNNClassifier, start: float, text: str) -> np.ndarray:
            """The candidates under the round's views, timed and counted."""
            nonlocal scoring, scored
            progress(start, f"round {job.round}: {text}")
            t_score = time.perf_counter()
            probs = self._score(model, cx, job.augment, progress, start, f"round {job.round}: {text}")
            scoring += time.perf_counter() - t_score
            scored += probs.shape[0] * probs.shape[2]
            return probs

        views = self._views(len(job.candidates))
        probs = score(model, 0.8 / fits, f"scoring {len(job.candidates)} images x {views} views")
        rng = np.random.default_rng(s.seed + 1000 + job.round)
        scores = strategies.entropy(probs)
        worth_asking = np.bincount(job.y, minlength=job.n_classes).min() >= ASK_AFTER
        if s.strategy == "auto" and worth_asking:
            ranking = self._diverse_ranking(model, job, cx, scores, rng)
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
            epochs = min(s.epochs, max(10, -(-passes // n_train)))
            progress(0.8 * (fits - 1) / fits, f"round {job.round}: training on {len(job.y)} labels and "
                                              f"{guesses} sure guesses")
            model = self._new_cnn(job, epochs=epochs)
            model.fit(job.x, job.y, job.n_classes, progress=fit_progress(fits - 1, epochs),
                      extra_x=np.concatenate(extra_x), extra_y=np.concatenate(extra_y),
                      extra_weight=np.concatenate(extra_w))
            trained += model.images_seen_
            mean = model.predict_proba(cx)  # its guesses on the pages
        accuracy = None
        test = self.test_arrays()
        if test is not None:
            accuracy = model.score(*test)
        elif s.cv_folds:
            accuracy, cv_trained = self._cross_validate(job, progress)
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
        )

    def _diverse_ranking(self, model: CNNClassifier, job: RoundJob, cx: np.ndarray, scores: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
        """``strategy=auto``: the round's worth of labels spread over k-means clusters (of the CNN's
        representation) of the most uncertain candidates, the rest by uncertainty."""
        order = strategies.top_k(scores, len(scores), rng)
        top = order[: min(len(order), DIVERSE_POOL * max(1, job.round_size))]
        features = model.embed(cx[top])
        front = top[strategies.diverse(scores[top], features, job.round_size, rng)]
        return job.candidates[np.concatenate([front, order[len(top):]])]

    def _cross_validate(self, job: RoundJob, progress: Progress) -> tuple[float | None, int]:
        """Without a test set: the round's recipe cross-validated on its human labels."""
        folds, trained = self.arch_settings.cv_folds, 0

        def fit_predict(train: np.ndarray, held: np.ndarray) -> np.ndarray:
            nonlocal trained
            progress(0.95, f"round {job.round}: cross-validating on {len(job.y)} labels")
            model = self._new_cnn(job)
            model.fit(job.x[train], job.y[train], job.n_classes)
            trained += model.images_seen_
            return model.predict_proba(torch.as_tensor(job.x[held])).argmax(axis=1)

        return cross_validated(job.y, folds, fit_predict, self.arch_settings.seed + job.round), trained

    def _views(self, n: int) -> int:
        """Views a round scores each candidate under: the setting, fewer for a large subset on a CPU."""
        k = self.arch_settings.augmentations
        return k if on_gpu() else max(1, min(k, VIEW_BUDGET_CPU // max(n, 1)))

    def _score(self, model: CNNClassifier, cx: np.ndarray, augment: str = "shift",
               progress: Progress = no_progress, start: float = 0.0, what: str = "scoring") -> np.ndarray:
        """Class probabilities of each candidate (``cx``: their pixels as model input) under k
        augmentations: ``(n, classes, k)``."""
        x = torch.as_tensor(cx)
        g = torch.Generator().manual_seed(self.settings.seed)
        transform = PRESETS[augment]
        k = self._views(len(cx)) if transform is not None else 1
        passes = [model.predict_proba(x)]  # the image itself is one of the k views
        for view in range(1, k):
            assert transform is not None
            progress(start + (1 - start) * 0.9 * view / k, f"{what} {len(cx)} images: view {view + 1}/{k}")
            passes.append(model.predict_proba(transform(x, g)))
        return np.stack(passes, axis=2)

    def compute_seconds(self, job: RoundJob, result: RoundResult) -> float:
        """The round on the reference CPU: training passes, scored views, the test evaluation."""
        scale = 9.0 if self.arch_settings.arch.startswith("seed") else 1.0  # the seed's nets cost ~9x more
        return scale * (COSTS.cnn_image_epoch * result.images_trained + COSTS.cnn_view * result.views_scored) \
            + COSTS.evaluation_item * result.tested

    def persist(self, job: RoundJob, result: RoundResult) -> None:
        """The round's CNN and ranking, so that a reopened batch session starts from them."""
        if not self.save_models:
            return
        result.model.save(self.workspace.model_path(MODEL))
        scored = sorted(result.probs)
        history = [*self.history, (job.labels, result.accuracy)]
        self.save_state({
            "round": job.round, "history": history, "next_round_at": self.next_round_at,
            "ranking": result.ranking.tolist(), "scored": scored,
            "probs": np.round(np.array([result.probs[i] for i in scored]), 5).ravel().tolist(),
            "uncertainty": [round(result.uncertainty[i], 5) for i in scored],
            "augment": result.augment,
            "augment_checked": result.augment_checked,
            "curve": [*self.curve_records(), {"labels": job.labels, "seconds": job.seconds,
                                              "accuracy": result.accuracy, "extra": {"round": job.round}}],
        })

    def apply(self, job: RoundJob, result: RoundResult) -> None:
        """Back on the session's thread: the new ranking, model and curve point."""
        self.model = result.model
        self.probs, self.uncertainty = result.probs, result.uncertainty
        self.ranking = result.ranking
        self.accuracy = result.accuracy
        self.updating = False
        self.augment_choice, self.augment_checked = result.augment, result.augment_checked
        self.history.append((job.labels, result.accuracy))
        self.curve.append(CurvePoint(job.labels, job.seconds, result.accuracy, {
            "round": job.round,
            "seconds_train": round(result.seconds_train, 2), "seconds_score": round(result.seconds_score, 2),
            "scored": len(job.candidates), "images_trained": result.images_trained,
            "views_scored": result.views_scored, "semi_guesses": result.guesses,
            "augment": result.augment, **({"augment_cv": result.augment_scores} if result.augment_scores else {}),
            "estimate": self.estimate(result.accuracy),
        }))
        # refresh guesses on the open page (unscored ones get a direct prediction); order stays
        for item in self.page:
            p = self.probs.get(item.index)
            if p is None:
                p = self.model.predict_proba(self.pool.as_float(np.array([item.index])))[0]
            item.guess, item.confidence = int(p.argmax()), float(p.max())
            item.uncertainty = self.uncertainty.get(item.index)
        self.message = f"round {job.round}: model retrained on {job.labels} labels"

    # -- the view -------------------------------------------------------------------------------

    def view(self) -> BatchView:
        counts = self.store.counts()
        return BatchView(
            page=self.page, focus=self.focus, page_number=self.page_number, round=self.round,
            labels=self.classified, next_round_at=self.next_round_at, training=self.updating,
            unsure=len(self.unsure),
            accuracy=self.accuracy,
            counts=[counts.get(("human", c), 0) for c in range(self.pool.n_classes)],
            history=list(self.history), message=self.message,
        )


# -- `tuilabel train --model cnn` and `tuilabel eval` ------------------------------------------------


def train_cnn(workspace: Workspace, request: Any, progress: Progress = no_progress) -> str:
    """One batch round now, on every human label: the CNN and the pool's ranking, saved for the
    batch mode to resume from."""
    session = BatchSession(workspace, BatchSettings.from_options(request.options), annotator="train")
    idx, _ = session.human_labels()
    if len(idx) < 2:
        raise TuilabelError("fewer than 2 human labels: label some images first", workspace.path)
    result = session.update(progress)
    acc = "" if result.accuracy is None else f"; test accuracy {result.accuracy:.4f}"
    return f"batch CNN trained on {len(idx)} labels, {len(result.ranking)} images ranked{acc}; " \
           f"saved {workspace.model_path(MODEL)}"


def evaluate(workspace: Workspace) -> list[str]:
    if not workspace.has_model(MODEL):
        return []
    model = workspace.load_model(MODEL, CNNClassifier.load)
    test = workspace.test
    assert test is not None and test.truth is not None
    return [f"cnn (batch mode): test accuracy {model.score(test.as_float(), test.truth):.4f}"]
