"""The clusters session: actions in (a class, no class, a confidence, skip, undo, train), the
current cluster's view out; the store gets each decision and what it spread before ``handle`` returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...cluster import kmeans
from ...errors import TuilabelError
from ...models.cnn import CNNClassifier
from ...models.contrastive import ContrastiveEncoder
from ...models.graph import NeighbourGraph
from ...models.probe import FeatureProbe, unit
from ...models.vae import VAEClassifier
from ...workspace import Workspace
from ..backbone import BackboneSpace, backbone_space, embedding_seconds
from ..base import BaseSession, Clock, Progress, no_progress
from ..settings import Settings
from . import epoch, trial
from .epoch import EpochJob, EpochResult
from .models import CNN, PROBE, VAE, load_or_train_encoder, prepare
from .plan import Centre, Plan, make_centres, make_plan, people, pick_medoid, random_order
from .settings import (
    CONFIDENCE,
    FEATURE_SPACES,
    MEMBERS_SHOWN,
    MIN_SPLIT,
    SPLIT_K,
    ClustersSettings,
)
from .spread import Checks, earned_share, spread_rows, spread_weight, weigh


@dataclass
class Decision:
    centre: Centre
    label: int | None  # None: no class (the cluster was split)
    confidence: float
    events: list[int]  # the person's event and every propagated one
    children: list[Centre]  # sub-clusters queued by a "no class"
    checked: bool | None = None  # the person's label agreed with the one spread to the image before
    epoch: int = 0  # the epoch that trains on its labels (made while one trains: the next)


@dataclass
class ClustersView:
    centre: Centre | None
    members: list[np.ndarray]
    epoch: int
    k: int
    position: int  # centres decided this epoch
    per_epoch: int
    queued: int
    spent: int
    confidence: str
    training: bool
    accuracy: float | None
    history: list[tuple[int, int, float | None]]  # (epoch, labels spent, accuracy)
    propagated: list[int]  # current propagated labels per class
    message: str = ""
    spread_weight: float | None = None  # S: what a spread label weighs beside a person's
    checks: tuple[int, int] = (0, 0)  # a person's labels on images with a spread label: agreed, checked


class ClustersSession(BaseSession):
    mode = "clusters"
    settings_class = ClustersSettings
    settings: ClustersSettings
    waits_for_update = True  # the next centres come from the epoch being trained

    def __init__(
        self,
        workspace: Workspace,
        settings: ClustersSettings | None = None,
        clock: Clock | None = None,
        annotator: str | None = None,
        save_models: bool = True,
        model: VAEClassifier | None = None,
        plan: Plan | None = None,
        space: ContrastiveEncoder | BackboneSpace | None = None,
        trial_plan: Plan | None = None,
        encoded: np.ndarray | None = None,
    ) -> None:
        super().__init__(workspace, settings, clock, annotator, save_models)
        if model is None:
            if not workspace.has_model(VAE):
                raise TuilabelError("no VAE yet: run `tuilabel train WORKSPACE --model vae` first", workspace.path)
            model = workspace.load_model(VAE, VAEClassifier.load)
        self.model = model
        model.grow_classes(self.pool.n_classes)  # classes added since it was saved
        self.x = self.pool.as_float()
        self.epoch = model.labelled_epochs_ + 1  # the labelling round
        taken, _ = people(workspace)
        state = self.load_state()  # read once: the saved spread weight here, the rest in resume()
        ours = state is not None and state.get("labelled_epochs") == model.labelled_epochs_
        # the space the pool is clustered in: as an earlier epoch chose it, else measured by this
        # epoch's trial (None until it decides), else the settings' rule
        channels = self.pool.channels
        chosen = self.settings.space == "auto" and self.settings.show == "medoid"  # else the settings decide
        self.space: str | None = "backbone" if self.settings.uses_backbone() else \
            str(state["space"]) if chosen and ours and state and state.get("space") else None
        trying = self.space is None and model.labelled_epochs_ == 0 and self.settings.trials_space(channels)
        if self.space is None and not trying:
            self.space = "contrastive" if self.settings.uses_encoder(channels) else "vae"
        self.space_scores: dict[str, float | None] = {}  # the trial's mean confidence per space
        self.encoder: ContrastiveEncoder | BackboneSpace | None = None
        if self.backbone:
            if isinstance(space, BackboneSpace) and encoded is not None:
                self.encoder = space
            else:
                self.encoder, encoded = backbone_space(workspace, self.x)
        elif self.space == "contrastive" or trying or self.settings.probes():
            given = space if isinstance(space, ContrastiveEncoder) else None
            self.encoder = given or load_or_train_encoder(workspace, self.settings, self.x, save_models)
            if encoded is None or given is None:  # else prepare encoded the pool with this encoder
                encoded = self.encoder.encode(self.x)
        self.encoded = encoded  # the pool in the encoder's space
        # the spread's weight when the last epoch trained: what a reopened session starts from
        self.saved_factor: float | None = None
        self.saved_confidence: tuple[float, int] = (0.0, 0)  # earlier sessions' label confidences: sum, count
        if ours and state is not None and state.get("spread_factor") is not None:
            self.saved_factor = float(state["spread_factor"])
        saved_learner = "features" if self.settings.classifier == "features" or (
            self.settings.classifier == "auto" and ours and state is not None and state.get("learner") == "features") \
            else "cnn"  # what answered when the last epoch trained
        if plan is not None and (plan.ranked or plan.space != (self.space or "vae")):
            plan = None  # prepared without the people's labels, or before the space this workspace chose was known

        picked_for = self.share_learner(saved_learner, int(state.get("learner_checked", 0)) if ours and state else 0)

        def first_plan(features: np.ndarray | None) -> Plan:
            return make_plan(model, self.x, self.pool.image_shape, self.settings, self.epoch,
                             ranked=model.labelled_epochs_ > 0, n_classes=self.pool.n_classes,
                             pool_images=self.pool.images, taken=taken,
                             share=earned_share(self.settings.show, self.saved_factor, picked_for), features=features,
                             cover=self.covered(picked_for), space=self.encoder_space)

        self.plan = plan or first_plan(self.features)
        self.trial_plans: dict[str, Plan] = {}  # the first epoch's trial: each space's plan
        self.tried = 0  # clusters of each space the trial has taken so far
        if trying:
            if trial_plan is None or trial_plan.space != "contrastive":
                trial_plan = first_plan(self.encoded)
            self.trial_plans = {"vae": self.plan, "contrastive": trial_plan}
            self.queue: list[Centre] = trial.trial_queue(self.plan, trial_plan, self.settings.space_trial,
                                                         random_order(len(self.x), self.settings.seed),
                                                         self.pool.images)
            self.tried = sum(c.trial and c.space == "contrastive" for c in self.queue)  # clusters of each
        else:
            self.queue = list(self.plan.centres)
        self.decisions: list[Decision] = []
        self.decided_this_epoch = 0
        self.decided_while_training = 0  # decisions on the queued centres while an epoch trains
        self.train_now = False  # `t`: end this epoch's labelling before per_epoch decisions
        self.spent_here = 0  # centre decisions (a class or no class) over the whole session
        self.confidence = self.settings.confidence
        self.accuracy: float | None = None
        self.learner: CNNClassifier | FeatureProbe | None = None  # what answers for the pool
        self.graph: NeighbourGraph | None = None  # the pool's neighbour graph, built when the probe first fits
        self.learner_name = "features" if self.settings.classifier == "features" else "cnn"
        self.learner_checked = 0  # classifier=auto: a person's labels a class when the choice was last measured
        self.history: list[tuple[int, int, float | None]] = []
        self.checks = Checks()  # a person's labels on images that carried a spread label
        self.known = np.full(len(self.pool), -1, np.int64)  # the labels the last epoch trained on
        self.augment_choice = self.settings.augment if self.settings.augment != "auto" else "shift"
        self.augment_checked = 0  # augment=auto: a person's labels a class when the choice was last measured
        self.taken_mask = taken  # kept up to date by decisions, read again from the store each epoch
        self.resume(state)
        if self.settings.show == "medoid":
            self.repick(self.queue)
        self.message = self._plan_message()

    @classmethod
    def needs_preparing(cls, workspace: Workspace, settings: Settings | None = None) -> bool:
        return True  # clustering the pool's latent space takes a moment even with a VAE at hand

    @classmethod
    def prepare(cls, workspace: Workspace, settings: Settings | None = None, progress: Progress = no_progress,
                save_models: bool = True) -> dict[str, Any]:
        """The VAE, the encoder where it is needed, and the first clustering (`models.prepare`)."""
        return prepare(workspace, settings if isinstance(settings, ClustersSettings) else ClustersSettings(),
                       progress, save_models)

    def setup_seconds(self) -> float:
        """The backbone's embedding on the reference CPU where the pool is clustered in its features
        (a simulation charges it once)."""
        return embedding_seconds(self.workspace, len(self.pool)) if self.backbone else 0.0

    @property
    def backbone(self) -> bool:
        """Whether the pool is clustered in the backbone's features (space=backbone: no trial)."""
        return self.space == "backbone"

    @property
    def encoder_space(self) -> str:
        """The space ``encoded`` is: the backbone's or the contrastive encoder's features."""
        return "backbone" if self.backbone else "contrastive"

    @property
    def features(self) -> np.ndarray | None:
        """What the plans cluster: the pool in the encoder's space where that space is kept, else
        None (the VAE's latent)."""
        return self.encoded if self.space in FEATURE_SPACES else None

    def covered(self, learner: str = "cnn") -> np.ndarray | None:
        """What later epochs' random images cover (``covering_order``): the encoder's features, unit
        length as the probe reads them, where there is an encoder and the CNN answers; None (the
        random order itself) where there is none, or where the probe answers (``learner``
        features): there covering gave the mixed classes most of an epoch's labels."""
        if self.encoded is None or learner == "features":
            return None
        return unit(self.encoded)

    def share_learner(self, learner: str, checked: int) -> str:
        """The learner a later epoch's medoid share is earned for (``earned_share``, ``covered``):
        the one that answered, except that before ``classifier=auto`` has first measured the two
        (``checked`` 0), a pool clustered in the encoder's space counts as answered by the probe, as
        it was from the second epoch on in every photograph and shape run."""
        if self.settings.classifier == "auto" and checked == 0 and self.space in FEATURE_SPACES \
                and self.encoded is not None:
            return "features"
        return learner

    @property
    def training(self) -> bool:
        return self.updating

    @property
    def spent(self) -> int:
        return self.spent_here

    def resume(self, state: dict[str, Any] | None) -> None:
        """The accuracy history and the learner of earlier epochs (the VAE carries its own epoch
        count), from the mode's saved ``state`` (``load_state``)."""
        if state is not None and state.get("labelled_epochs") == self.model.labelled_epochs_:
            self.history = [(int(e), int(n), a) for e, n, a in state["history"]]
            self.accuracy = self.history[-1][2] if self.history else None
            agreed, checked = ([int(n) for n in state.get("checks", [])] + [0, 0])[:2]
            self.checks = Checks(agreed, checked)
            if state.get("confidence"):
                total, n = state["confidence"]
                self.saved_confidence = (float(total), int(n))
            self.known = self.training_labels(self.taken_mask)[0]
            if self.settings.augment == "auto":
                self.augment_choice = state.get("augment", self.augment_choice)
                self.augment_checked = int(state.get("augment_checked", 0))
            if self.settings.classifier == "auto" and state.get("learner") in ("cnn", "features"):
                self.learner_name, self.learner_checked = str(state["learner"]), int(state.get("learner_checked", 0))
        elif state is not None:
            self.curve = []  # the state belongs to another VAE: start its history afresh
        if self.save_models and self.learner_name == "features" and self.encoder is not None \
                and self.workspace.has_model(PROBE):
            encoder = self.encoder
            self.learner = self.workspace.load_model(PROBE, lambda path: FeatureProbe.load(path, encoder))
        elif self.save_models and self.settings.classifier in ("auto", "cnn") and self.workspace.has_model(CNN):
            self.learner = self.workspace.load_model(CNN, CNNClassifier.load)

    def repick(self, centres: list[Centre]) -> None:
        """A centre prepared elsewhere shows a member a person has labelled since: the next nearest."""
        taken = self.taken_mask
        for centre in centres:
            if centre.medoid is not None and taken[centre.medoid]:
                centre.medoid = pick_medoid(centre.members, centre.distances, taken)
                if centre.medoid is not None:
                    centre.image = np.asarray(self.pool.images[centre.medoid])

    def spread_factor(self) -> float:
        """S, what a spread label weighs beside a person's (times its w_n): `spread.spread_weight`
        over this session's checks and the confidence the person gave."""
        return spread_weight(self.checks, self.given_confidence()[0], self.saved_factor)

    def given_confidence(self) -> tuple[float | None, int]:
        """The mean confidence (h 1, m 0.7, l 0.4) of the person's cluster labels in the kept space,
        over this session and the earlier ones the saved state counts, and how many; None with none."""
        total, n = self._confidence_sums()
        return (total / n if n else None), n

    def _confidence_sums(self) -> tuple[float, int]:
        """The sum and count behind ``given_confidence``: what the mode's state saves."""
        given = [d.confidence for d in self.decisions if d.label is not None and self.in_space(d.centre)]
        return self.saved_confidence[0] + float(sum(given)), self.saved_confidence[1] + len(given)

    def _plan_message(self) -> str:
        how = f"k={self.plan.k}" + (" (elbow)" if self.plan.inertias else "")
        if self.space is None:
            return f"epoch {self.epoch}, {how}: two clusterings take turns; l/m if the strip mixes"
        return (f"epoch {self.epoch}, {how}: "
                + ("a number labels it and its cluster (l/m first: mixed)"
                   if self.settings.show == "medoid" else "label each centre, x if it shows no class"))

    @property
    def current(self) -> Centre | None:
        return self.queue[0] if self.queue else None

    def in_space(self, centre: Centre) -> bool:
        """Whether a centre belongs to the space the pool is clustered in (while the trial runs, both do)."""
        return self.space is None or not centre.space or centre.space == self.space

    # -- actions --------------------------------------------------------------------------------

    def do_label(self, label: int) -> None:
        """Give the centre a class; it spreads to the cluster's members."""
        if not self.known_class(label):
            return
        self._decide(int(label))

    def do_no_class(self) -> None:
        """The centre shows no class: split its cluster and show the parts."""
        self._decide(None)

    def _decide(self, label: int | None) -> None:
        centre = self.current
        if centre is None:
            self.message = "training: the next epoch's centres come when it is done" if self.training \
                else "no centre to label: press t to train the next epoch"
            return
        p_c = CONFIDENCE[self.confidence]
        spread: list[tuple[str, int, float]] = []
        children: list[Centre] = []
        item = None  # the person's label goes to the pool item shown, when it is one
        checked = None  # whether it agreed with the label spread to that image before
        if label is not None:
            if self.in_space(centre):
                spread = spread_rows(self.pool.ids, centre.members, centre.distances, label, p_c, self.settings.a,
                                     {centre.medoid})
            else:  # a trial cluster of the space not kept, shown again by an undo
                spread = trial.home_spread(self, centre.medoid, label)
            item = None if centre.medoid is None else str(self.pool.ids[centre.medoid])
            if centre.medoid is not None and self.known[centre.medoid] >= 0:
                checked = int(self.known[centre.medoid]) == label
                self.checks.add(checked)
        # the image shown is the person's own label (confidence 1); p_c is how far it holds for the cluster
        human, propagated = self.store.add_with_spread(self.session_id, centre.image, label,
                                                       p_c if item is None else 1.0, spread, item_id=item)
        if item is not None:
            self.taken_mask[centre.medoid] = True
        self.queue.pop(0)
        if label is None:
            children = self._split(centre)
            self.queue[0:0] = children
        self.decisions.append(Decision(centre, label, p_c, [human, *propagated], children, checked,
                                       self.label_epoch))
        self.spent_here += 1
        self._count_decision(1)
        name = "no class" if label is None else self.pool.class_names[label]
        if label is None:
            self.message = f"cluster {centre.path}: no class; " + (
                f"split into {len(children)}" if children else "too small to split, left unlabelled")
        else:
            self.message = f"cluster {centre.path} -> {name} ({self.confidence}), spread to {len(spread)} images"
        if self.updating:
            self.message += "; the next epoch trains on it"
        self.confidence = self.settings.confidence  # a lowered confidence holds for one label
        trial.step(self)

    def _split(self, centre: Centre) -> list[Centre]:
        if len(centre.members) < max(MIN_SPLIT, SPLIT_K):
            return []
        plan = self.trial_plans.get(centre.space, self.plan)  # the trial's other space has its own
        km = kmeans(plan.latent[centre.members], SPLIT_K, seed=self.settings.seed + len(self.decisions))
        kept = [c for c in range(len(km.centres)) if (km.assignment == c).any()]
        parts = make_centres(self.model, km.centres[kept], [centre.members[km.assignment == c] for c in kept],
                             [km.distances[km.assignment == c] / plan.scale for c in kept],
                             [f"{centre.path}.{c + 1}" for c in kept], centre.epoch, self.pool.image_shape,
                             self.pool.images if self.settings.show == "medoid" else None, self.taken_mask,
                             decodable=plan.space == "vae")
        for part in parts:
            part.space = plan.space
        return parts

    def do_confidence(self, level: str) -> None:
        """Set the confidence of the next label: high, medium or low."""
        if level not in CONFIDENCE:
            self.message = f"confidence is one of {', '.join(CONFIDENCE)}"
            return
        self.confidence = level
        self.message = f"next label's confidence: {level} ({CONFIDENCE[level]:g})"

    @property
    def label_epoch(self) -> int:
        """The epoch whose training a decision made now joins: this one, or while it trains, the next."""
        return self.epoch + 1 if self.updating else self.epoch

    def classes_changed(self, before: int) -> None:
        """A class added on a live workspace: the VAE's class term makes room for it."""
        self.model.grow_classes(self.pool.n_classes)

    def _count_decision(self, n: int) -> None:
        """While an epoch trains, a decision counts toward the next one (its labels are not in this)."""
        if self.updating:
            self.decided_while_training = max(0, self.decided_while_training + n)
        else:
            self.decided_this_epoch = max(0, self.decided_this_epoch + n)

    def do_skip(self) -> None:
        """Leave this cluster unlabelled and show the next centre."""
        if self.current is None:
            return
        skipped = self.queue.pop(0)
        self.decisions.append(Decision(skipped, None, 0.0, [], [], epoch=self.label_epoch))
        self.message = f"cluster {skipped.path} skipped"
        trial.step(self)

    def do_undo(self) -> None:
        """Take back the last decision (and everything it spread); show that centre again."""
        if self.updating and self.decisions and self.decisions[-1].epoch <= self.epoch:
            self.message = "training on that decision: undo it when the epoch is done"
            return
        if not self.decisions:
            self.message = "nothing to undo"
            return
        d = self.decisions.pop()
        if d.checked is not None:
            self.checks.add(d.checked, -1)
        if d.events:
            self.store.retract(self.session_id, d.events)
            self.taken_mask = self.taken()
            self.spent_here -= 1
            self._count_decision(-1)
        for child in d.children:
            if child in self.queue:
                self.queue.remove(child)
        self.queue.insert(0, d.centre)
        self.message = f"undone: cluster {d.centre.path}"

    def do_train(self) -> None:
        """End this epoch's labelling now: train the next epoch."""
        self.train_now = True

    # -- the update cycle: an epoch (epoch.py does the training) -----------------------------------

    def due_update(self) -> bool:
        if self.updating:
            return False
        if self.decided_this_epoch == 0 and self.current is None and not self.train_now:
            return False  # nothing decided and nothing left to show: no new labels to train on
        return self.train_now or self.current is None or self.decided_this_epoch >= self.settings.per_epoch

    def training_labels(self, taken: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per pool item: the current label (a person's on a pool item, else the propagated one)
        and its training weight (1 for a person's; for a spread one w_n times S, within S of the
        draws: `spread.weigh`); -1 where there is none. ``taken``: which items have a person's
        label, when just read from the store."""
        taken = self.taken() if taken is None else taken
        labels = np.full(len(self.pool), -1, np.int64)
        weights = np.zeros(len(self.pool), np.float32)
        current = self.store.current(("human", "propagated"))
        known = [(i, lab, w) for i, (lab, w) in current.items() if lab is not None]
        if known:
            idx = self.pool.indices_of([i for i, _, _ in known])
            labels[idx] = [lab for _, lab, _ in known]
            weights[idx] = [w for _, _, w in known]
            weights = weigh(labels, weights, taken, self.spread_factor())
        return labels, weights

    def snapshot(self) -> EpochJob:
        trial.choose_space(self)  # `t` before the trial's end: what it has seen decides
        self.taken_mask = self.taken()  # people's labels from other sessions too
        labels, weights = self.training_labels(self.taken_mask)
        self.updating = True
        return EpochJob(self.epoch, labels, weights, self.spent_here, self.elapsed, self.plan.k, self.taken_mask.copy(),
                        dataclasses.replace(self.checks), self.spread_factor(), self.augment_choice,
                        self.augment_checked, self.space or "vae", self._confidence_sums(), self.learner_name,
                        self.learner_checked, self._random_labels())

    def _random_labels(self) -> np.ndarray:
        """Per pool item: a person labelled it as a random image of the order (this session's decisions)."""
        mask = np.zeros(len(self.pool), bool)
        for d in self.decisions:
            if d.label is not None and d.centre.random and d.centre.medoid is not None:
                mask[d.centre.medoid] = True
        return mask

    def taken(self) -> np.ndarray:
        """Per pool item: whether it has a person's label (from any mode)."""
        return people(self.workspace)[0]

    def train(self, job: EpochJob, progress: Progress = no_progress) -> EpochResult:
        return epoch.train(self, job, progress)

    def compute_seconds(self, job: EpochJob, result: EpochResult) -> float:
        return epoch.compute_seconds(self, job, result)

    def persist(self, job: EpochJob, result: EpochResult) -> None:
        epoch.persist(self, job, result)

    def apply(self, job: EpochJob, result: EpochResult) -> None:
        epoch.apply(self, job, result)

    # -- the view -------------------------------------------------------------------------------

    def view(self) -> ClustersView:
        centre = self.current
        members = [] if centre is None else [self.pool.images[i] for i in centre.shown_members(MEMBERS_SHOWN)]
        counts = self.store.counts()
        return ClustersView(
            centre=centre, members=members, epoch=self.epoch, k=self.plan.k,
            position=self.decided_while_training if self.updating else self.decided_this_epoch,
            per_epoch=self.settings.per_epoch, queued=len(self.queue), spent=self.spent_here,
            confidence=self.confidence, training=self.updating, accuracy=self.accuracy,
            history=list(self.history),
            propagated=[counts.get(("propagated", c), 0) for c in range(self.pool.n_classes)],
            message=self.message, spread_weight=self.spread_factor(), checks=(self.checks.agreed, self.checks.checked),
        )
