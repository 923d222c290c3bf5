"""Browse: the pool in random order, one image at a time, labeled by number keys.

The first user of the session interface and the random-order baseline every mode is compared
against. Its learner is softmax regression on pixels, retrained on a doubling schedule.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..data import shown_id
from ..workspace import Workspace
from .base import COSTS, BaseSession, Clock, CurvePoint, Progress, cross_validated, no_progress
from .settings import TeamSettings, setting


def doubling_schedule(first: int = 10, every_after: int = 1280) -> list[int]:
    """Label counts at which to retrain: 10, 20, 40, ... then every ``every_after``."""
    points, n = [], first
    while n < every_after:
        points.append(n)
        n *= 2
    points.extend(range(every_after, 1_000_000, every_after))
    return points


CV_FOLDS = 5  # without a test set, browse's accuracy is cross-validated over this many folds


@dataclass
class BrowseSettings(TeamSettings):
    mode = "browse"
    seed: int = setting(0, "order of the pool (the app picks a fresh one unless given)", min=0)
    learn: bool = setting(True, "retrain the softmax regression as labels come in")
    first_update: int = setting(10, "labels before the first model; the schedule doubles from there to 1,280, then "
                                    "retrains every 1,280", min=1)


@dataclass
class TrainJob:
    """What a model update needs, gathered on the session's thread; training can run elsewhere."""

    x: np.ndarray
    y: np.ndarray
    n_classes: int
    labels: int
    seconds: float


@dataclass
class BrowseView:
    image: np.ndarray | None
    item_id: str | None
    position: int  # how many images of the pool this session has moved past
    total: int
    counts: list[int]  # human labels per class in the whole workspace
    unsure: int
    labels_spent: int  # by this session
    guess: int | None  # the model's guess for the image shown
    guess_p: float | None
    accuracy: float | None
    can_undo: bool
    can_redo: bool
    message: str
    done: bool


LOOKAHEAD = 4  # items leased ahead of the one shown


class BrowseSession(BaseSession):
    mode = "browse"
    settings_class = BrowseSettings
    settings: BrowseSettings

    def __init__(
        self,
        workspace: Workspace,
        settings: BrowseSettings | None = None,
        clock: Clock | None = None,
        annotator: str | None = None,
        save_models: bool = True,
    ) -> None:
        super().__init__(workspace, settings, clock, annotator, save_models)
        rng = np.random.default_rng(self.settings.seed)
        already: Collection[str] = self.store.labels(("human",)).keys()
        if self.overlap > 1:  # this annotator's own, and those with enough opinions already
            me = self.store.annotator_of(self.session_id)
            already = self.store.labelled_by(me) | self.store.answered_by_others(me, self.overlap)
        order = rng.permutation(len(self.pool))
        if already:  # resume: what is labelled leaves the order
            done = np.zeros(len(self.pool), bool)
            known = [item for item in already if self.pool.has(item)]
            done[self.pool.indices_of(known)] = True
            order = order[~done[order]]
        self.order = order.tolist()
        self.position = 0
        self.history: list[tuple[int, int | None]] = []  # (position, event id or None for skip)
        self.redo_stack: list[int] = []
        self.schedule = doubling_schedule(self.settings.first_update)
        self.next_update = 0
        self.model: Any = None  # a SoftmaxRegression once the first update has run
        self.accuracy: float | None = None
        self._guess: tuple[int, float] | None = None
        self._held: set[int] = set()  # items leased to this session
        # reopened on labels: the softmax regression is refitted on them at once (a second), so that
        # guesses and the curve go on where the last session left them (its saved curve, `persist`)
        self.load_state()
        self._refit = self.settings.learn and len(already) >= self.settings.first_update
        self._settle()

    def _settle(self) -> None:
        """Make the item at ``position`` one this session holds: items another annotator holds (or
        labelled since this session began) leave the order. Leases are taken a few items ahead, so
        that most keys need no claim of their own."""
        while self.position < len(self.order):
            if self.order[self.position] in self._held:
                return
            window = self.order[self.position:self.position + 256]
            got = self.claim(window, LOOKAHEAD)
            if not got:
                del self.order[self.position:self.position + len(window)]
                continue
            self._held.update(got)
            last = window.index(got[-1])  # before it, whatever was not handed out is someone else's
            self.order[self.position:self.position + last + 1] = [i for i in window[:last + 1] if i in self._held]

    @property
    def labels_spent(self) -> int:
        """Labels with a class this session has given and not taken back (from the store)."""
        return self.store.session_counts(self.session_id)[0]

    @property
    def spent(self) -> int:
        return self.labels_spent

    # -- actions --------------------------------------------------------------------------------

    def _record(self, label: int | None) -> None:
        item = self.current_index
        if item is None:
            self.message = "the pool is done"
            return
        event = self.store.add(self.session_id, str(self.pool.ids[item]), label)
        self.history.append((self.position, event))
        self.redo_stack.clear()
        self.position += 1
        self._settle()
        self._guess = None
        name = "unsure" if label is None else self.pool.class_names[label]
        self.message = f"{shown_id(str(self.pool.ids[item]))} -> {name}"

    def do_label(self, label: int) -> None:
        """Label the image shown and move on."""
        if not self.known_class(label):
            return
        self._record(int(label))

    def do_unsure(self) -> None:
        """Mark the image as not any class / unsure and move on."""
        self._record(None)

    def do_skip(self) -> None:
        """Move on without labeling."""
        if self.current_index is None:
            return
        self.history.append((self.position, None))
        self.release([self.order[self.position]])
        self._held.discard(self.order[self.position])
        self.position += 1
        self._settle()
        self._guess = None

    def do_undo(self) -> None:
        """Take back the last label (or skip) and show that image again."""
        if not self.history:
            self.message = "nothing to undo"
            return
        position, event = self.history.pop()
        if event is not None:
            self.store.undo(self.session_id)
            self.redo_stack.append(event)
        self.position = position
        self._guess = None
        self.message = f"undone: back to {shown_id(str(self.pool.ids[self.order[position]]))}"

    def do_redo(self) -> None:
        """Bring back the label just undone."""
        if not self.redo_stack or not self.store.redo(self.session_id):
            self.message = "nothing to redo"
            return
        event = self.redo_stack.pop()
        self.history.append((self.position, event))
        self.position += 1
        self._settle()
        self._guess = None
        self.message = "redone"

    # -- the update cycle: softmax regression on every human label ----------------------------------

    def due_update(self) -> bool:
        return self.settings.learn and not self.updating and (self._refit or (
            self.next_update < len(self.schedule) and self.labels_spent >= self.schedule[self.next_update]))

    def snapshot(self) -> TrainJob:
        idx, y = self.human_labels()
        self._refit = False
        while self.next_update < len(self.schedule) and self.schedule[self.next_update] <= self.labels_spent:
            self.next_update += 1
        self.updating = True
        return TrainJob(self.pool.as_float(idx), y, self.pool.n_classes, len(y), self.elapsed)

    def train(self, job: TrainJob, progress: Progress = no_progress) -> tuple[Any, float | None]:
        from ..models.linear import SoftmaxRegression  # torch loads on the first update, not at start

        progress(None, f"softmax regression on {len(job.y)} labels")
        model = SoftmaxRegression().fit(job.x, job.y, job.n_classes)
        test = self.test_arrays()
        if test is not None:
            return model, model.score(*test)
        # no test set: 5-fold cross-validation on the human labels (the model is small)
        accuracy = cross_validated(job.y, CV_FOLDS, lambda train, held: SoftmaxRegression().fit(
            job.x[train], job.y[train], job.n_classes).predict_proba(job.x[held]).argmax(axis=1))
        return model, accuracy

    def apply(self, job: TrainJob, result: tuple[Any, float | None]) -> None:
        self.model, self.accuracy = result
        self.updating = False
        self._guess = None
        extra = {"estimate": self.estimate(self.accuracy)}
        if not self.curve or self.curve[-1].labels != job.labels:  # a reopening's refit on the same labels: once
            self.curve.append(CurvePoint(job.labels, job.seconds, self.accuracy, extra))

    def persist(self, job: TrainJob, result: tuple[Any, float | None]) -> None:
        """The learning curve, for `tuilabel report` and the next session (the model is refitted)."""
        point = CurvePoint(job.labels, job.seconds, result[1], {"estimate": self.estimate(result[1])})
        curve = [p for p in self.curve_records() if p["labels"] != job.labels]
        self.save_state({"curve": [*curve, asdict(point)]})

    def compute_seconds(self, job: TrainJob, result: Any) -> float:
        test = self.workspace.test
        fits = 1 if test is not None else 1 + CV_FOLDS
        tested = len(test) if test is not None else 0
        return COSTS.linear_image * len(job.y) * fits + COSTS.evaluation_item * tested / 10

    # -- the view -------------------------------------------------------------------------------

    @property
    def current_index(self) -> int | None:
        return self.order[self.position] if self.position < len(self.order) else None

    def shown_item(self) -> int | None:
        return self.current_index

    def view(self) -> BrowseView:
        item = self.current_index
        counts = self.store.counts()
        per_class = [counts.get(("human", c), 0) for c in range(self.pool.n_classes)]
        if item is not None and self.model is not None and self._guess is None:
            p = self.model.predict_proba(self.pool.as_float(np.array([item])))[0]
            self._guess = (int(p.argmax()), float(p.max()))
        return BrowseView(
            image=None if item is None else self.pool.images[item],
            item_id=None if item is None else str(self.pool.ids[item]),
            position=self.position,
            total=len(self.order),
            counts=per_class,
            unsure=counts.get(("human", None), 0),
            labels_spent=self.labels_spent,
            guess=self._guess[0] if self._guess else None,
            guess_p=self._guess[1] if self._guess else None,
            accuracy=self.accuracy,
            can_undo=bool(self.history),
            can_redo=bool(self.redo_stack),
            message=self.message,
            done=item is None,
        )
