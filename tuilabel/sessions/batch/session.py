"""The batch session: pages of the ranking, a label per key, the update cycle (rounds.py trains)."""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import strategies
from ...calibration import fit_temperature, scaled
from ...data import shown_id, to_model_input
from ...errors import TuilabelError
from ...models.cnn import CNNClassifier
from ...workspace import Workspace
from .. import backbone
from ..base import COSTS, BaseSession, Clock, CurvePoint, Progress, no_progress
from ..paging import Paging
from . import alike, rounds
from . import head as heads
from .head import HeadJob, HeadResult
from .rounds import RoundJob, RoundResult
from .settings import MODEL, BatchSettings, score_subset

CHECKS_KEPT = 200  # the latest labels whose earlier guess calibrates the confidence shown
CALIBRATE_EVERY = 5  # checks between refits of the temperature on the key path (and at every update)


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
    selected: bool | None = None  # on a look-alike page: whether a number key labels it (None elsewhere)


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
    learner: str | None = None  # with a backbone: "head" or "cnn", the model that answers
    alike: str | None = None  # a look-alike page is open: the id of the image whose look-alikes these are


class BatchSession(backbone.UsesBackbone, Paging, BaseSession):
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
        features: np.ndarray | None = None,
        test_features: np.ndarray | None = None,
    ) -> None:
        super().__init__(workspace, settings, clock, annotator, save_models)
        self.take_features(workspace, features, test_features)
        self.learner = "head" if self.features is not None else "cnn"  # which model answers (head.py)
        self.learner_lead = 0.0  # the winner's lead at the last round's comparison (head.worth_comparing)
        self.head: Any = None
        self.head_at = 0  # labels at the head's last refit
        self.ranked_at = 0  # labels of the update whose ranking is shown
        self.head_rounds = 0
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
        # what the model said of each item before its label (out-of-sample): the confidence shown is
        # scaled by the temperature these checks give (tuilabel.calibration), and hidden until they can
        self.checks: deque[tuple[int, np.ndarray, int]] = deque(maxlen=CHECKS_KEPT)
        self.temperature: float | None = None
        self._checked = 0  # checks taken in this session
        self.labelled = self._labelled_indices()
        self.ranking = self.rng.permutation(len(self.pool))  # no model yet: random order
        if self.features is not None and self.settings.strategy == "auto":  # ... or the most typical first
            first = strategies.typical(self.features, self.settings.start, self.settings.seed)
            self.ranking = np.concatenate([first, self.ranking[~np.isin(self.ranking, first)]])
        self.next_round_at = max(self.settings.start, self.classified + 1)
        self.resume()
        if self.settings.predictions and self.model is None and self.head is None:
            self._start_from_predictions()
        self.page: list[PageItem] = []
        self.page_number = 0
        self.focus = 0
        # (page number, pool index) of each answer given; a look-alike page's labels: (page, their indices)
        self._undo: list[tuple[int, int | tuple[int, ...]]] = []
        self.alike: PageItem | None = None  # the image whose look-alike page is open (do_similar)
        self._alike_return: tuple[list[PageItem], int] = ([], 0)  # the page and focus it was opened from
        self._norms: np.ndarray | None = None
        self._pages: dict[int, list[PageItem]] = {}  # earlier pages, for an undo that reaches back
        self.new_page()

    def _start_from_predictions(self) -> None:
        """The imported predictions as a first model's would be: guesses, and the pool ranked by the
        strategy's score on them (random order after the items they leave out)."""
        from ...importing import load_predictions

        predicted = load_predictions(self.workspace)
        if predicted is None:
            raise TuilabelError("predictions=true: no predictions yet; bring a model's in with "
                                "`tuilabel import WS FILE --as predictions`", self.workspace.path)
        known = np.flatnonzero(~np.isnan(predicted).any(axis=1))
        strategy = "entropy" if self.settings.strategy in ("auto", "fusion") else self.settings.strategy
        order = known[strategies.select(strategy, predicted[known], len(known), self.rng)]
        self.probs = {int(i): predicted[i] for i in known}
        self.ranking = np.concatenate([order, self.ranking[~np.isin(self.ranking, order)]])
        self.message = f"the first pages: what the imported predictions of {len(known)} images are least sure of"

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
        if self.features is not None:
            self.learner = state.get("learner", self.learner) if state.get("learner") in heads.LEARNERS else "head"
            self.learner_lead = float(state.get("learner_lead", 0.0))
        if isinstance(state.get("temperature"), (int, float)):
            self.temperature = float(state["temperature"])  # until this session's own checks fit one
            self.head_at = -heads.HEAD_EVERY  # refitted at once (a second): its guesses and ranking
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

    def _probs_of(self, index: int) -> np.ndarray | None:
        """Class probabilities of a pool item from the model that answers: the last ranking's,
        else a direct prediction (an item the round did not score); None before any model."""
        p = self.probs.get(index)
        if p is None and self.learner == "head" and self.head is not None:
            assert self.features is not None
            p = self.head.predict_proba(self.features[[index]])[0]
        elif p is None and self.model is not None:
            p = self.model.predict_proba(self.pool.as_float(np.array([index])))[0]
        return p

    def _confidence(self, p: np.ndarray) -> float | None:
        """The guess's probability as shown: scaled to what the checks measured; None before them."""
        return None if self.temperature is None else float(scaled(p, self.temperature).max())

    def _calibrate(self) -> None:
        # checks of the model that answers now (a class added since: earlier ones have fewer columns)
        checks = [(p, y) for _, p, y in self.checks if len(p) == self.pool.n_classes]
        if checks:  # too few checks say nothing: what an earlier session fitted stays meanwhile
            fitted = fit_temperature(np.stack([p for p, _ in checks]), np.array([y for _, y in checks]))
            self.temperature = fitted if fitted is not None else self.temperature

    def _item(self, index: int) -> PageItem:
        p = self._probs_of(index)
        return PageItem(
            index=index,
            item_id=str(self.pool.ids[index]),
            image=self.pool.images[index],
            guess=None if p is None else int(p.argmax()),
            confidence=None if p is None else self._confidence(p),
            uncertainty=self.uncertainty.get(index),
        )

    # -- actions --------------------------------------------------------------------------------

    def _answer(self, label: int | None) -> None:
        if not self.page:
            self.message = "nothing left to label"
            return
        item = self.page[self.focus]
        self.store.add(self.session_id, item.item_id, label)
        said = None if item.guess is None else self._probs_of(item.index)
        if said is not None and label is not None:
            self.checks.append((item.index, said.copy(), label))  # a row of its round's probabilities: not the whole
            self._checked += 1
            if self._checked % CALIBRATE_EVERY == 0:  # not on every key: a new temperature a few labels on
                self._calibrate()
                for other in self.page:
                    p = None if other.answered or other.guess is None else self._probs_of(other.index)
                    if p is not None:
                        other.confidence = self._confidence(p)
        item.label, item.answered = label, True
        self.labelled.add(item.index)
        if label is None:
            self.unsure.add(item.index)
        self._undo.append((self.page_number, item.index))
        name = "unsure" if label is None else self.pool.class_names[label]
        self.message = f"{shown_id(item.item_id)} -> {name}"
        self._move_on()

    def do_label(self, label: int) -> None:
        """Label the focused image and move to the next; on a look-alike page, every selected one."""
        if not self.known_class(label):
            return
        if self.alike is not None:
            alike.label(self, int(label))
        else:
            self._answer(int(label))

    def do_accept(self) -> None:
        """Accept the model's guess for the focused image."""
        if self.alike is not None:
            self.message = "look-alikes: a number labels the selected ones; Esc goes back"
            return
        if self.page and self.page[self.focus].guess is not None:
            self._answer(self.page[self.focus].guess)
        else:
            self.message = "no guess yet: the first model comes after the first round"

    def do_unsure(self) -> None:
        """Mark the focused image as not any class / unsure."""
        if self.alike is not None:
            self.message = "look-alikes: a number labels the selected ones; Esc goes back"
            return
        self._answer(None)

    # -- look-alikes: the focused image's nearest neighbours, labelled with one key ----------------

    def do_similar(self) -> None:
        """A page of the focused image's look-alikes (nearest open images in the backbone's space),
        all selected: a number key labels every selected one, space drops or takes back the focused
        one, Esc goes back to the ranked page (`alike.py`)."""
        alike.open_page(self)

    def do_toggle(self) -> None:
        """On a look-alike page: drop the focused image from what a number key labels, or take it back."""
        if self.alike is None or not self.page:
            return
        item = self.page[self.focus]
        if not item.answered:
            item.selected = not item.selected
            self.do_next()

    def do_leave_alike(self) -> None:
        """Back to the ranked page, labelling nothing more."""
        if self.alike is not None:
            alike.close(self, set())

    def resize_page(self, size: int) -> None:
        """A look-alike page keeps what still fits (nothing unseen is labelled); else as `Paging`."""
        if self.alike is None:
            super().resize_page(size)
        else:
            alike.resize(self, size)

    def do_undo(self) -> None:
        """Take back the last answer and focus that image again."""
        if not self._undo:
            self.message = "nothing to undo"
            return
        if self.alike is not None:
            alike.close(self, set())
        page_number, index = self._undo.pop()
        if isinstance(index, tuple):  # a look-alike page's labels: taken back together
            undone = self.store.undo(self.session_id, n=len(index))
            for i in index:
                self.labelled.discard(i)
            for it in [*self.page, *itertools.chain.from_iterable(self._pages.values())]:
                if it.index in index:
                    it.label, it.answered = None, False
            self.message = f"undone: {len(undone)} look-alikes"
            return
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
        if self.checks and self.checks[-1][0] == item.index:
            self.checks.pop()  # taken back: not a check
        item.label, item.answered = None, False
        self.focus = position
        self.message = f"undone: {shown_id(item.item_id)}"

    def do_skip_page(self) -> None:
        """Leave this page unlabelled and show the next one."""
        if self.alike is not None:
            alike.close(self, set())
        self.new_page()

    # -- the update cycle: a round ----------------------------------------------------------------

    def due_update(self) -> bool:
        if self.updating or self.classified < self.next_round_at:
            return False
        return len(self.labelled) < len(self.pool)  # nothing left to score: no round

    def due_refresh(self) -> bool:
        """The head refits every HEAD_EVERY labels while it answers (and so ranks the pool)."""
        if self.features is None or self.refreshing or len(self.labelled) >= len(self.pool):
            return False
        if self.classified < self.settings.start or self.classified - self.head_at < heads.HEAD_EVERY:
            return False
        return self.learner == "head"

    def _open_items(self) -> np.ndarray:
        open_items = np.ones(len(self.pool), bool)
        open_items[np.fromiter(self.labelled, np.int64, len(self.labelled))] = False
        return np.flatnonzero(open_items).astype(np.int64)

    def refresh_snapshot(self) -> HeadJob:
        idx, y = self.human_labels()
        self.refreshing = True
        self.head_rounds += 1
        self.head_at = n = self.classified
        return HeadJob(self.head_rounds, idx, y, self._open_items(), self.pool.n_classes, n, self.elapsed,
                       heads.HEAD_EVERY)

    def snapshot(self) -> RoundJob:
        return self._round_job()

    def _round_job(self) -> RoundJob:
        idx, y = self.human_labels()
        unlabelled = self._open_items()
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
                       augment_checked=self.augment_checked, learner=self.learner,
                       learner_lead=self.learner_lead)
        if self.settings.stream_frames:
            job.frames_x, job.frames_y = self._stream_frames()
        return job

    def _stream_frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live labelled stream frame of the workspace's pool shape, as model input."""
        frames, labels = self.store.labelled_samples(self.pool.image_shape)
        return to_model_input(frames), labels

    def train(self, job: RoundJob | HeadJob, progress: Progress = no_progress) -> RoundResult | HeadResult:
        if isinstance(job, HeadJob):
            return heads.head_round(self, job, progress)
        return rounds.train(self, job, progress)

    def compute_seconds(self, job: RoundJob | HeadJob, result: RoundResult | HeadResult) -> float:
        if isinstance(job, HeadJob):
            return COSTS.head_fit + COSTS.head_item * len(job.candidates)
        assert isinstance(result, RoundResult)
        return rounds.compute_seconds(self, job, result)

    def persist(self, job: RoundJob | HeadJob, result: RoundResult | HeadResult) -> None:
        """The round's CNN and ranking, so that a reopened batch session starts from them."""
        if not self.save_models:
            return
        if isinstance(result, HeadResult):
            return  # refitted in a second when the session opens again
        result.model.save(self.workspace.model_path(MODEL))
        learner = result.learner
        scored = sorted(result.probs)
        history = [*self.history, (job.labels, result.accuracy)]
        self.save_state({
            "round": self.round, "history": history, "next_round_at": self.next_round_at,
            "ranking": result.ranking.tolist(), "scored": scored,
            "probs": np.round(np.array([result.probs[i] for i in scored]), 5).ravel().tolist(),
            "uncertainty": [round(result.uncertainty[i], 5) for i in scored],
            "augment": result.augment,
            "augment_checked": result.augment_checked,
            "learner": learner, "learner_lead": result.learner_lead,
            "temperature": self.temperature,  # the confidence's calibration so far (calibration.py)
            "curve": [*self.curve_records(), {
                "labels": job.labels, "seconds": job.seconds, "accuracy": result.accuracy,
                "extra": {"round": self.round, "learner": learner, "estimate": self.estimate(result.accuracy)}}],
        })

    def apply(self, job: RoundJob | HeadJob, result: RoundResult | HeadResult) -> None:
        """Back on the session's thread: the new ranking, model and curve point."""
        if isinstance(job, HeadJob):
            assert isinstance(result, HeadResult)
            self._apply_head(job, result)
            return
        assert isinstance(result, RoundResult)
        self.learner, self.learner_lead = result.learner, result.learner_lead
        self.model = result.model
        if job.labels >= self.ranked_at:  # not older than the head's last refit
            self.ranked_at = job.labels
            self.head = result.head or self.head
            self.probs, self.uncertainty = result.probs, result.uncertainty
            self.ranking = result.ranking
            self.accuracy = result.accuracy
        elif result.learner == "cnn":  # the CNN answers from now on: its figure, whatever refit came since
            self.accuracy = result.accuracy
        self.updating = False
        self.augment_choice, self.augment_checked = result.augment, result.augment_checked
        bisect.insort(self.history, (job.labels, result.accuracy), key=lambda h: h[0])
        bisect.insort(self.curve, CurvePoint(job.labels, job.seconds, result.accuracy, {
            "round": job.round,
            "seconds_train": round(result.seconds_train, 2), "seconds_score": round(result.seconds_score, 2),
            "scored": len(job.candidates), "images_trained": result.images_trained,
            "views_scored": result.views_scored, "semi_guesses": result.guesses,
            "augment": result.augment, **({"augment_cv": result.augment_scores} if result.augment_scores else {}),
            "estimate": self.estimate(result.accuracy),
            **({"learner": result.learner, "learner_cv": result.learner_scores} if result.learner_scores else {}),
        }), key=lambda p: p.labels)  # in label order: refits of the head may have landed first
        self._refresh_page()
        self.message = f"round {job.round}: model retrained on {job.labels} labels" + (
            f"; the {'pretrained head' if self.learner == 'head' else 'CNN'} answers" if self.features is not None
            else "")

    def _refresh_page(self) -> None:
        """Guesses on the open page from the model that answers (unscored ones get a direct
        prediction); the order stays. The temperature is fitted again first."""
        self._calibrate()
        for item in self.page:
            p = self._probs_of(item.index)
            if p is not None:
                item.guess, item.confidence = int(p.argmax()), self._confidence(p)
            item.uncertainty = self.uncertainty.get(item.index)

    def _apply_head(self, job: HeadJob, result: HeadResult) -> None:
        self.refreshing = False
        if job.labels < self.ranked_at or self.learner != "head":
            return  # a CNN round with more labels landed meanwhile, or the CNN answers (and ranks) now
        self.ranked_at = job.labels
        self.head = result.head
        self.ranking = result.ranking
        if self.learner == "head":
            self.probs, self.uncertainty = result.probs, result.uncertainty
            if result.accuracy is not None:  # a test set: a point of the curve (else the round's estimate stays)
                self.accuracy = result.accuracy
                self.history.append((job.labels, result.accuracy))
                self.curve.append(CurvePoint(job.labels, job.seconds, result.accuracy, {
                    "head_round": job.round, "learner": "head", "seconds_head": round(result.seconds, 3),
                    "scored": result.scored, "estimate": self.estimate(result.accuracy)}))
            self._refresh_page()
        self.message = f"ranking refreshed: the head refitted on {job.labels} labels"

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
            learner=None if self.features is None else self.learner,
            alike=None if self.alike is None else self.alike.item_id,
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
