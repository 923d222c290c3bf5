"""An epoch's training (any thread; no store): the VAE's epoch with the class term, what answers for
the pool (the learner: a CNN on the spread labels, or softmax regression on the encoder's features
over the pool's neighbour graph, chosen by cross-validation on a person's labels), and the next plan;
then `persist` (model files and state, any thread) and `apply` (the session's thread) of the update cycle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...cluster import clustering_report
from ...models.augment import PRESETS
from ...models.cnn import CNNClassifier
from ...models.probe import FeatureProbe
from ..base import COSTS, CurvePoint, Progress, choose_augment, cross_validated, no_progress
from .models import CNN, PROBE, VAE
from .plan import Plan, make_plan
from .settings import (
    AUGMENT_LEVELS,
    CNN_AVERAGE,
    CNN_BUDGET,
    FEATURE_SPACES,
    NO_CLASS_WARN_AFTER,
    NO_CLASS_WARN_SHARE,
    ClustersSettings,
)
from .spread import Checks, earned_share, label_masses

if TYPE_CHECKING:
    from .session import ClustersSession


@dataclass
class EpochJob:
    epoch: int
    labels: np.ndarray  # per pool item, -1 = none
    weights: np.ndarray
    spent: int
    seconds: float
    k: int  # clusters of the plan whose centres were labelled
    taken: np.ndarray | None = None  # per pool item: a person's label (no medoid shown twice)
    checks: Checks = field(default_factory=Checks)  # the session's checks of the spread when the epoch began
    spread_factor: float = 1.0
    augment: str = "shift"  # the CNN's augmentation so far (augment=auto: the last measured choice)
    augment_checked: int = 0  # augment=auto: labels a class at the last measurement (0: none yet)
    space: str = "vae"  # the space the next plan clusters in
    confidence: tuple[float, int] = (0.0, 0)  # the person's label confidences in the kept space: sum, count
    learner: str = "cnn"  # classifier=auto: what answered after the last measurement, cnn or features
    learner_checked: int = 0  # classifier=auto: labels a class at the last measurement (0: none yet)
    random: np.ndarray | None = None  # per pool item: a person labelled it as a random image of the order


@dataclass
class EpochResult:
    record: dict  # the model's epoch losses
    accuracy: float | None
    reconstruction: dict[str, float] | None
    clustering: dict[str, float] | None  # ACC, NMI, ARI of the test set's nearest centres
    plan: Plan
    seconds_train: float
    vae_accuracy: float | None = None  # the VAE head's, whichever classifier answers
    learner: CNNClassifier | FeatureProbe | None = None  # what answers for the pool
    seconds_learner: float = 0.0
    cnn_images: int = 0  # image passes of the CNN's training
    tested: int = 0
    augment: str = "shift"  # the augmentation the CNN trained with
    augment_scores: dict[str, float] = field(default_factory=dict)  # augment=auto: cross-validated accuracies
    augment_checked: int = 0
    cv_images: int = 0  # image passes of the cross-validation fits
    learner_name: str = "cnn"  # what answered: cnn or features (the linear probe)
    learner_scores: dict[str, float] = field(default_factory=dict)  # classifier=auto: cross-validated accuracies
    learner_checked: int = 0
    probe_rows: int = 0  # rows the feature probe's fits trained on (cross-validation included)
    graph_pairs: int = 0  # similarities the neighbour graph took to build (0: built before, or none)


def cnn_epochs(settings: ClustersSettings, labelled_epoch: int, trained_epoch: int) -> int:
    """Epochs of an epoch's CNN: as many image passes as ``cnn_epochs`` over every labelled image
    (``labelled_epoch`` passes an epoch), whatever the spread weighs, so that spread labels that
    weigh nothing leave more epochs over a person's labels (``trained_epoch`` passes an epoch);
    within `CNN_BUDGET` passes, so that a large pool's spread trains for fewer epochs (at least one)."""
    epochs = max(settings.cnn_epochs, round(settings.cnn_epochs * labelled_epoch / max(trained_epoch, 1)))
    return max(1, min(epochs, CNN_BUDGET // max(trained_epoch, 1)))


def train(s: ClustersSession, job: EpochJob, progress: Progress = no_progress) -> EpochResult:
    """One epoch with the class term, what answers for the pool, evaluation, the next plan."""
    t0 = time.perf_counter()
    st = s.settings
    n_labelled = int((job.labels >= 0).sum())
    has = (job.labels >= 0) & (job.weights > 0)
    taken = job.taken if job.taken is not None else np.zeros(len(job.labels), bool)
    people = np.flatnonzero(taken & (job.labels >= 0))
    probing = st.probes() and s.encoded is not None and len(people) >= 2
    with_cnn = (st.classifier == "cnn" or (st.classifier == "auto" and job.learner == "cnn")) and int(has.sum()) >= 2
    share = 0.3 if with_cnn else 0.9  # of the progress bar: the VAE epoch; the CNN takes most of the rest

    def vae_step(step: int, steps: int, losses: dict) -> None:
        if step % 25 == 0 or step == steps:
            progress(share * step / steps, f"epoch {job.epoch} with {n_labelled} labelled images: "
                     f"reconstruction {losses['reconstruction']:.1f}, class term {losses['classification']:.3f}")

    record = s.model.fit_epoch(s.x, job.labels, job.weights, samples=st.epoch_samples, progress=vae_step)
    seconds = time.perf_counter() - t0
    accuracy = reconstruction = clustering = None
    learner: CNNClassifier | FeatureProbe | None = None
    seconds_learner, pool_probs = 0.0, None
    augment, augment_checked, cv_images = job.augment, job.augment_checked, 0
    augment_scores: dict[str, float] = {}
    learner_scores: dict[str, float] = {}
    name, learner_checked = ("features" if st.classifier == "features" else "cnn"), 0
    probe_rows, graph_pairs = 0, 0
    if probing and s.graph is None:
        assert s.encoder is not None and s.encoded is not None
        s.graph = FeatureProbe(s.encoder, pool=s.encoded).pool_graph(
            s.encoded, seed=st.seed, progress=lambda i, total: progress(
                share, f"the pool's neighbour graph: {i:,}/{total:,} images"))
        graph_pairs = s.graph.pairs
    if with_cnn or (probing and st.classifier == "auto"):
        augment, augment_scores, augment_checked, cv_images = measure_augment(s, job, progress, share)
    if probing:
        name, learner_scores, learner_checked, passes, rows = measure_learner(s, job, augment, augment_scores,
                                                                               progress, share)
        cv_images += passes
        probe_rows += rows
        with_cnn = name == "cnn" and int(has.sum()) >= 2
    if name == "features" and probing:
        assert s.encoded is not None
        t1 = time.perf_counter()
        progress(share, f"epoch {job.epoch}: softmax regression on the encoder's features of {len(people)} labels")
        probe = make_probe(s, st.seed + job.epoch).fit_items(s.encoded[people], people, job.labels[people],
                                                             s.pool.n_classes)
        probe_rows += probe.trained_on
        pool_probs = probe.proba_of_features(s.encoded)  # a product of the pool's features: cheap
        learner = probe
        seconds_learner = time.perf_counter() - t1
    elif with_cnn:
        t1 = time.perf_counter()
        net = CNNClassifier(arch="small", epochs=st.cnn_epochs, patience=0, augment=PRESETS[augment],
                            seed=st.seed + job.epoch, average_from=CNN_AVERAGE)
        epochs = net.epochs = cnn_epochs(st, net.images_per_epoch(n_labelled), net.images_per_epoch(int(has.sum())))

        def cnn_step(epoch: int, loss: float) -> None:
            progress(share + (0.9 - share) * epoch / epochs,
                     f"CNN on the spread labels: epoch {epoch}/{epochs}, loss {loss:.3f}")

        net.fit(s.x[has], job.labels[has], s.pool.n_classes, sample_weight=job.weights[has], progress=cnn_step,
                weights_as="rate")
        if scores_pool(s, job):
            progress(0.9, "the CNN scores the pool…")
            pool_probs = net.predict_proba(s.x)
        learner = net
        seconds_learner = time.perf_counter() - t1
    progress(0.93, "clustering the pool again…")
    picked_for = s.share_learner(name if learner is not None else "cnn", learner_checked)
    plan = make_plan(s.model, s.x, s.pool.image_shape, st, job.epoch + 1, ranked=True, n_classes=s.pool.n_classes,
                     pool_images=s.pool.images, taken=job.taken, classifier=learner, pool_probs=pool_probs,
                     share=earned_share(st.show, job.spread_factor, picked_for), features=s.features,
                     cover=s.covered(picked_for), space=s.encoder_space)
    vae_accuracy = None
    test = s.test_arrays()
    if test is not None:
        tx, ty = test
        z_test = s.model.encode(tx)
        vae_accuracy = float((s.model.proba_from_latent(z_test).argmax(1) == ty).mean())
        if s.encoder is not None and plan.space in FEATURE_SPACES:
            z_test = s.encoder.encode(tx)  # the space the centres live in
        accuracy = learner.score(tx, ty) if learner is not None else vae_accuracy
        reconstruction = s.model.reconstruction(tx)
        zc = np.stack([c.z for c in plan.centres])
        nearest = np.linalg.norm(z_test[:, None] - zc[None], axis=2).argmin(1)
        clustering = clustering_report(ty, nearest)
    progress(1.0, f"epoch {job.epoch}: done")
    return EpochResult(record, accuracy, reconstruction, clustering, plan, seconds, vae_accuracy, learner,
                       seconds_learner, cnn_images=learner.images_seen_ if isinstance(learner, CNNClassifier) else 0,
                       tested=0 if test is None else len(test[1]), augment=augment, augment_scores=augment_scores,
                       augment_checked=augment_checked, cv_images=cv_images,
                       learner_name=name if learner is not None else "cnn", learner_scores=learner_scores,
                       learner_checked=learner_checked, probe_rows=probe_rows, graph_pairs=graph_pairs)


def make_probe(s: ClustersSession, seed: int) -> FeatureProbe:
    """Softmax regression on the encoder's features, standardized by the pool's, trained on the
    neighbour graph's spread labels once the graph is built."""
    assert s.encoder is not None and s.encoded is not None
    return FeatureProbe(s.encoder, seed=seed, pool=s.encoded, graph=s.graph)


def scores_pool(s: ClustersSession, job: EpochJob) -> bool:
    """Whether the epoch's learner scores the pool to rank the next clusters (not where the spread
    has earned no medoids: random images alone)."""
    return earned_share(s.settings.show, job.spread_factor) > 0


def measure_augment(s: ClustersSession, job: EpochJob, progress: Progress,
                    at: float) -> tuple[str, dict[str, float], int, int]:
    """``augment=auto``: ``choose_augment`` on a person's labels (not the spread ones), each fit
    ``cnn_epochs`` epochs. Returns the choice, the accuracies, the labels a class it was measured
    at and the fits' image passes."""
    st = s.settings
    if st.augment != "auto" or job.taken is None:
        return job.augment, {}, job.augment_checked, 0
    people = np.flatnonzero(job.taken & (job.labels >= 0))
    x, y = s.x[people], job.labels[people]
    passes = 0

    def fit_predict(kind: str, train: np.ndarray, held: np.ndarray) -> np.ndarray:
        nonlocal passes
        progress(at, f"epoch {job.epoch}: measuring {kind} augmentation on {len(y)} of your labels")
        model = CNNClassifier(arch="small", epochs=st.cnn_epochs, patience=0, augment=PRESETS[kind],
                              seed=st.seed + job.epoch)
        model.fit(x[train], y[train], s.pool.n_classes)
        passes += model.images_seen_
        return model.predict(x[held])

    choice, scores, checked = choose_augment(y, s.pool.n_classes, job.augment, job.augment_checked, fit_predict,
                                             st.seed + job.epoch, levels=AUGMENT_LEVELS, per_class="mean")
    return choice, scores, checked, passes


RANDOM_SCORED = 12  # random images' labels at least, for the learner choice to be scored on them alone


def measure_learner(s: ClustersSession, job: EpochJob, augment: str, augment_scores: dict[str, float],
                    progress: Progress, at: float) -> tuple[str, dict[str, float], int, int, int]:
    """``classifier=auto``: once a person's labels reach the levels augment=auto measures at
    (``AUGMENT_LEVELS``, labels a class over all classes), cross-validate softmax regression on
    the encoder's features against the CNN with the chosen augmentation (its score from that
    measurement when there was one, on the same folds) and keep the better; a tie keeps the CNN.
    Returns the choice, the accuracies, the level measured at, the CNN fits' image passes and the
    probe fits' rows."""
    st = s.settings
    if st.classifier != "auto" or job.taken is None or s.encoded is None:
        return ("features" if st.classifier == "features" else "cnn"), {}, job.learner_checked, 0, 0
    people = np.flatnonzero(job.taken & (job.labels >= 0))
    y = job.labels[people]
    reached = len(y) // max(s.pool.n_classes, 1)
    due = [n for n in AUGMENT_LEVELS if reached >= n > job.learner_checked]
    if not due:
        return job.learner, {}, job.learner_checked, 0, 0
    features, x = s.encoded[people], s.x[people]
    seed = st.seed + job.epoch  # the folds augment=auto measured on
    passes = rows = 0

    def probe(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        nonlocal rows
        model = make_probe(s, seed).fit_items(features[train], people[train], y[train], s.pool.n_classes)
        rows += model.trained_on
        return model.proba_of_features(features[held]).argmax(1)

    def cnn(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        nonlocal passes
        progress(at, f"epoch {job.epoch}: measuring the CNN against the encoder's features on {len(y)} labels")
        model = CNNClassifier(arch="small", epochs=st.cnn_epochs, patience=0, augment=PRESETS[augment], seed=seed)
        model.fit(x[train], y[train], s.pool.n_classes)
        passes += model.images_seen_
        return model.predict(x[held])

    # scored on the random images' labels where there are enough: medoids are the features' typical
    # images, where the probe is right far more often than on the pool (digits: 0.94 cross-validated
    # on all 32 labels against 0.75 on the test set); the folds still train on every label
    scored = None if job.random is None else job.random[people].astype(np.float64)
    if scored is None or scored.sum() < RANDOM_SCORED:
        scored = None
    scores = {"features": cross_validated(y, 3, probe, seed, scored)}
    scores["cnn"] = augment_scores[augment] if augment in augment_scores and scored is None \
        else cross_validated(y, 3, cnn, seed, scored)
    if scores["features"] is None or scores["cnn"] is None:
        return job.learner, {}, job.learner_checked, passes, rows
    measured = {k: float(v) for k, v in scores.items() if v is not None}
    return ("features" if measured["features"] > measured["cnn"] else "cnn"), measured, due[-1], passes, rows


def compute_seconds(s: ClustersSession, job: EpochJob, result: EpochResult) -> float:
    """The epoch on the reference CPU: VAE passes, clustering (twice where random images cover the
    clusters), the CNN's passes, the neighbour graph (once a session) and the probe's fits, evaluation."""
    n = len(s.pool)
    samples = max(s.settings.epoch_samples, n)
    scored = n if result.learner is not None and scores_pool(s, job) else 0
    return (COSTS.vae_sample * samples + COSTS.cluster_item * (n + result.plan.covered)
            + COSTS.cnn_image_epoch * (result.cnn_images + result.cv_images)
            + COSTS.graph_pair * result.graph_pairs + COSTS.linear_image * result.probe_rows
            + COSTS.evaluation_item * (result.tested + scored))


def persist(s: ClustersSession, job: EpochJob, result: EpochResult) -> None:
    """The VAE, the learner and the accuracy history, so that a reopened session goes on from here."""
    if not s.save_models:
        return
    s.model.save(s.workspace.model_path(VAE))
    if isinstance(result.learner, CNNClassifier):
        result.learner.save(s.workspace.model_path(CNN))
    elif result.learner is not None:
        result.learner.save(s.workspace.model_path(PROBE))
    history = [*s.history, (job.epoch, job.spent, result.accuracy)]
    point = {"labels": job.spent, "seconds": job.seconds, "accuracy": result.accuracy,
             "extra": {"epoch": job.epoch}}
    s.save_state({"labelled_epochs": s.model.labelled_epochs_, "history": history,
                  "curve": [*s.curve_records(), point], "checks": job.checks.as_list(),
                  "spread_factor": job.spread_factor, "augment": result.augment,
                  "augment_checked": result.augment_checked, "space": job.space,
                  "learner": result.learner_name, "learner_checked": result.learner_checked,
                  "confidence": list(job.confidence)})


def apply(s: ClustersSession, job: EpochJob, result: EpochResult) -> None:
    """Back on the session's thread: the next epoch's centres, the curve point."""
    s.updating = False
    s.plan = result.plan
    s.queue = list(result.plan.centres)
    s.repick(s.queue)  # the medoid of a centre may have been labelled while this epoch trained
    decided = [d for d in s.decisions if d.epoch == job.epoch and d.events]  # it trained on them (not skips)
    s.decided_this_epoch = s.decided_while_training
    s.decided_while_training = 0
    s.train_now = False
    s.epoch = job.epoch + 1
    s.known = job.labels
    s.accuracy = result.accuracy
    s.history.append((job.epoch, job.spent, result.accuracy))
    extra: dict[str, Any] = {
        "epoch": job.epoch, "k": job.k, "k_next": result.plan.k,
        "spread_to": int(((job.labels >= 0) & (job.weights > 0)).sum()),
        "seconds_train": round(result.seconds_train, 2),
        **{f"train_{k}": round(v, 4) for k, v in result.record.items() if k != "epoch"},
    }
    no_class = sum(d.label is None for d in decided)
    extra["no_class"] = no_class
    extra["spread_checked"], extra["spread_agreed"] = job.checks.checked, job.checks.agreed
    extra["spread_factor"] = round(job.spread_factor, 4)
    spread, people_mass = label_masses(job.labels, job.weights,
                                       job.taken if job.taken is not None else np.zeros(len(job.labels), bool))
    extra["spread_draws"] = round(spread / (spread + people_mass), 4) if spread + people_mass > 0 else 0.0
    extra["vae_accuracy"] = result.vae_accuracy
    extra["seconds_cnn"] = round(result.seconds_learner, 2)
    extra["cnn_images"] = result.cnn_images  # image passes of the CNN's training
    extra["cnn_average"] = CNN_AVERAGE
    extra["space"] = job.space
    if s.space_scores and job.epoch == 1:
        extra["space_trial"] = dict(s.space_scores)  # the mean confidence each space's clusters got
    if result.learner is not None:
        extra["augment"] = result.augment
        s.augment_choice, s.augment_checked = result.augment, result.augment_checked
    if result.augment_scores:
        extra["augment_cv"] = result.augment_scores
        extra["cv_images"] = result.cv_images
    if result.reconstruction:
        extra["test_bce"] = round(result.reconstruction["bce"], 3)
        extra["test_pixel_accuracy"] = round(result.reconstruction["pixel_accuracy"], 4)
    if result.clustering:
        extra.update({f"test_{k}": round(v, 4) for k, v in result.clustering.items()})
    s.curve.append(CurvePoint(job.spent, job.seconds, result.accuracy, extra))
    if result.learner is not None:
        s.learner = result.learner
        extra["classifier"] = result.learner_name
        s.learner_name = result.learner_name
        if result.learner_name == "features":
            extra["probe_rows"] = result.probe_rows  # a person's labels, or the graph's images
    if result.learner_scores:
        extra["classifier_cv"] = result.learner_scores
        s.learner_checked = result.learner_checked
    acc = "-" if result.accuracy is None else f"{result.accuracy:.1%}"
    if len(decided) >= NO_CLASS_WARN_AFTER and no_class >= NO_CLASS_WARN_SHARE * len(decided):
        s.message = (f"{no_class} of {len(decided)} centres showed no class: clusters mix your classes, "
                        f"try batch mode (epoch {job.epoch}, test {acc}; a on the start screen)")
    else:
        how = f"k={s.plan.k}" + (" (elbow)" if s.plan.inertias else "")
        trained = f"{int(extra['spread_to'])} images trained on"
        if result.learner_name == "features" and result.learner is not None:
            trained = f"the features of your {int(job.taken.sum()) if job.taken is not None else 0} labels"
        s.message = (f"epoch {job.epoch}: test accuracy {acc} ({trained}); "
                        f"epoch {s.epoch}: {how}")  # one line at 80 columns
