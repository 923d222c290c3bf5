"""The review session: the queue of doubtful labels, page by page; its settings; the update cycle."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from ...agreement import reliability, store_agreement
from ...data import shown_id
from ...errors import TuilabelError
from ...models.augment import PRESETS
from ...models.cnn import CNNClassifier
from ...store import LabelEvent
from ...workspace import Workspace
from .. import backbone
from ..base import (
    AUGMENT_KINDS,
    COSTS,
    BaseSession,
    Clock,
    CurvePoint,
    Progress,
    better_augment,
    measured_augment,
    no_progress,
)
from ..paging import Paging
from ..settings import MODEL_GROUP, TeamSettings, setting
from .judging import ReviewJob, ReviewResult, confident_errors, cross_fit, doubt_scores, head_cross_fit

SECOND = "second-opinion"  # the store's mode name for blind second opinions
FOLD_BUDGET = 60_000  # image passes of a fold's CNN at most: fewer epochs on many labels


@dataclass
class ReviewSettings(TeamSettings):
    mode = "review"
    augment: str = setting("auto", "augmentation of the judging CNNs: geometric (rotation, shear, elastic; for digits "
                           "and strokes), shift (small moves and rescaling; photos, objects, textures), none; auto: "
                           "what batch or clusters mode measured on this workspace, else the better of shift and "
                           "geometric on the first round's labels (shift ranks at once, geometric is fitted in "
                           "the background while you review)", choices=("auto", *PRESETS))
    judge: str = setting("auto", "what judges the labels: auto (with a backbone its head's folds, then a CNN's if "
                         "they agree better; without, a CNN's folds), or predictions (a model's, brought in with "
                         "`tuilabel import WS FILE --as predictions`: nothing is trained)",
                         choices=("auto", "predictions"))
    score: str = setting("self_confidence", "how doubt is measured: 1 - p(stored label), or the normalised margin "
                         "of the best other class over it", choices=("self_confidence", "margin"))
    min_doubt: float = setting(0.5, "items not flagged by confident learning join the queue above this doubt",
                               min=0.0, max=1.0)
    rerank_every: int = setting(50, "re-rank in the background after this many reviews with a correction", min=1)
    sources: str = setting("all", "which labels come up: every source, or only people's",
                           choices=("all", "human"))
    stage: str = setting("review", "review the stored labels, or give a blind second opinion first",
                         choices=("review", "second"))
    seed: int = setting(0, "fold assignment and training", min=0)
    folds: int = setting(4, "cross-fitting folds: each label is judged by a model trained on the others", min=2, max=10,
                         group=MODEL_GROUP)
    epochs: int = setting(30, "training epochs of each fold's CNN (fewer on many labels: 60,000 image passes a "
                              "fold at most)", min=1, group=MODEL_GROUP)


@dataclass
class ReviewItem:
    index: int
    item_id: str
    image: np.ndarray
    stored: int
    source: str
    annotator: str
    guess: int | None
    confidence: float | None  # the model's probability of its guess
    stored_p: float | None  # the model's probability of the stored label
    doubt: float
    others: list[tuple[str, int | None]] = field(default_factory=list)  # other annotators' labels
    answer: int | None = None
    answered: bool = False
    unusable: bool = False


@dataclass
class ReviewView:
    page: list[ReviewItem]
    focus: int
    stage: str
    reviewed: int
    corrected: int
    unusable: int
    queue: int
    flagged: int
    labelled: int
    accuracy: float | None
    updating: bool
    ranked: bool
    class_filter: int | None
    message: str = ""
    judge: str | None = None  # with a backbone: "head" (the pretrained head's folds) or "cnn"


class ReviewSession(backbone.UsesBackbone, Paging, BaseSession):
    mode = "review"
    settings_class = ReviewSettings
    settings: ReviewSettings

    def __init__(
        self,
        workspace: Workspace,
        settings: ReviewSettings | None = None,
        clock: Clock | None = None,
        annotator: str | None = None,
        save_models: bool = True,
        page_size: int = 12,
        features: np.ndarray | None = None,
        test_features: np.ndarray | None = None,
    ) -> None:
        super().__init__(workspace, settings, clock, annotator, save_models)
        self.page_size = page_size
        self.take_features(workspace, features, test_features)
        # who judges: with a backbone the head's folds rank first (seconds), then a CNN's folds are
        # measured against them on the same labels and folds, and the better agreement judges on
        self.judge = "head" if self.features is not None else "cnn"
        self.predictions: np.ndarray | None = None
        if self.settings.judge == "predictions":
            from ...importing import load_predictions

            self.predictions = load_predictions(workspace)
            if self.predictions is None:
                raise TuilabelError("judge=predictions: no predictions yet; bring a model's in with "
                                    "`tuilabel import WS FILE --as predictions`", workspace.path)
            self.judge = "predictions"
        self.judge_scores: dict[str, float] = {}
        self._contest: ReviewJob | None = None  # the head's round, for the CNN to be measured on
        # augment=auto: batch's or clusters' measured choice; None until known (the first round measures it)
        auto = self.settings.augment == "auto"
        self.augment: str | None = measured_augment(workspace) if auto else self.settings.augment
        self.augment_measured = False  # whether this review measured self.augment on its own labels
        self.measuring: tuple[ReviewJob, dict[str, float]] | None = None  # the first kind's round and score
        self.round = 0
        self.accuracy: float | None = None
        self.probs: dict[int, np.ndarray] = {}  # pool index -> out-of-sample probabilities
        self.ranked_labels: dict[int, int] = {}  # pool index -> the label the probabilities judged
        self.doubts: dict[int, float] = {}  # pool index -> doubt of that label (`doubt_scores`)
        self.queue: list[int] = []
        self.flagged: set[int] = set()
        self.class_filter: int | None = None
        self.reviewed_here = 0
        self.corrected = 0
        self.unusable_count = 0
        self.reviews_since = 0
        self.corrections_since = 0
        self.page: list[ReviewItem] = []
        self.focus = 0
        self._undo: list[int] = []  # pool indices answered, newest last
        self.reviewer = self.store.annotator_of(self.session_id)
        self.refresh_labels()
        self.resume()
        self.rebuild_queue()
        self.new_page()

    def session_mode(self) -> str:
        return SECOND if self.settings.stage == "second" else "review"

    @property
    def spent(self) -> int:
        return self.reviewed_here

    # -- what is labelled and what was reviewed ----------------------------------------------------

    def refresh_labels(self) -> None:
        """Read the current labels, who gave them, and what earlier reviews settled."""
        sources = ("human", "propagated", "pseudo") if self.settings.sources == "all" else ("human",)
        current = [ev for ev in self.store.events(sources, samples=False, current_only=True)]
        self.current: dict[int, LabelEvent] = {}
        self.settled: set[int] = set()  # a reviewer answered it (the current label is a review's)
        for ev in current:
            assert ev.item_id is not None
            try:
                index = self.pool.index_of(ev.item_id)
            except KeyError:
                continue  # a label for an item this pool does not have
            if ev.mode == "review":
                self.settled.add(index)
            if ev.label is not None:
                self.current[index] = ev
        self.by_annotator = self.store.shared_opinions()  # items with two opinions or more
        # Cohen's kappa of each annotator with the others: a disputed label of the least reliable first
        self.reliability = reliability(store_agreement(self.store.pair_counts()))
        self.second_done: set[int] = set()
        if self.settings.stage == "second":
            me = self.reviewer
            self.second_done = {self.pool.index_of(e.item_id) for e in self.store.events(("human",), samples=False)
                                if e.mode == SECOND and e.annotator == me and e.item_id is not None}

    def disagreement(self, index: int) -> tuple[float, list[tuple[str, int | None]]]:
        """The share of other annotators whose label differs from the current one, and theirs."""
        ev = self.current.get(index)
        if ev is None:
            return 0.0, []
        labels = self.by_annotator.get(ev.item_id or "", {})
        others = [(a, lab) for a, lab in labels.items() if a != ev.annotator]
        if not others:
            return 0.0, []
        return sum(lab != ev.label for _, lab in others) / len(others), others

    def rebuild_queue(self) -> None:
        """Order the unsettled labelled items by doubt: flagged and disputed ones first."""
        keyed = []
        self.flagged_now = 0
        done = self.settled | self.second_done
        for index, ev in self.current.items():
            if index in done:
                continue
            dispute, _ = self.disagreement(index)
            judged = self.ranked_labels.get(index) == ev.label
            doubt = self.doubts[index] if judged else 0.0
            flagged = judged and index in self.flagged
            if not (flagged or dispute > 0 or doubt >= self.settings.min_doubt):
                continue
            self.flagged_now += int(flagged)
            # annotators who disagree first (the larger the share who disagree, and the lower the kappa of
            # whoever gave the label, the sooner), then confident learning's flags, then the merely doubtful
            trust = self.reliability.get(ev.annotator, 1.0) if dispute > 0 else 0.0
            keyed.append((0 if dispute > 0 else 1 if flagged else 2, -dispute, trust, -doubt, index))
        keyed.sort()
        self.queue = [key[-1] for key in keyed]

    def _judged(self, items: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> None:
        """Take out-of-sample probabilities of ``items`` as judgements of ``labels``."""
        doubts = doubt_scores(probs, labels, self.settings.score)
        for n, index in enumerate(items.tolist()):
            self.probs[index] = probs[n]
            self.ranked_labels[index] = int(labels[n])
            self.doubts[index] = float(doubts[n])

    def resume(self) -> None:
        """The out-of-sample probabilities an earlier review left, for the labels they judged."""
        state = self.load_state()
        if state is None:
            return
        self.round = int(state.get("round", 0))
        self.accuracy = state.get("accuracy")
        if self.features is not None and self.judge != "predictions" and state.get("judge") in ("head", "cnn"):
            self.judge = state["judge"]
            self.judge_scores = {str(k): float(v) for k, v in state.get("judge_scores", {}).items()}
        if self.settings.augment == "auto" and state.get("augment") in PRESETS and state.get("augment_measured", True):
            self.augment = state["augment"]  # measured in an earlier round (not what a setting chose)
            self.augment_measured = True
        ids = state.get("item_ids", [])
        probs = np.array(state.get("probs", []), np.float32).reshape(len(ids), -1)
        labels = np.array(state.get("labels", []), np.int64)
        rows, items = [], []
        for n, item in enumerate(ids):
            try:
                items.append(self.pool.index_of(item))
                rows.append(n)
            except KeyError:
                continue  # an item this pool does not have
        self._judged(np.array(items, np.int64), labels[rows], probs[rows])
        self.flagged = set()
        for item in state.get("flagged", []):
            try:
                self.flagged.add(self.pool.index_of(item))
            except KeyError:
                continue
        if self.probs:
            self.message = f"resumed: the ranking of review round {self.round}"

    # -- the page ------------------------------------------------------------------------------------

    def shown_item(self) -> int | None:
        if not self.page or self.page[self.focus].answered:
            return None
        return self.page[self.focus].index

    def new_page(self) -> None:
        """The next items of the queue (of the filtered class), grouped by their stored class."""
        shown = {item.index for item in self.page if not item.answered}
        self.release(shown)
        candidates = [i for i in self.queue if i not in shown and not self._answered(i)
                      and (self.class_filter is None or self.current[i].label == self.class_filter)]
        chosen = self.claim(candidates, self.page_size, fresh=False)  # no other reviewer holds these
        items = [self._item(i) for i in chosen]
        rank = {index: n for n, index in enumerate(chosen)}
        items.sort(key=lambda it: (it.stored, rank[it.index]))
        self.page = items
        self.focus = 0

    def _answered(self, index: int) -> bool:
        return index in self.settled or index in self.second_done

    def _item(self, index: int) -> ReviewItem:
        ev = self.current[index]
        assert ev.label is not None and ev.item_id is not None
        p = self.probs.get(index) if self.ranked_labels.get(index) == ev.label else None
        _, others = self.disagreement(index)
        return ReviewItem(
            index=index, item_id=ev.item_id, image=self.pool.images[index], stored=ev.label,
            source=ev.source, annotator=ev.annotator,
            guess=None if p is None else int(p.argmax()), confidence=None if p is None else float(p.max()),
            stored_p=None if p is None else float(p[ev.label]),
            doubt=0.0 if p is None else self.doubts[index], others=others,
        )

    # -- actions ---------------------------------------------------------------------------------------

    def _answer(self, label: int | None) -> None:
        if not self.page or self.page[self.focus].answered:
            self.message = "nothing to review here" if not self.queue else "this one is answered: ←/→ to move"
            return
        item = self.page[self.focus]
        self.store.add(self.session_id, item.item_id, label)  # a new human event; the old one stays
        item.answer, item.answered, item.unusable = label, True, label is None
        if self.settings.stage == "second":
            self.second_done.add(item.index)
        else:
            self.settled.add(item.index)
        self.reviewed_here += 1
        self.reviews_since += 1
        changed = label != item.stored
        self.corrected += int(changed and label is not None)
        self.unusable_count += int(label is None)
        self.corrections_since += int(changed)
        if label is None:
            self.current.pop(item.index, None)
        else:
            self.current[item.index] = _relabelled(self.current[item.index], label, self.session_id, self.reviewer)
        self._undo.append(item.index)
        names = self.pool.class_names
        if self.settings.stage == "second":
            what = "unusable" if label is None else names[label]
        elif label is None:
            what = "marked unusable"
        elif changed:
            what = f"{names[item.stored]} -> {names[label]}"
        else:
            what = f"kept {names[label]}"
        self.message = f"{shown_id(item.item_id)}: {what}"
        self._move_on()

    def do_label(self, label: int) -> None:
        """Correct the focused item's label (the stored class keeps it)."""
        if self.known_class(label):
            self._answer(int(label))

    def do_keep(self) -> None:
        """Keep the stored label of the focused item."""
        if self.settings.stage == "second":
            self.message = "a second opinion is a number key: the stored label is hidden"
            return
        if not self.page:
            self.message = "nothing to review here"
            return
        self._answer(self.page[self.focus].stored)  # an answered item only gets a message

    def do_unusable(self) -> None:
        """Mark the focused item unusable: no class, left out of training."""
        self._answer(None)

    def do_undo(self) -> None:
        """Take back the last review answer; the item comes back with its earlier label."""
        if not self._undo:
            self.message = "nothing to undo"
            return
        if not self.store.undo(self.session_id):
            self.message = "nothing to undo"
            return
        index = self._undo.pop()
        self.refresh_labels()
        self.reviewed_here -= 1
        self.reviews_since = max(0, self.reviews_since - 1)
        item = next((it for it in self.page if it.index == index), None)
        if item is None:  # the answer was on an earlier page: bring the item back first
            self.rebuild_queue()
            item = self._item(index) if index in self.current else None
            if item is None:
                self.message = "undone"
                return
            self.page.insert(0, item)
        if item.answered and item.answer != item.stored:
            self.corrections_since = max(0, self.corrections_since - 1)
            self.corrected -= int(item.answer is not None)
        self.unusable_count -= int(item.unusable)
        item.answer, item.answered, item.unusable = None, False, False
        self.focus = self.page.index(item)
        self.message = f"undone: {shown_id(item.item_id)}"

    def do_skip_page(self) -> None:
        """Leave this page for now and show the next doubtful items."""
        skipped = {it.index for it in self.page if not it.answered}
        self.queue = [i for i in self.queue if i not in skipped] + [i for i in self.queue if i in skipped]
        self.page = []
        self.new_page()

    def do_class_filter(self, value: int | None = None) -> None:
        """Show one stored class at a time (cycles through the classes, then all)."""
        n = self.pool.n_classes
        if value is not None:
            self.class_filter = None if value < 0 else int(value) % n
        else:
            self.class_filter = 0 if self.class_filter is None else (self.class_filter + 1 if self.class_filter + 1 < n
                                                                     else None)
        self.page = []
        self.new_page()
        which = "every class" if self.class_filter is None else f"stored {self.pool.class_names[self.class_filter]}"
        self.message = f"showing {which}"

    # -- the update cycle: cross-fitted doubt ----------------------------------------------------------

    def due_update(self) -> bool:
        """The first ranking; a re-rank after ``rerank_every`` reviews with a correction among them,
        or when the queue has run dry; labels given elsewhere since the last ranking."""
        if self.updating or len(self.current) < 2 * self.settings.folds:
            return False
        if self.round == 0 or self.measuring is not None or self._contest is not None:
            return True
        if self.corrections_since and (self.reviews_since >= self.settings.rerank_every or not self.queue):
            return True
        if self.queue:
            return False
        return any(self.ranked_labels.get(i) != ev.label for i, ev in self.current.items() if i not in self.settled)

    def waiting(self) -> bool:
        return self.updating and not self.queue

    def snapshot(self) -> ReviewJob:
        self.round += 1
        self.updating = True
        if self._contest is not None:  # a CNN's folds on the head's labels and folds, measured against it
            first, self._contest = self._contest, None
            return replace(first, round=self.round, judge="cnn", contest=self.judge_scores.get("head"),
                           x=self.pool.as_float(first.items),  # the head's round read no pixels
                           augment=self.augment or AUGMENT_KINDS[0], measured=None if self.augment else {},
                           folds_of=first.folds_of or first.round, reviewed=self.reviewed_here, seconds=self.elapsed)
        if self.measuring is not None:  # augment=auto: the next kind on the first kind's labels and folds
            first, scores = self.measuring
            self.measuring = None
            kind = next(kind for kind in AUGMENT_KINDS if kind not in scores)
            return replace(first, round=self.round, augment=kind, measured=scores, contest=None,
                           folds_of=first.folds_of or first.round, reviewed=self.reviewed_here, seconds=self.elapsed)
        self.refresh_labels()
        items = np.array(sorted(self.current), np.int64)
        labels = np.array([self.current[i].label for i in items], np.int64)
        weights = np.array([self.current[i].confidence for i in items], np.float32)
        self.reviews_since = self.corrections_since = 0
        head = self.judge in ("head", "predictions")  # neither reads the pixels
        return ReviewJob(self.round, items, labels, weights,
                         np.empty((len(items), 0), np.float32) if head else self.pool.as_float(items),
                         self.pool.n_classes, self.reviewed_here, self.elapsed, self.augment or AUGMENT_KINDS[0],
                         None if self.augment or head else {}, judge=self.judge)

    def fold_model(self, n_train: int, seed: int, augment: str | None = None) -> CNNClassifier:
        s = self.settings
        epochs = max(3, min(s.epochs, FOLD_BUDGET // max(n_train, 1)))
        kind = augment or self.augment or AUGMENT_KINDS[0]
        return CNNClassifier(arch="small", epochs=epochs, patience=0, augment=PRESETS[kind], seed=seed)

    def train(self, job: ReviewJob, progress: Progress = no_progress) -> ReviewResult:
        """K models, each trained without one fold, give that fold its probabilities. While
        ``augment=auto`` measures (``job.measured`` not None), the folds' out-of-fold agreement with
        the stored labels is scored too; once every kind of ``AUGMENT_KINDS`` has been fitted on the same
        labels and folds, the better one is ``chosen`` (a tie: shift)."""
        t0 = time.perf_counter()
        s = self.settings
        n = len(job.items)
        folds_of = job.folds_of or job.round
        rng = np.random.default_rng(s.seed + 7919 * folds_of)
        folds = np.empty(n, np.int64)
        for k in range(job.n_classes):  # stratified: every fold holds each class in proportion
            members = rng.permutation(np.flatnonzero(job.labels == k))
            folds[members] = np.arange(len(members)) % s.folds
        test = self.test_arrays()
        if job.judge == "predictions":  # a model's, imported: out of sample for these labels as they are
            assert self.predictions is not None
            probs = self.predictions[job.items, :job.n_classes].copy()
            unknown = np.isnan(probs).any(axis=1)
            probs[unknown] = 1.0 / job.n_classes  # items it did not predict: no opinion
            test_probs, trained = None, 0
        elif job.judge == "head":
            probs, test_probs = head_cross_fit(self, job, folds, progress)
            trained = 0
        else:
            probs, test_probs, trained = cross_fit(self, job, folds, folds_of, test, progress)
        scores: dict[str, float] = {}
        chosen = None
        if job.measured is not None:
            scores = {**job.measured, job.augment: float((probs.argmax(1) == job.labels).mean())}
            if all(kind in scores for kind in AUGMENT_KINDS):
                chosen = better_augment(scores)
        accuracy = None if test is None or test_probs is None else float((test_probs.argmax(1) == test[1]).mean())
        progress(1.0, f"review round {job.round}: done")
        flagged = confident_errors(probs, job.labels, job.n_classes)
        agreement = float((probs.argmax(1) == job.labels).mean()) if n else 0.0
        return ReviewResult(probs, flagged, accuracy, trained, n, 0 if test is None else len(test[1]) * s.folds,
                            time.perf_counter() - t0, job.augment, scores, chosen, job.judge, agreement, job.contest)

    def compute_seconds(self, job: ReviewJob, result: ReviewResult) -> float:
        heads = COSTS.head_fit * self.settings.folds if job.judge == "head" else 0.0
        return heads + COSTS.cnn_image_epoch * result.images_trained + \
            COSTS.evaluation_item * (result.scored + result.tested)

    @staticmethod
    def judges(result: ReviewResult) -> bool:
        """Whether a round's probabilities become the ranking: always, but for the round that
        measured a kind which then lost, or a CNN that agreed no better than the head (the ranking
        already shown stays)."""
        won = result.contest is None or result.agreement > result.contest
        return won and (result.chosen is None or result.chosen == result.augment)

    def persist(self, job: ReviewJob, result: ReviewResult) -> None:
        if not self.save_models:
            return
        judge = result.judge if result.contest is None else "cnn" if result.agreement > result.contest else "head"
        measured = {"judge": judge,
                    "judge_scores": {**self.judge_scores, result.judge: result.agreement},
                    "augment_measured": result.chosen is not None or (job.measured is None and self.augment_measured),
                    **({"augment_cv": result.augment_scores} if result.augment_scores else {})}
        if not self.judges(result):  # the ranking saved stands; only what the measurement chose changes
            state = self.load_state() or {}
            self.save_state({**state, "round": job.round, "augment": result.chosen, **measured})
            return
        flagged = result.flagged
        self.save_state({
            "round": job.round, "accuracy": result.accuracy, "augment": result.augment, **measured,
            "item_ids": [str(self.pool.ids[i]) for i in job.items], "labels": job.labels.tolist(),
            "probs": np.round(result.probs, 4).ravel().tolist(),
            "flagged": [str(self.pool.ids[i]) for i in job.items[flagged]],
            "curve": [*self.curve_records(), {"labels": job.reviewed, "seconds": job.seconds,
                                              "accuracy": result.accuracy, "extra": {"round": job.round}}],
        })

    def apply(self, job: ReviewJob, result: ReviewResult) -> None:
        self.updating = False
        judges = self.judges(result)
        self.judge_scores[result.judge] = result.agreement
        if result.contest is not None:  # the CNN against the head: the better agreement judges from now on
            self.judge = "cnn" if result.agreement > result.contest else "head"
            if self.judge == "head":
                result.chosen, job.measured = None, None  # no augmentation to measure for a head
        elif result.judge == "head" and "cnn" not in self.judge_scores:
            self._contest = job  # the CNN's folds next, on these labels and folds
        if result.chosen is not None:
            self.augment, self.augment_measured = result.chosen, True
        elif job.measured is not None:  # one kind fitted: the next round fits the other on the same labels
            self.measuring = (job, result.augment_scores)
        if judges:
            self.accuracy = result.accuracy
            self._judged(job.items, job.labels, result.probs)
            self.flagged = {int(i) for i in job.items[result.flagged]}
        self.refresh_labels()
        self.rebuild_queue()
        self.curve.append(CurvePoint(job.reviewed, job.seconds, self.accuracy, {
            "round": job.round, "reviewed": job.reviewed, "judged": len(job.items),
            "labelled": len(job.items),  # the x of `report`'s curve: labels the judges learnt from
            "flagged": len(self.flagged), "queue": len(self.queue),
            "seconds_train": round(result.seconds, 2), "augment": self.augment or result.augment,
            **({"augment_cv": result.augment_scores} if result.augment_scores else {}),
            **({} if judges else {"fitted": result.augment}),
        }))
        for item in self.page:  # fresh guesses on the open page; its order stays
            if judges and not item.answered and item.index in self.current:
                fresh = self._item(item.index)
                item.guess, item.confidence, item.stored_p, item.doubt = (fresh.guess, fresh.confidence,
                                                                          fresh.stored_p, fresh.doubt)
        if not any(not it.answered for it in self.page):
            self.new_page()
        if result.chosen is not None:  # short enough for 80 columns; the status line has the queue
            other = next(kind for kind in AUGMENT_KINDS if kind != result.chosen)
            self.message = (f"augmentation: {result.chosen} judges from now on "
                            f"({result.augment_scores[result.chosen]:.0%} agreement, "
                            f"{other} {result.augment_scores[other]:.0%})")
        else:
            self.message = (f"review round {job.round}: {len(job.items)} labels judged out of sample, "
                            f"{len(self.flagged)} flagged, {len(self.queue)} in the queue")

    def final_accuracy(self, items: np.ndarray, labels: np.ndarray) -> float | None:
        """Test accuracy of one CNN trained on all of ``labels`` (the fold models' settings)."""
        test = self.test_arrays()
        if test is None or len(items) == 0:
            return None
        model = self.fold_model(len(items), self.settings.seed)
        model.fit(self.pool.as_float(items), labels, self.pool.n_classes)
        return model.score(*test)

    # -- the view ------------------------------------------------------------------------------------

    def view(self) -> ReviewView:
        return ReviewView(
            page=self.page, focus=self.focus, stage=self.settings.stage, reviewed=self.reviewed_here,
            corrected=self.corrected, unusable=self.unusable_count,
            queue=len([i for i in self.queue if not self._answered(i)]), flagged=self.flagged_now,
            labelled=len(self.current), accuracy=self.accuracy, updating=self.updating, ranked=bool(self.probs),
            class_filter=self.class_filter, message=self.message,
            judge=None if self.features is None else self.judge,
        )


def _relabelled(ev: LabelEvent, label: int, session: str, annotator: str) -> LabelEvent:
    return LabelEvent(ev.id, ev.item_id, label, "human", 1.0, annotator, "review", session, ev.time)
