"""Batch: a CNN ranks the unlabelled pool and pages through the images it is most confused by
(seeds 001, 002, 004).

Each key labels one image and is committed at once. When the labels reach the schedule's next
target (exponential: as many as are already labelled), a round starts: the CNN is retrained on
every human label (plus, optionally, CEAL pseudo-labels for the surest unlabelled images) and the
pool is re-scored under augmentation. A round runs beside the labeling: the user keeps paging
through the previous ranking, and the new one replaces it when it is ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .. import strategies
from ..data import to_model_input
from ..models.augment import Augment
from ..models.cnn import CNNClassifier
from ..workspace import Workspace
from .base import BaseSession, Clock, CurvePoint


def on_gpu() -> bool:
    return torch.cuda.is_available()


@dataclass
class BatchSettings:
    strategy: str = "entropy"
    schedule: str = "exponential"  # or "fixed"
    batch_size: int = 50  # labels per round with the fixed schedule
    start: int = 20  # random labels before the first model
    augmentations: int = 10  # k views per image when scoring (seed 001)
    score_subset: int = 0  # score a random subset of this size (large pools); 0 = all
    arch: str = ""  # "" = seed 001's network on a GPU, the small one on a CPU
    epochs: int = 40
    patience: int = 15  # early stopping, on a split of the human labels once there are 1,000
    pseudo: bool = False
    pseudo_threshold: float = 0.05  # bits of entropy, CEAL's delta_0
    pseudo_decay: float = 0.005  # delta_t = delta_{t-1} - decay * t
    pseudo_weight: float = 0.5
    pseudo_max: int = 2000
    stream_frames: bool = False  # also train on every labelled stream frame (seed 000's data set)
    stream_weight: float = 0.5
    seed: int = 0

    def resolved(self, channels: int) -> BatchSettings:
        gpu = on_gpu()
        out = BatchSettings(**self.__dict__)
        if out.score_subset == 0 and not gpu and self.arch.startswith("seed"):
            out.score_subset = 2000  # seed 001's networks are ~9x slower on a CPU
        out.arch = self.arch or (("seed-mnist" if channels == 1 else "seed-cifar") if gpu else "small")
        return out


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
    pseudo_threshold: float
    frames_x: np.ndarray | None = None  # labelled stream frames, when settings.stream_frames
    frames_y: np.ndarray | None = None


@dataclass
class RoundResult:
    model: CNNClassifier
    ranking: np.ndarray  # pool indices, most worth labelling first
    probs: dict[int, np.ndarray]  # pool index -> mean class probabilities over augmentations
    uncertainty: dict[int, float]
    pseudo: list[tuple[int, int, float]]  # (pool index, class, confidence)
    accuracy: float | None
    seconds_train: float
    seconds_score: float


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
    pseudo_count: int
    history: list[tuple[int, float | None]] = field(default_factory=list)  # (labels, accuracy) per round
    message: str = ""


class BatchSession(BaseSession):
    mode = "batch"

    def __init__(
        self,
        workspace: Workspace,
        clock: Clock | None = None,
        settings: BatchSettings | None = None,
        page_size: int = 12,
        annotator: str | None = None,
        save_model: bool = True,
    ) -> None:
        super().__init__(workspace, clock, annotator)
        self.save_model = save_model  # models/cnn.npz after each round (simulations keep theirs apart)
        self.settings = (settings or BatchSettings()).resolved(self.pool.channels)
        self.rng = np.random.default_rng(self.settings.seed)
        self.page_size = page_size
        self.augment = Augment()
        self.model: CNNClassifier | None = None
        self.round = 0
        self.training = False
        self.accuracy: float | None = None
        self.probs: dict[int, np.ndarray] = {}
        self.uncertainty: dict[int, float] = {}
        self.pseudo_count = 0
        self.history: list[tuple[int, float | None]] = []
        self.labelled = self._labelled_indices()
        self.ranking = self.rng.permutation(len(self.pool))  # no model yet: random order
        self.next_round_at = max(self.settings.start, len(self.labelled) + 1)
        self.page: list[PageItem] = []
        self.page_number = 0
        self.focus = 0
        self._undo: list[tuple[int, int]] = []  # (page number, position) of each label given
        self.new_page()

    # -- pool bookkeeping -----------------------------------------------------------------------

    def _labelled_indices(self) -> set[int]:
        """Items a person has answered (a class or unsure): never shown again."""
        return {self.pool.index_of(i) for i in self.store.current(("human",))}

    def new_page(self) -> None:
        shown = {item.index for item in self.page}
        chosen = [int(i) for i in self.ranking if int(i) not in self.labelled and int(i) not in shown]
        self.page = [self._item(i) for i in chosen[: self.page_size]]
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
        self._undo.append((self.page_number, self.focus))
        name = "unsure" if label is None else self.pool.class_names[label]
        self.message = f"{item.item_id} -> {name}"
        self._move_on()

    def _move_on(self) -> None:
        open_items = [i for i, it in enumerate(self.page) if not it.answered]
        later = [i for i in open_items if i > self.focus]
        if later:
            self.focus = later[0]
        elif open_items:
            self.focus = open_items[0]
        else:
            self.new_page()  # the page is done: every answer on it is already committed

    def do_label(self, label: int) -> None:
        """Label the focused image and move to the next."""
        if not 0 <= int(label) < self.pool.n_classes:
            self.message = f"no class {label}: classes are 0..{self.pool.n_classes - 1}"
            return
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
        page_number, position = self._undo.pop()
        undone = self.store.undo(self.session_id)
        if not undone:
            self.message = "nothing to undo"
            return
        if page_number != self.page_number:  # the answer was on the previous page: bring it back
            index = self.pool.index_of(self.store.item_of(undone[0]))
            self.page.insert(0, self._item(index))
            position = 0
        item = self.page[position]
        self.labelled.discard(item.index)
        item.label, item.answered = None, False
        self.focus = position
        self.message = f"undone: {item.item_id}"

    def do_next(self) -> None:
        """Move the focus to the next image."""
        if self.page:
            self.focus = (self.focus + 1) % len(self.page)

    def do_previous(self) -> None:
        """Move the focus to the previous image."""
        if self.page:
            self.focus = (self.focus - 1) % len(self.page)

    def do_skip_page(self) -> None:
        """Leave this page unlabelled and show the next one."""
        self.new_page()

    # -- rounds ---------------------------------------------------------------------------------

    def due_round(self) -> bool:
        return not self.training and len(self.labelled) >= self.next_round_at

    def snapshot(self) -> RoundJob:
        idx, y = self.human_labels()
        unlabelled = np.array(sorted(set(range(len(self.pool))) - self.labelled), dtype=np.int64)
        subset = self.settings.score_subset
        if subset and len(unlabelled) > subset:
            unlabelled = np.sort(self.rng.choice(unlabelled, subset, replace=False))
        self.round += 1
        t = self.round
        threshold = max(0.0, self.settings.pseudo_threshold - self.settings.pseudo_decay * (t - 1))
        self.training = True
        n = len(self.labelled)
        if self.settings.schedule == "exponential":
            self.next_round_at = n + strategies.exponential_schedule(n, self.settings.start)
        else:
            self.next_round_at = n + self.settings.batch_size
        job = RoundJob(t, self.pool.as_float(idx), y, idx, unlabelled, self.pool.n_classes, n,
                       self.elapsed, threshold)
        if self.settings.stream_frames:
            job.frames_x, job.frames_y = self._stream_frames()
        return job

    def _stream_frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live labelled stream frame of the workspace's pool shape, as model input."""
        frames, labels = self.store.labelled_samples(self.pool.image_shape)
        return to_model_input(frames), labels

    def train_and_score(self, job: RoundJob, progress=None) -> RoundResult:
        """The heavy part (any thread): retrain, score under augmentation, pick pseudo-labels."""
        import time

        s = self.settings
        t0 = time.perf_counter()
        model = CNNClassifier(arch=s.arch, epochs=s.epochs, patience=s.patience, augment=self.augment,
                              seed=s.seed + job.round)
        fx, fy = job.frames_x, job.frames_y
        with_frames = fx is not None and len(fx) > 0
        model.fit(job.x, job.y, job.n_classes, progress=progress,
                  extra_x=fx if with_frames else None, extra_y=fy if with_frames else None,
                  extra_weight=s.stream_weight)
        scoring = 0.0
        t_score = time.perf_counter()
        probs = self._score(model, job.candidates)
        scoring += time.perf_counter() - t_score
        pseudo: list[tuple[int, int, float]] = []
        if s.pseudo and len(job.candidates):
            chosen, classes = strategies.pseudo_labels(probs, job.pseudo_threshold)
            if len(chosen) > s.pseudo_max:
                keep = np.argsort(strategies.entropy(probs[chosen]))[: s.pseudo_max]
                chosen, classes = chosen[keep], classes[keep]
            if len(chosen):
                conf = probs.mean(axis=2)[chosen].max(axis=1)
                pseudo = [(int(job.candidates[c]), int(k), float(p)) for c, k, p in zip(chosen, classes, conf)]
                model = CNNClassifier(arch=s.arch, epochs=s.epochs, patience=s.patience, augment=self.augment,
                                      seed=s.seed + job.round)
                px = self.pool.as_float(np.array([i for i, _, _ in pseudo]))
                py = np.array([k for _, k, _ in pseudo])
                if with_frames:  # one weight for both kinds of extra data: the pseudo one
                    px, py = np.concatenate([px, fx]), np.concatenate([py, fy])
                model.fit(job.x, job.y, job.n_classes, extra_x=px, extra_y=py, extra_weight=s.pseudo_weight)
                t_score = time.perf_counter()
                probs = self._score(model, job.candidates)
                scoring += time.perf_counter() - t_score
        rng = np.random.default_rng(s.seed + 1000 + job.round)
        order = strategies.select(s.strategy, probs, len(job.candidates), rng)
        ranking = job.candidates[order]
        mean = probs.mean(axis=2)
        scores = strategies.entropy(probs)
        accuracy = None
        test = self.workspace.test
        if test is not None:
            accuracy = model.score(test.as_float(), test.truth)
        return RoundResult(
            model=model, ranking=ranking,
            probs={int(i): mean[n] for n, i in enumerate(job.candidates)},
            uncertainty={int(i): float(scores[n]) for n, i in enumerate(job.candidates)},
            pseudo=pseudo, accuracy=accuracy, seconds_train=time.perf_counter() - t0 - scoring,
            seconds_score=scoring,
        )

    def _score(self, model: CNNClassifier, candidates: np.ndarray) -> np.ndarray:
        """Class probabilities of each candidate under k augmentations: ``(n, classes, k)``."""
        x = torch.as_tensor(self.pool.as_float(candidates))
        g = torch.Generator().manual_seed(self.settings.seed)
        passes = [model.predict_proba(x)]  # the image itself is one of the k views
        for _ in range(self.settings.augmentations - 1):
            passes.append(model.predict_proba(self.augment(x, g)))
        return np.stack(passes, axis=2)

    def apply(self, job: RoundJob, result: RoundResult) -> None:
        """Back on the session's thread: the new ranking, model, pseudo-labels and curve point."""
        self.model = result.model
        self.probs, self.uncertainty = result.probs, result.uncertainty
        self.ranking = result.ranking
        self.accuracy = result.accuracy
        self.training = False
        if self.settings.pseudo:
            self.store.replace_source(
                self.session_id, "pseudo", [(str(self.pool.ids[i]), k, c) for i, k, c in result.pseudo]
            )
        self.pseudo_count = len(result.pseudo)
        if self.save_model:
            result.model.save(self.workspace.models_dir / "cnn.npz")
        self.history.append((job.labels, result.accuracy))
        self.curve.append(CurvePoint(job.labels, job.seconds, result.accuracy, {
            "round": job.round, "pseudo_labels": len(result.pseudo),
            "seconds_train": round(result.seconds_train, 2), "seconds_score": round(result.seconds_score, 2),
            "scored": len(job.candidates),
        }))
        # refresh guesses on the open page (unscored ones get a direct prediction); order stays
        for item in self.page:
            p = self.probs.get(item.index)
            if p is None:
                p = self.model.predict_proba(self.pool.as_float(np.array([item.index])))[0]
            item.guess, item.confidence = int(p.argmax()), float(p.max())
            item.uncertainty = self.uncertainty.get(item.index)
        self.message = f"round {job.round}: model retrained on {job.labels} labels"

    def run_round(self) -> None:
        job = self.snapshot()
        self.apply(job, self.train_and_score(job))

    # -- the view -------------------------------------------------------------------------------

    def view(self) -> BatchView:
        counts = self.store.counts()
        return BatchView(
            page=self.page, focus=self.focus, page_number=self.page_number, round=self.round,
            labels=len(self.labelled), next_round_at=self.next_round_at, training=self.training,
            accuracy=self.accuracy,
            counts=[counts.get(("human", c), 0) for c in range(self.pool.n_classes)],
            pseudo_count=self.pseudo_count, history=list(self.history), message=self.message,
        )
