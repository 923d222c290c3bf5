"""Clusters: label a handful of decoded cluster centres per epoch and let the labels spread (seed 003).

A VAE with a softmax head on its latent code is first trained without labels. After each epoch the
pool's latent means are clustered with k-means and each centre is decoded into an image. A person
gives each centre a class and a confidence, or says it shows no class: then that cluster is split
into sub-clusters whose centres come next (top-down, as deep as needed). A label spreads to every
member of its cluster with weight ``w_n = p_c * exp(-a * d_n)`` (the seed's equation 2) and is
stored as source "propagated"; the centre itself is stored as the person's label, with its pixels.
When the epoch's centres are decided, the next epoch trains with the weighted class term
(equation 3) and clusters again.

Where this goes beyond the seed, measured on the sample (see benchmarks/bench_clusters.py):
- the first epoch shows every centre of a k chosen by the elbow method; later epochs cluster more
  finely (``fine_k``) and show the centres the classifier is least sure of first (the mean entropy
  of its predictions over the cluster's members), ``per_epoch`` of them; a cluster nobody looks at
  keeps the labels spread earlier;
- distances are measured in units of the clustering's median member distance, so ``a`` means the
  same on any data set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import strategies
from ..cluster import choose_k, clustering_report, kmeans
from ..data import to_model_input
from ..errors import TuilabelError
from ..models.augment import Augment
from ..models.cnn import CNNClassifier
from ..models.vae import VAEClassifier
from ..workspace import Workspace
from .base import BaseSession, Clock, CurvePoint

CNN_FILE = "clusters-cnn.npz"  # the classifier trained on the spread labels
CONFIDENCE = {"high": 1.0, "medium": 0.7, "low": 0.4}  # p_c a person gives with h, m, l


@dataclass
class ClustersSettings:
    k: int = 0  # clusters in the first epoch; 0 = the elbow of k-means inertia over [k_min, k_max]
    k_min: int = 8
    k_max: int = 20
    fine_k: int = 32  # clusters in later epochs (0 = the first epoch's k)
    per_epoch: int = 16  # centres a person decides per epoch before training goes on (seed: 10-16)
    split_k: int = 3  # sub-clusters of a cluster whose centre shows no class
    min_split: int = 6  # a cluster smaller than this is not split
    a: float = 3.0  # distance decay of equation 2 (distances over the median member distance)
    confidence: str = "high"  # the default p_c: high, medium or low
    pretrain_epochs: int = 2  # epochs without labels before the first clustering
    epoch_samples: int = 60000  # images seen per epoch (the seed's MNIST): small pools take several passes
    z_dim: int = 10
    beta: float = 1.0  # seed 003: 5; 1 keeps more of the latent active (see the benchmark)
    gamma: float = 150.0
    members_shown: int = 6
    classifier: str = "cnn"  # what answers for the pool: "cnn" trained on the spread labels, or "vae" (its head)
    cnn_epochs: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCE:
            raise TuilabelError(f"confidence={self.confidence!r}: expected one of {', '.join(CONFIDENCE)}")
        if self.classifier not in ("cnn", "vae"):
            raise TuilabelError(f"classifier={self.classifier!r}: expected cnn or vae")
        for name in ("per_epoch", "split_k", "z_dim", "epoch_samples", "k_min", "k_max"):
            if getattr(self, name) < 1:
                raise TuilabelError(f"{name}={getattr(self, name)} must be at least 1")
        if self.k_min > self.k_max:
            raise TuilabelError(f"k_min={self.k_min} is above k_max={self.k_max}")

    def model(self, device: str | None = None) -> VAEClassifier:
        return VAEClassifier(z_dim=self.z_dim, beta=self.beta, gamma=self.gamma, seed=self.seed, device=device)


@dataclass
class Centre:
    """One cluster to decide: its members (pool indices), their distances to the centre (in units
    of the clustering's scale), the decoded centre and where it sits in the hierarchy."""

    path: str  # "7", or "7.2" for the second sub-cluster of cluster 7
    members: np.ndarray
    distances: np.ndarray
    z: np.ndarray
    image: np.ndarray  # uint8, the pool's image shape
    epoch: int
    guess: int | None = None  # the classifier's class for the decoded centre
    guess_confidence: float | None = None
    uncertainty: float | None = None  # mean entropy of the classifier over the members

    @property
    def depth(self) -> int:
        return self.path.count(".")

    def nearest(self, n: int) -> np.ndarray:
        return self.members[np.argsort(self.distances, kind="stable")[:n]]


@dataclass
class Plan:
    """An epoch's clustering: the centres to show, most worth a look first."""

    epoch: int
    k: int
    centres: list[Centre]
    scale: float
    latent: np.ndarray  # the pool's latent means the clustering ran on (splits reuse them)
    inertias: dict[int, float] = field(default_factory=dict)  # when k came from the elbow
    seconds: float = 0.0


@dataclass
class Decision:
    centre: Centre
    label: int | None  # None: no class (the cluster was split)
    confidence: float
    events: list[int]  # the person's event and every propagated one
    children: list[Centre]  # sub-clusters queued by a "no class"


@dataclass
class EpochJob:
    epoch: int
    labels: np.ndarray  # per pool item, -1 = none
    weights: np.ndarray
    spent: int
    seconds: float
    k: int  # clusters of the plan whose centres were labelled


@dataclass
class EpochResult:
    record: dict  # the model's epoch losses
    accuracy: float | None
    reconstruction: dict[str, float] | None
    clustering: dict[str, float] | None  # ACC, NMI, ARI of the test set's nearest centres
    plan: Plan
    seconds_train: float
    vae_accuracy: float | None = None  # the VAE head's, whichever classifier answers
    cnn: CNNClassifier | None = None
    seconds_cnn: float = 0.0


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


def decode_image(model: VAEClassifier, z: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Latent codes to uint8 images of the pool's layout (channels last for colour)."""
    x = model.decode(np.atleast_2d(z))  # (n, C, H, W) in [0, 1]
    x = x[:, 0] if len(image_shape) == 2 else np.moveaxis(x, 1, -1)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def make_plan(
    model: VAEClassifier, x: np.ndarray, image_shape: tuple[int, ...], settings: ClustersSettings, epoch: int,
    ranked: bool,
) -> Plan:
    """Cluster the pool's latent means and decode each centre (any thread: no store, no UI)."""
    t0 = time.perf_counter()
    z = model.encode(x)
    inertias: dict[int, float] = {}
    if not ranked:
        k = settings.k
        if k <= 0:
            k, inertias = choose_k(z, settings.k_min, min(settings.k_max, len(z) - 1), seed=settings.seed + epoch)
    else:
        k = settings.fine_k or settings.k or settings.k_max
    k = max(1, min(k, len(z)))
    km = kmeans(z, k, seed=settings.seed + epoch)
    scale = float(np.median(km.distances)) or 1.0
    centres = []
    images = decode_image(model, km.centres, image_shape)
    probs = model.proba_from_latent(z) if ranked else None
    guesses = model.predict_proba(to_model_input(images)) if ranked else None
    for c in range(k):
        members = np.flatnonzero(km.assignment == c)
        if len(members) == 0:
            continue
        centre = Centre(str(c + 1), members, km.distances[members] / scale, km.centres[c], images[c], epoch)
        if probs is not None and guesses is not None:
            centre.uncertainty = float(strategies.entropy(probs[members]).mean())
            centre.guess, centre.guess_confidence = int(guesses[c].argmax()), float(guesses[c].max())
        centres.append(centre)
    if ranked:
        centres.sort(key=lambda ce: -(ce.uncertainty or 0.0))
    else:
        centres.sort(key=lambda ce: -len(ce.members))  # the biggest clusters first
    return Plan(epoch, k, centres, scale, z, inertias, time.perf_counter() - t0)


class ClustersSession(BaseSession):
    mode = "clusters"

    def __init__(
        self,
        workspace: Workspace,
        model: VAEClassifier,
        plan: Plan | None = None,
        clock: Clock | None = None,
        settings: ClustersSettings | None = None,
        annotator: str | None = None,
        save_model: bool = True,
    ) -> None:
        super().__init__(workspace, clock, annotator)
        self.settings = settings or ClustersSettings()
        self.model = model
        self.save_model = save_model
        self.x = self.pool.as_float()
        self.epoch = model.labelled_epochs_ + 1  # the labelling round
        self.plan = plan or make_plan(model, self.x, self.pool.image_shape, self.settings, self.epoch,
                                      ranked=model.labelled_epochs_ > 0)
        self.queue: list[Centre] = list(self.plan.centres)
        self.decisions: list[Decision] = []
        self.decided_this_epoch = 0
        self.train_now = False  # `t`: end this epoch's labelling before per_epoch decisions
        self.spent = 0  # centre decisions (a class or no class) over the whole session
        self.confidence = self.settings.confidence
        self.training = False
        self.accuracy: float | None = None
        self.cnn: CNNClassifier | None = None
        self.history: list[tuple[int, int, float | None]] = []
        self.message = self._plan_message()

    def _plan_message(self) -> str:
        how = f"k={self.plan.k}" + (" (elbow)" if self.plan.inertias else "")
        return f"epoch {self.epoch}: {len(self.plan.centres)} clusters, {how}; label each centre, x if it shows no class"

    @property
    def current(self) -> Centre | None:
        return self.queue[0] if self.queue else None

    # -- actions --------------------------------------------------------------------------------

    def do_label(self, label: int) -> None:
        """Give the centre a class; it spreads to the cluster's members."""
        if not 0 <= int(label) < self.pool.n_classes:
            self.message = f"no class {label}: classes are 0..{self.pool.n_classes - 1}"
            return
        self._decide(int(label))

    def do_no_class(self) -> None:
        """The centre shows no class: split its cluster and show the parts."""
        self._decide(None)

    def _decide(self, label: int | None) -> None:
        centre = self.current
        if centre is None or self.training:
            self.message = "training: the next epoch's centres come when it is done" if self.training \
                else "no centre to label: press t to train the next epoch"
            return
        p_c = CONFIDENCE[self.confidence]
        spread: list[tuple[str, int, float]] = []
        children: list[Centre] = []
        if label is not None:
            weights = p_c * np.exp(-self.settings.a * centre.distances)
            spread = [(str(self.pool.ids[i]), label, float(w)) for i, w in zip(centre.members, weights)]
        human, propagated = self.store.add_with_spread(self.session_id, centre.image, label, p_c, spread)
        self.queue.pop(0)
        if label is None:
            children = self._split(centre)
            self.queue[0:0] = children
        self.decisions.append(Decision(centre, label, p_c, [human, *propagated], children))
        self.spent += 1
        self.decided_this_epoch += 1
        name = "no class" if label is None else self.pool.class_names[label]
        if label is None:
            self.message = f"cluster {centre.path}: no class; " + (
                f"split into {len(children)}" if children else "too small to split, left unlabelled")
        else:
            self.message = f"cluster {centre.path} -> {name} ({self.confidence}), spread to {len(spread)} images"
        self.confidence = self.settings.confidence  # a lowered confidence holds for one label

    def _split(self, centre: Centre) -> list[Centre]:
        s = self.settings
        if len(centre.members) < max(s.min_split, s.split_k):
            return []
        km = kmeans(self.plan.latent[centre.members], s.split_k, seed=s.seed + len(self.decisions))
        images = decode_image(self.model, km.centres, self.pool.image_shape)
        out = []
        for c in range(len(km.centres)):
            sel = km.assignment == c
            if sel.any():
                out.append(Centre(f"{centre.path}.{c + 1}", centre.members[sel], km.distances[sel] / self.plan.scale,
                                  km.centres[c], images[c], centre.epoch))
        return out

    def do_confidence(self, level: str) -> None:
        """Set the confidence of the next label: high, medium or low."""
        if level not in CONFIDENCE:
            self.message = f"confidence is one of {', '.join(CONFIDENCE)}"
            return
        self.confidence = level
        self.message = f"next label's confidence: {level} ({CONFIDENCE[level]:g})"

    def do_skip(self) -> None:
        """Leave this cluster unlabelled and show the next centre."""
        if self.current is None or self.training:
            return
        skipped = self.queue.pop(0)
        self.decisions.append(Decision(skipped, None, 0.0, [], []))
        self.message = f"cluster {skipped.path} skipped"

    def do_undo(self) -> None:
        """Take back the last decision (and everything it spread); show that centre again."""
        if self.training:
            self.message = "training: undo when the epoch is done"
            return
        if not self.decisions:
            self.message = "nothing to undo"
            return
        d = self.decisions.pop()
        if d.events:
            self.store.retract(self.session_id, d.events)
            self.spent -= 1
            if self.decided_this_epoch:
                self.decided_this_epoch -= 1
        for child in d.children:
            if child in self.queue:
                self.queue.remove(child)
        self.queue.insert(0, d.centre)
        self.message = f"undone: cluster {d.centre.path}"

    def do_train(self) -> None:
        """End this epoch's labelling now: train the next epoch."""
        self.train_now = True

    # -- epochs ---------------------------------------------------------------------------------

    def due_epoch(self) -> bool:
        if self.training:
            return False
        return self.train_now or self.current is None or self.decided_this_epoch >= self.settings.per_epoch

    def training_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Per pool item: the current label (a person's on a pool item, else the propagated one)
        and its weight (1 for a person's, w_n for a propagated one); -1 where there is none."""
        labels = np.full(len(self.pool), -1, np.int64)
        weights = np.zeros(len(self.pool), np.float32)
        current = self.store.current(("human", "propagated"))
        known = [(i, lab, w) for i, (lab, w) in current.items() if lab is not None]
        if known:
            idx = self.pool.indices_of([i for i, _, _ in known])
            labels[idx] = [lab for _, lab, _ in known]
            weights[idx] = [w for _, _, w in known]
        return labels, weights

    def snapshot(self) -> EpochJob:
        labels, weights = self.training_labels()
        self.training = True
        return EpochJob(self.epoch, labels, weights, self.spent, self.elapsed, self.plan.k)

    def train(self, job: EpochJob, progress=None, cnn_progress=None) -> EpochResult:
        """The heavy part (any thread): one epoch with the class term, evaluation, the next plan."""
        t0 = time.perf_counter()
        s = self.settings
        record = self.model.fit_epoch(self.x, job.labels, job.weights, samples=s.epoch_samples, progress=progress)
        seconds = time.perf_counter() - t0
        accuracy = reconstruction = clustering = None
        plan = make_plan(self.model, self.x, self.pool.image_shape, s, job.epoch + 1, ranked=True)
        test = self.workspace.test
        cnn, seconds_cnn = None, 0.0
        has = job.labels >= 0
        if s.classifier == "cnn" and has.sum() >= 2:
            t1 = time.perf_counter()
            cnn = CNNClassifier(arch="small", epochs=s.cnn_epochs, patience=0, augment=Augment(), seed=s.seed + job.epoch)
            cnn.fit(self.x[has], job.labels[has], self.pool.n_classes, sample_weight=job.weights[has],
                    progress=cnn_progress)
            seconds_cnn = time.perf_counter() - t1
        vae_accuracy = None
        if test is not None:
            tx = test.as_float()
            z_test = self.model.encode(tx)
            vae_accuracy = float((self.model.proba_from_latent(z_test).argmax(1) == test.truth).mean())
            accuracy = cnn.score(tx, test.truth) if cnn is not None else vae_accuracy
            reconstruction = self.model.reconstruction(tx)
            zc = np.stack([c.z for c in plan.centres])
            nearest = np.linalg.norm(z_test[:, None] - zc[None], axis=2).argmin(1)
            clustering = clustering_report(test.truth, nearest)
        return EpochResult(record, accuracy, reconstruction, clustering, plan, seconds, vae_accuracy, cnn, seconds_cnn)

    def apply(self, job: EpochJob, result: EpochResult) -> None:
        """Back on the session's thread: the next epoch's centres, the curve point, the model file."""
        self.training = False
        self.plan = result.plan
        self.queue = list(result.plan.centres)
        self.decided_this_epoch = 0
        self.train_now = False
        self.epoch = job.epoch + 1
        self.accuracy = result.accuracy
        self.history.append((job.epoch, job.spent, result.accuracy))
        extra = {"epoch": job.epoch, "k": job.k, "k_next": result.plan.k, "spread_to": int((job.labels >= 0).sum()),
                 "seconds_train": round(result.seconds_train, 2), **{f"train_{k}": round(v, 4) for k, v in result.record.items() if k != "epoch"}}
        extra["vae_accuracy"] = result.vae_accuracy
        extra["seconds_cnn"] = round(result.seconds_cnn, 2)
        if result.reconstruction:
            extra["test_bce"] = round(result.reconstruction["bce"], 3)
            extra["test_pixel_accuracy"] = round(result.reconstruction["pixel_accuracy"], 4)
        if result.clustering:
            extra.update({f"test_{k}": round(v, 4) for k, v in result.clustering.items()})
        self.curve.append(CurvePoint(job.spent, job.seconds, result.accuracy, extra))
        if result.cnn is not None:
            self.cnn = result.cnn
        if self.save_model:
            self.model.save(self.workspace.models_dir / "vae.npz")
            if result.cnn is not None:
                result.cnn.save(self.workspace.models_dir / CNN_FILE)
        acc = "-" if result.accuracy is None else f"{result.accuracy:.1%}"
        self.message = f"epoch {job.epoch} trained on {int((job.labels >= 0).sum())} labelled images; " \
                       f"test accuracy {acc}. " + self._plan_message()

    def run_epoch(self) -> None:
        job = self.snapshot()
        self.apply(job, self.train(job))

    # -- the view -------------------------------------------------------------------------------

    def view(self) -> ClustersView:
        centre = self.current
        members = [] if centre is None else [self.pool.images[i] for i in centre.nearest(self.settings.members_shown)]
        counts = self.store.counts()
        return ClustersView(
            centre=centre, members=members, epoch=self.epoch, k=self.plan.k, position=self.decided_this_epoch,
            per_epoch=self.settings.per_epoch, queued=len(self.queue), spent=self.spent,
            confidence=self.confidence, training=self.training, accuracy=self.accuracy,
            history=list(self.history),
            propagated=[counts.get(("propagated", c), 0) for c in range(self.pool.n_classes)],
            message=self.message,
        )


def pretrain(model: VAEClassifier, x: np.ndarray, n_classes: int, settings: ClustersSettings, progress=None) -> None:
    """Build the model for the pool and train its first epochs without labels.

    ``progress(epoch, epochs, step, steps, losses)``."""
    model.build(x.shape[1:], n_classes)
    for e in range(settings.pretrain_epochs):
        def step(i: int, total: int, losses: dict, e: int = e) -> None:
            if progress is not None:
                progress(e + 1, settings.pretrain_epochs, i, total, losses)

        model.fit_epoch(x, samples=settings.epoch_samples, progress=step)
