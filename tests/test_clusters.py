from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from tuilabel.cli import main
from tuilabel.cluster import ari, choose_k, clustering_accuracy, elbow, kmeans, nmi
from tuilabel.models.probe import unit
from tuilabel.models.vae import VAEClassifier
from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.clusters import (
    CONFIDENCE,
    Checks,
    ClustersSession,
    ClustersSettings,
    cnn_epochs,
    covering_order,
    interleave,
    make_plan,
    random_order,
    share_scale,
    spread_weight,
)
from tuilabel.sessions.clusters.settings import CNN_AVERAGE, CNN_BUDGET, MEMBERS_SHOWN, PRIOR_CHECKS, SPLIT_K

from .conftest import CLUSTERS_TINY

TINY = ClustersSettings(**CLUSTERS_TINY)


# -- metrics and k-means ---------------------------------------------------------------------------


def test_metrics_on_hand_worked_examples():
    truth = np.array([0, 0, 0, 1, 1, 1])
    assert clustering_accuracy(truth, np.array([5, 5, 5, 2, 2, 2])) == 1.0  # names do not matter
    assert nmi(truth, np.array([5, 5, 5, 2, 2, 2])) == pytest.approx(1.0)
    assert ari(truth, np.array([5, 5, 5, 2, 2, 2])) == pytest.approx(1.0)
    pred = np.array([0, 0, 1, 1, 1, 1])
    # best map 0->0, 1->1: 5 of 6 right
    assert clustering_accuracy(truth, pred) == pytest.approx(5 / 6)
    # ARI by hand: pairs within clusters of the contingency [[2,1],[0,3]] = 1+3 = 4; rows 3+3 = 6,
    # columns 1+6 = 7; expected 6*7/15 = 2.8; max (6+7)/2 = 6.5; ARI = 1.2/3.7
    assert ari(truth, pred) == pytest.approx(1.2 / 3.7)
    # NMI by hand from the same table
    p = np.array([[2, 1], [0, 3]]) / 6
    pt, pp = p.sum(1), p.sum(0)
    mi = sum(p[i, j] * np.log(p[i, j] / (pt[i] * pp[j])) for i in range(2) for j in range(2) if p[i, j] > 0)
    h = lambda q: -sum(v * np.log(v) for v in q if v > 0)  # noqa: E731
    assert nmi(truth, pred) == pytest.approx(mi / ((h(pt) + h(pp)) / 2))
    # more clusters than classes: the unmatched cluster's items count as wrong
    assert clustering_accuracy(truth, np.array([0, 0, 2, 1, 1, 1])) == pytest.approx(5 / 6)


def test_kmeans_finds_blobs_and_the_elbow_their_number():
    rng = np.random.default_rng(0)
    blobs = [(0, 0), (4, 4), (0, 6), (7, 0)]
    x = np.concatenate([rng.normal(c, 0.4, (50, 2)) for c in blobs])
    truth = np.repeat(np.arange(4), 50)
    r = kmeans(x, 4, seed=1)
    assert clustering_accuracy(truth, r.assignment) == 1.0
    assert np.allclose(r.distances, np.linalg.norm(x - r.centres[r.assignment], axis=1), atol=1e-4)
    k, inertias = choose_k(x, 2, 9)
    assert k == 4 and inertias[2] > inertias[4] > inertias[9]
    assert elbow({1: 100.0, 2: 20.0, 3: 15.0, 4: 12.0}) == 2


# -- the model ------------------------------------------------------------------------------------


def test_vae_learns_reconstruction_and_the_class_term(sample_workspace, tmp_path):
    pool = sample_workspace.pool
    x = pool.as_float()
    model = VAEClassifier(seed=0).build(x.shape[1:], pool.n_classes)
    before = model.reconstruction(x)["bce"]
    first = model.fit_epoch(x, samples=3000)
    assert first["classification"] == 0 and first["labelled"] == 0
    assert model.reconstruction(x)["bce"] < before
    labels = pool.truth.copy()
    labels[300:] = -1  # half of the pool labelled, weight 1
    chance = model.score(x[300:], pool.truth[300:])
    for _ in range(3):
        record = model.fit_epoch(x, labels, np.ones(len(x), np.float32), samples=3000)
    assert record["labelled"] == 300 and record["classification"] > 0
    assert model.score(x[300:], pool.truth[300:]) > max(0.6, chance + 0.3)  # the head generalises
    images = model.decode(np.zeros((2, model.z_dim)))
    assert images.shape == (2, *x.shape[1:]) and images.min() >= 0 and images.max() <= 1
    model.save(tmp_path / "vae.npz")
    again = VAEClassifier.load(tmp_path / "vae.npz")
    assert np.allclose(again.predict_proba(x[:20]), model.predict_proba(x[:20]), atol=1e-6)
    assert again.epochs_ == 4 and again.labelled_epochs_ == 3


# -- the session ----------------------------------------------------------------------------------


def _session(ws, model, **changes):
    settings = ClustersSettings(**{**TINY.__dict__, **changes})
    return ClustersSession(ws, settings, clock=SimClock(), model=model)


@pytest.mark.slow
def test_a_centre_label_spreads_with_equation_2_and_undo_takes_it_all_back(sample_workspace, clusters_model):
    ws = sample_workspace
    session = _session(ws, clusters_model, confidence="high", show="centre")
    assert session.plan.k == 6 and len(session.queue) == 6
    centre = session.current
    assert centre.image.shape == ws.pool.image_shape and centre.image.dtype == np.uint8
    session.handle(Action("confidence", "medium"))
    session.handle(Action("label", 7))
    spread = ws.store.current(("propagated",))
    assert len(spread) == len(centre.members)
    expected = CONFIDENCE["medium"] * np.exp(-TINY.a * centre.distances)
    got = np.array([spread[str(ws.pool.ids[i])][1] for i in centre.members])
    assert np.allclose(got, expected, atol=1e-6) and {lab for lab, _ in spread.values()} == {7}
    # the person's label is the decoded centre itself, with its pixels and confidence
    (event,) = list(ws.store.events(("human",), samples=True))
    assert event.item_id is None and event.label == 7 and event.confidence == CONFIDENCE["medium"]
    assert np.array_equal(event.sample, centre.image)
    assert session.confidence == "high"  # a lowered confidence holds for one label
    assert session.current is not centre and session.spent == 1
    session.handle(Action("undo"))
    assert ws.store.current(("propagated",)) == {} and list(ws.store.events(("human",))) == []
    assert session.current is centre and session.spent == 0


def test_a_label_on_the_member_shown_is_the_persons_and_spreads_to_the_rest(sample_workspace, clusters_model):
    ws = sample_workspace
    session = _session(ws, clusters_model, show="medoid")
    centre = session.current
    nearest = centre.members[np.argmin(centre.distances)]
    assert centre.medoid == nearest and np.array_equal(centre.image, ws.pool.images[nearest])
    shown = centre.shown_members(MEMBERS_SHOWN)
    assert len(shown) == MEMBERS_SHOWN and nearest not in shown  # the strip shows the others
    assert all(np.array_equal(a, ws.pool.images[i]) for a, i in zip(session.view().members, shown, strict=True))
    session.handle(Action("confidence", "low"))
    session.handle(Action("label", 4))
    (event,) = list(ws.store.events(("human",)))
    assert event.item_id == str(ws.pool.ids[nearest]) and event.label == 4 and event.confidence == 1.0
    spread = ws.store.current(("propagated",))
    others = [i for i in centre.members if i != nearest]
    assert sorted(spread) == sorted(str(ws.pool.ids[i]) for i in others)
    expected = CONFIDENCE["low"] * np.exp(-TINY.a * centre.distances[centre.members != nearest])
    assert np.allclose([spread[str(ws.pool.ids[i])][1] for i in others], expected, atol=1e-6)
    labels, weights = session.training_labels()  # the person's label trains at full weight
    assert labels[nearest] == 4 and weights[nearest] == 1.0
    session.handle(Action("undo"))
    assert ws.store.current(("human", "propagated")) == {} and session.current is centre
    session.handle(Action("no_class"))  # a cluster that shows no class labels nothing, not even the image
    assert ws.store.current(("human", "propagated")) == {}
    assert all(part.medoid in part.members for part in session.queue[:SPLIT_K])


def test_the_spread_weighs_what_later_labels_found_it_worth(sample_workspace, clusters_model):
    """A person's label on an image that carries a spread label checks it; S = 2q - 1 of the checks
    (Laplace-smoothed), the person's confidence counting as PRIOR_CHECKS checks; undo takes a check back."""
    ws = sample_workspace
    session = _session(ws, clusters_model, show="medoid")
    assert session.spread_factor() == 1.0  # nothing said or checked yet
    first, second = session.queue[0], session.queue[1]
    session.known[second.medoid] = 2  # as if an earlier epoch had spread class 2 to it
    session.known[first.medoid] = 5
    session.handle(Action("label", 5))  # agrees
    session.handle(Action("label", 7))  # disagrees
    assert session.checks == Checks(1, 2)
    m = PRIOR_CHECKS
    assert session.spread_factor() == pytest.approx(2 * (1 + 1 + m * 1.0) / (2 + 2 + m) - 1)
    labels, weights = session.training_labels()
    spread = [i for i in second.members if i != second.medoid]
    assert (labels[spread] == 7).all() and weights[first.medoid] == weights[second.medoid] == 1.0
    session.handle(Action("undo"))
    assert session.checks == Checks(1, 1)
    # an image a person has labelled (in any mode) is not shown again: the next nearest member is
    other = ws.store.start_session("browse", "someone")
    ws.store.add_many(other, [(str(ws.pool.ids[c.medoid]), 1, 1.0) for c in session.queue])
    again = _session(ws, clusters_model, show="medoid")
    taken = again.taken()
    assert all(c.medoid is None or not taken[c.medoid] for c in again.queue)


def test_the_spread_weight_starts_from_the_persons_confidence_and_follows_the_checks():
    """Before any check: 2c - 1 for the mean confidence c (h 1, m 0.7, l 0.4), so clusters the person
    calls mixed spread nothing; after: 2q - 1, q = (agreed + 1 + m c)/(checked + 2 + m)."""
    assert spread_weight(Checks(), None) == 1.0 and spread_weight(Checks(), None, saved=0.3) == 0.3
    assert spread_weight(Checks(), 0.4) == 0.0 and spread_weight(Checks(), 0.7) == pytest.approx(0.4)
    c, m = 0.7, PRIOR_CHECKS
    assert spread_weight(Checks(3, 4), c) == pytest.approx(2 * (3 + 1 + m * c) / (4 + 2 + m) - 1)
    assert 0.0 < spread_weight(Checks(1, 4), c) < 2 * c - 1  # a few checks mostly wrong: the word keeps some
    assert spread_weight(Checks(4, 40), c) == 0.0  # wrong more often than right, over many checks
    assert spread_weight(Checks(3, 4), None) == pytest.approx(2 * (3 + 1) / (4 + 2) - 1)  # the checks alone


def test_the_spread_labels_take_at_most_their_weight_of_the_draws(sample_workspace, clusters_model):
    """The spread labels' weights are scaled down so that together they take at most S of the
    training draws beside a person's labels; a person's labels keep theirs."""
    ws = sample_workspace
    session = _session(ws, clusters_model, show="medoid")
    for label in (1, 2, 3):
        session.handle(Action("confidence", "medium"))
        session.handle(Action("label", label))
    labels, weights = session.training_labels()
    taken = session.taken()
    factor = session.spread_factor()
    assert 0 < factor < 1
    share = weights[(labels >= 0) & ~taken].sum() / weights[labels >= 0].sum()
    assert share == pytest.approx(factor, rel=1e-4) and (weights[taken & (labels >= 0)] == 1.0).all()
    assert share_scale(1.0, 10.0, 0.5) == 1.0 and share_scale(30.0, 10.0, 0.5) == pytest.approx(1 / 3)


def _save_past_first_epoch(ws, model):
    """The workspace's VAE file as if it had trained one labelled epoch (a reopened session)."""
    saved = model.labelled_epochs_
    model.labelled_epochs_ = 1
    try:
        model.save(ws.models_dir / "vae.npz")
    finally:
        model.labelled_epochs_ = saved


@pytest.mark.slow
def test_later_epochs_show_medoids_for_the_share_the_spread_has_earned(sample_workspace, clusters_model):
    """A later epoch shows the least sure clusters' medoids for the share
    of the queue the spread's weight gives, and for the rest the first images of the session's
    random order that no person has labelled, each with its nearest cluster measured from it; a
    reopened session takes the share from the weight its last epoch trained with."""
    ws = sample_workspace
    x, n_classes = ws.pool.as_float(), ws.pool.n_classes
    taken = np.zeros(len(ws.pool), bool)
    taken[::5] = True
    order = random_order(len(ws.pool), TINY.seed)
    free = order[~taken[order]]
    assert not np.array_equal(order, random_order(len(ws.pool), TINY.seed + 1))

    def plan(share):
        return make_plan(clusters_model, x, ws.pool.image_shape, TINY, 2, ranked=True, n_classes=n_classes,
                         pool_images=ws.pool.images, taken=taken, share=share)

    medoids = plan(1.0).centres
    assert [c.uncertainty for c in medoids] == sorted((c.uncertainty for c in medoids), reverse=True)
    for c in medoids:
        free_members = ~taken[c.members]
        assert c.medoid == c.members[free_members][np.argmin(c.distances[free_members])]
    randoms = plan(0.0)
    assert randoms.share == 0.0 and len(randoms.centres) >= TINY.per_epoch
    assert [c.medoid for c in randoms.centres] == list(free[: len(randoms.centres)])
    for c in randoms.centres:
        assert c.medoid in c.members and c.distances[c.members == c.medoid][0] == 0.0
        assert c.uncertainty is None and c.guess is not None
    quarter = plan(0.25).centres
    is_medoid = [c.uncertainty is not None for c in quarter]
    assert is_medoid[:8] == [False, True, False, False, False, True, False, False]
    assert [c.medoid for c in quarter if c.uncertainty is not None] == [c.medoid for c in medoids][: sum(is_medoid)]
    assert [c.medoid for c in quarter if c.uncertainty is None] == list(free[: len(quarter) - sum(is_medoid)])
    # the interleaving on its own: whatever one list lacks, the other fills
    assert [*interleave([1, 2], [7, 8, 9], 0.5)] == [1, 7, 2, 8, 9]
    assert [*interleave([1, 2], [], 0.0)] == [1, 2] and [*interleave([], [7], 1.0)] == [7]
    # a reopened session: the share is the spread's weight its last epoch trained with
    _save_past_first_epoch(ws, clusters_model)
    for factor, share in ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0)):
        session = ClustersSession(ws, TINY, clock=SimClock())
        session.save_state({"labelled_epochs": 1, "history": [], "curve": [], "checks": [0, 0],
                            "spread_factor": factor})
        reopened = ClustersSession(ws, TINY, clock=SimClock(), **ClustersSession.prepare(ws, TINY))
        assert reopened.plan.share == share and reopened.spread_factor() == factor
        assert sum(c.uncertainty is not None for c in reopened.queue[:4]) == round(4 * share)
    # the confidences the person gave before go on counting beside the checks after a reopen
    session.save_state({"labelled_epochs": 1, "history": [], "curve": [], "checks": [1, 4],
                        "spread_factor": 0.0, "confidence": [1.4, 2]})
    reopened = ClustersSession(ws, TINY, clock=SimClock(), **ClustersSession.prepare(ws, TINY))
    m = PRIOR_CHECKS
    assert reopened.given_confidence() == (pytest.approx(0.7), 2)
    assert reopened.spread_factor() == pytest.approx(2 * (1 + 1 + m * 0.7) / (4 + 2 + m) - 1)


@pytest.mark.slow
def test_augment_auto_is_measured_on_a_persons_labels_not_the_spread(sample_workspace, clusters_model, monkeypatch):
    import tuilabel.models.cnn as clusters_module
    from tuilabel.sessions.clusters import EpochJob
    from tuilabel.sessions.clusters.epoch import measure_augment

    ws = sample_workspace
    session = _session(ws, clusters_model)
    truth = ws.pool.truth.astype(np.int64)
    people = np.concatenate([np.flatnonzero(truth == c)[:4] for c in range(10)])
    taken = np.zeros(len(ws.pool), bool)
    taken[people] = True
    labels = truth.copy()  # everything else carries a spread label
    job = EpochJob(2, labels, np.ones(len(labels), np.float32), 40, 0.0, 8, taken)
    sizes = []
    fit = clusters_module.CNNClassifier.fit

    def recording_fit(self, x, y, *args, **kwargs):
        sizes.append(len(x))
        return fit(self, x, y, *args, **kwargs)

    monkeypatch.setattr(clusters_module.CNNClassifier, "fit", recording_fit)
    choice, scores, checked, passes = measure_augment(session, job, lambda *a: None, 0.3)
    assert set(scores) == {"shift", "geometric"} and choice in scores and checked == 4 and passes > 0
    assert len(sizes) == 6 and all(n < len(people) for n in sizes) and sum(sizes) == 2 * 2 * len(people)
    job.augment_checked = 4
    assert measure_augment(session, job, lambda *a: None, 0.3) == ("shift", {}, 4, 0)  # measured once a level
    fixed = _session(ws, clusters_model, augment="geometric")
    job.augment, job.augment_checked = "geometric", 0
    assert measure_augment(fixed, job, lambda *a: None, 0.3) == ("geometric", {}, 0, 0)


@pytest.mark.slow
def test_classifier_auto_keeps_what_cross_validates_better_on_a_persons_labels(sample_workspace, clusters_model):
    from tuilabel.sessions.clusters import EpochJob
    from tuilabel.sessions.clusters.epoch import measure_learner

    ws = sample_workspace
    session = _session(ws, clusters_model, classifier="auto")
    assert session.encoded is not None  # auto loads the encoder even where the pool is clustered in the VAE's
    truth = ws.pool.truth.astype(np.int64)
    people = np.concatenate([np.flatnonzero(truth == c)[:3] for c in range(10)])  # 3 a class: level 2 is due
    taken = np.zeros(len(ws.pool), bool)
    taken[people] = True
    job = EpochJob(2, truth.copy(), np.ones(len(truth), np.float32), 30, 0.0, 8, taken)

    def choose(scores: dict[str, float], **changes) -> tuple:
        for k, v in changes.items():
            setattr(job, k, v)
        return measure_learner(session, job, "shift", scores, lambda *a: None, 0.3)

    learner, scores, checked, passes, rows = choose({"shift": 1.0})  # the CNN's score from augment=auto's folds
    assert learner == "cnn" and checked == 2 and passes == 0 and scores["cnn"] == 1.0
    assert 0.0 < scores["features"] <= 1.0  # measured: digits the encoder's features mostly tell apart
    assert rows == 2 * len(people)  # no graph yet: three folds, each probe on the other two folds' labels
    from tuilabel.models.probe import FeatureProbe
    session.graph = FeatureProbe(session.encoder, pool=session.encoded).pool_graph(session.encoded)
    learner, scores, checked, passes, rows = choose({"shift": 0.0})
    assert learner == "features" and checked == 2 and scores["features"] > 0.0
    assert rows > 3 * len(people)  # each fold's probe on the graph's images, not the labels alone
    assert choose({"shift": 0.0}, learner="features", learner_checked=2) == ("features", {}, 2, 0, 0)  # measured once
    learner, scores, checked, passes, rows = choose({}, learner="cnn", learner_checked=0)  # augment fixed: its own
    assert passes > 0 and set(scores) == {"cnn", "features"} and learner in scores
    fixed = _session(ws, clusters_model, classifier="cnn")
    assert measure_learner(fixed, job, "shift", {"shift": 0.0}, lambda *a: None, 0.3) == ("cnn", {}, 0, 0, 0)


@pytest.mark.slow
def test_classifier_features_answers_with_softmax_regression_on_the_encoders_features(sample_workspace,
                                                                                      clusters_model):
    from tuilabel.models.probe import FeatureProbe

    ws = sample_workspace
    session = _session(ws, clusters_model, classifier="features")
    truth = ws.pool.truth
    while not session.due_update():
        members = session.current.members
        session.handle(Action("label", int(np.bincount(truth[members]).argmax())))
    session.update()
    point = session.curve[-1]
    assert point.extra["classifier"] == "features" and point.extra["cnn_images"] == 0  # no CNN trained
    assert isinstance(session.learner, FeatureProbe)
    assert f"(the features of your {TINY.per_epoch} labels)" in session.message
    assert session.plan.share == 0.0 and session.queue  # random images alone where the features answer
    assert all(c.guess is not None for c in session.queue)  # each with the probe's guess
    order = random_order(len(ws.pool), TINY.seed)
    free = order[~session.taken()[order]]
    assert [c.medoid for c in session.queue] == list(free[: len(session.queue)])  # the graph's probe: the order itself
    assert ws.models_dir.joinpath("clusters-probe.npz").exists() and not ws.models_dir.joinpath(
        "clusters-cnn.npz").exists()
    labelled = np.flatnonzero(session.taken())
    people_labels = np.array([ws.store.current(("human",))[str(ws.pool.ids[i])][0] for i in labelled])
    assert session.graph is not None and len(session.graph.nodes) == len(ws.pool)  # the pool's neighbour graph
    by_hand = FeatureProbe(session.encoder, seed=TINY.seed + 1, pool=session.encoded, graph=session.graph).fit_items(
        session.encoded[labelled], labelled, people_labels, 10)  # standardized by the whole pool's features
    tx, ty = ws.test.as_float(), ws.test.truth
    assert point.accuracy == pytest.approx(by_hand.score(tx, ty))  # the person's labels spread over the graph
    assert point.extra["probe_rows"] == by_hand.trained_on == len(ws.pool)  # every pool image, not the CNN's spread
    # where the CNN answers, a later epoch's random images cover the encoder's clusters
    taken = session.taken()
    cover = unit(session.encoded)
    plan = make_plan(clusters_model, ws.pool.as_float(), ws.pool.image_shape, TINY, 3, ranked=True, n_classes=10,
                     pool_images=ws.pool.images, taken=taken, share=0.0, features=session.encoded, cover=cover)
    covering = covering_order(cover, taken, order, TINY.per_epoch, TINY.seed + 3)
    assert [c.medoid for c in plan.centres] == list(covering[: len(plan.centres)])
    assert list(covering[: TINY.per_epoch]) != list(free[: TINY.per_epoch]) and plan.covered == len(ws.pool)
    again = _session(ws, clusters_model, classifier="features")  # reopened: the saved probe answers
    assert isinstance(again.learner, FeatureProbe)
    assert np.allclose(again.learner.predict_proba(tx[:20]), session.learner.predict_proba(tx[:20]), atol=1e-5)


def test_covering_order_takes_random_images_from_clusters_no_label_is_in_yet():
    rng = np.random.default_rng(0)
    blobs = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    which = np.repeat(np.arange(4), 50)
    features = blobs[which] + rng.normal(0, 0.5, (200, 2))
    order = rng.permutation(200)
    taken = np.zeros(200, bool)
    taken[[0, 50]] = True  # a person labelled an image of blobs 0 and 1: 2 labelled + 2 an epoch, 4 clusters
    free = order[~taken[order]]
    first = [int(i) for i in free if which[i] == 2][:1] + [int(i) for i in free if which[i] == 3][:1]
    first.sort(key=lambda i: list(free).index(i))  # the first image of each empty blob, in the random order
    expected = first + [int(i) for i in free if i not in first]  # then the rest of the random order
    got = covering_order(features, taken, order, per_epoch=2, seed=0)
    assert got.tolist() == expected and got.tolist() != free.tolist()
    assert covering_order(features, None, order, per_epoch=1, seed=0).tolist() == order.tolist()  # one cluster


def test_no_class_splits_top_down_and_undo_removes_the_parts(sample_workspace, clusters_model):
    session = _session(sample_workspace, clusters_model)
    parent = session.current
    session.handle(Action("no_class"))
    parts = session.queue[:SPLIT_K]
    assert [c.path for c in parts] == [f"{parent.path}.{n}" for n in range(1, SPLIT_K + 1)]
    assert sorted(np.concatenate([c.members for c in parts]).tolist()) == sorted(parent.members.tolist())
    assert sample_workspace.store.current(("propagated",)) == {}  # no class spreads nothing
    session.handle(Action("no_class"))  # a part shows no class either: its own parts come next
    assert session.current.path.startswith(f"{parts[0].path}.") and session.current.depth == 2
    session.handle(Action("undo"))
    session.handle(Action("undo"))
    assert session.current is parent and len(session.queue) == len(session.plan.centres)
    labelled = [ev for ev in sample_workspace.store.events(("human",))]
    assert labelled == []


def test_the_cnn_trains_cnn_epochs_over_the_labelled_within_the_budget():
    s = ClustersSettings()  # cnn_epochs 15, CNN_BUDGET 60,000
    assert cnn_epochs(s, 4000, 4000) == 15  # the spread weighs: 15 epochs over it
    assert cnn_epochs(s, 4000, 640) == 93  # weighs nothing: the same passes over a person's 32 labels, 94 capped
    assert cnn_epochs(s, 2000, 640) == 47 and cnn_epochs(s, 640, 640) == 15
    assert cnn_epochs(s, 42_000, 42_000) == 1  # a large pool's spread: within the budget, at least one
    assert cnn_epochs(s, 42_000, 640) == 93 and cnn_epochs(s, 12_000, 12_000) == 5


@pytest.mark.slow
def test_an_epoch_trains_on_the_spread_labels_and_clusters_again(sample_workspace, clusters_model):
    ws = sample_workspace
    session = _session(ws, clusters_model, space="vae")  # the seed's: the class term shapes the space clustered
    truth = ws.pool.truth
    while not session.due_update():
        members = session.current.members  # a perfect labeller, to check the plumbing
        session.handle(Action("label", int(np.bincount(truth[members]).argmax())))
    assert session.decided_this_epoch == TINY.per_epoch
    labels, weights = session.training_labels()
    assert (labels >= 0).sum() == len(ws.store.current(("propagated", "human")))  # the medoids are people's
    assert len(ws.store.current(("human",))) == TINY.per_epoch
    assert np.all((weights[labels >= 0] > 0) & (weights[labels >= 0] <= 1))
    session.update()
    point = session.curve[-1]
    assert point.labels == TINY.per_epoch and point.accuracy is not None
    assert 0 < point.extra["cnn_images"] <= CNN_BUDGET
    assert point.extra["cnn_average"] == CNN_AVERAGE == 0.5  # what bench_clusters' random order copies
    has = labels >= 0  # the class term was trained on: the head now agrees with the spread labels
    assert (clusters_model.predict(ws.pool.as_float()[has]) == labels[has]).mean() > 0.6
    assert {"test_acc", "test_nmi", "test_ari", "test_bce", "vae_accuracy"} <= set(point.extra)
    assert session.learner is not None and (ws.models_dir / "clusters-cnn.npz").exists()
    assert session.epoch == 2 and session.plan.k == TINY.fine_k and session.decided_this_epoch == 0
    assert session.load_state()["confidence"] == [pytest.approx(TINY.per_epoch * 1.0), TINY.per_epoch]  # all high
    assert all(c.medoid is not None and not session.taken_mask[c.medoid] for c in session.queue)
    assert (ws.models_dir / "vae.npz").exists()
    # a person's label on a pool item (another mode) outranks what was spread to it
    other = ws.store.start_session("browse")
    item = str(ws.pool.ids[int(np.flatnonzero(labels >= 0)[0])])
    ws.store.add(other, item, 3)
    labels2, weights2 = session.training_labels()
    assert labels2[ws.pool.index_of(item)] == 3 and weights2[ws.pool.index_of(item)] == 1.0
    out = main(["eval", str(ws.path)])
    assert out == 0


def test_queued_centres_take_labels_while_the_epoch_trains_and_count_toward_the_next(sample_workspace,
                                                                                     clusters_model):
    """Found at 80x24: after the 16th decision the person waited the whole epoch with nothing to do.
    The queued centres stay on screen; their labels are stored at once and join the next epoch."""
    ws = sample_workspace
    session = _session(ws, clusters_model, space="vae")
    truth = ws.pool.truth

    def label_current():
        session.handle(Action("label", int(np.bincount(truth[session.current.members]).argmax())))

    while not session.due_update():
        label_current()
    job = session.snapshot()
    assert session.training and session.current is not None  # the rest of the queue, still there
    before = len(ws.store.current(("human",)))
    label_current()
    label_current()
    assert len(ws.store.current(("human",))) == before + 2 and session.view().position == 2
    assert "next epoch" in session.message
    session.handle(Action("undo"))  # one made while training: taken back
    assert len(ws.store.current(("human",))) == before + 1 and session.view().position == 1
    session.handle(Action("undo"))
    session.handle(Action("undo"))  # the epoch trains on this one: not now
    assert len(ws.store.current(("human",))) == before and "when the epoch is done" in session.message
    label_current()
    session.apply(job, session.train(job))
    assert session.epoch == 2 and session.decided_this_epoch == 1 and not session.training
    assert session.curve[-1].labels == job.spent  # the epoch's point counts what it trained on
    assert all(c.medoid is None or not session.taken_mask[c.medoid] for c in session.queue)
    while not session.due_update():
        label_current()
    assert session.decided_this_epoch == TINY.per_epoch  # the one made while training counted
    session.update()
    assert session.curve[-1].labels == session.spent


def test_train_key_ends_the_epoch_early(sample_workspace, clusters_model):
    session = _session(sample_workspace, clusters_model)
    session.handle(Action("label", 1))
    assert not session.due_update()
    session.handle(Action("train"))
    assert session.due_update()
    session.handle(Action("skip"))  # skipping is not a label
    assert session.spent == 1


@pytest.mark.slow
def test_simulated_clusters_run_and_eval_print_the_metrics(sample_workspace, capsys):
    ws = sample_workspace.path
    out = ws / "runs" / "c.json"
    opts = ["--set", "k=6", "--set", "fine_k=8", "--set", "per_epoch=5", "--set", "epoch_samples=3000",
            "--set", "pretrain_epochs=1", "--set", "cnn_epochs=2", "--set", "space=vae", "--set", "classifier=cnn",
            "--set", "augment=shift"]  # the plumbing under test, not the measurements (test_contrastive has those)
    assert main(["simulate", str(ws), "--mode", "clusters", "--labels", "12", "--out", str(out), *opts]) == 0
    result = json.loads(out.read_text())
    curve = result["curve"]
    assert [p["labels"] for p in curve] == [5, 10, 12]  # the last two labels are trained on too
    assert all(p["accuracy"] is not None for p in curve)
    assert main(["train", str(ws), "--model", "vae", "--set", "pretrain_epochs=1", "--set", "epoch_samples=3000",
                 "--set", "space=vae", "--set", "classifier=cnn"]) == 0
    capsys.readouterr()
    assert main(["eval", str(ws)]) == 0
    printed = capsys.readouterr().out
    assert "vae (clusters mode" in printed and "ACC" in printed and "NMI" in printed and "ARI" in printed
    assert "k-means of the latent, k=10" in printed
    assert "cnn (clusters mode" not in printed  # simulations keep their models apart


@pytest.mark.slow
def test_an_epoch_of_mostly_no_class_says_the_clusters_do_not_follow_the_classes(sample_workspace, clusters_model):
    session = _session(sample_workspace, clusters_model)
    session.handle(Action("label", 1))
    while not session.due_update():
        session.handle(Action("no_class"))
    session.update()
    assert session.curve[-1].extra["no_class"] == TINY.per_epoch - 1
    assert f"{TINY.per_epoch - 1} of {TINY.per_epoch} centres showed no class" in session.message
    assert "batch mode" in session.message
    truth = sample_workspace.pool.truth
    while not session.due_update():  # an epoch of classes: the usual message again
        session.handle(Action("label", int(np.bincount(truth[session.current.members]).argmax())))
    session.update()
    assert session.curve[-1].extra["no_class"] == 0 and "showed no class" not in session.message


def test_the_simulated_person_decides_a_cluster_from_what_the_screen_shows(sample_workspace, monkeypatch):
    """The decoded centre (read by the reference) and the real members shown under it (told from
    their truth) vote; a mixed cluster is "no class"; no members shown is the centre alone."""
    import tuilabel.simulate as sim

    reading = {"p": np.full(10, 0.1)}  # what the reference makes of the decoded centre

    class Reference:
        def predict_proba(self, x):
            return reading["p"][None].repeat(len(x), 0)

    monkeypatch.setattr(sim, "reference_classifier", lambda ws: Reference())
    judge = sim.CentreJudge(sample_workspace, sim.SimSettings(mode="clusters"))
    truth = sample_workspace.pool.truth
    threes, fives = np.flatnonzero(truth == 3)[:6], np.flatnonzero(truth == 5)[:6]
    blur = np.zeros(sample_workspace.pool.image_shape, np.uint8)
    assert judge.judge(blur) == (None, "medium")  # an unreadable centre alone: no class
    assert judge.judge(blur, threes) == (3, "medium")  # its members show the class
    assert judge.judge(blur, [*threes[:3], *fives[:3]])[0] is None  # they disagree: split it
    assert judge.judge(blur, [*threes[:4], *fives[:2]])[0] is None  # 4 of 6 is below 0.7
    assert judge.judge(blur, [*threes[:5], fives[0]]) == (3, "medium")  # 5 of 6 is not
    reading["p"] = np.eye(10)[3] * 0.98 + 0.002
    assert judge.judge(blur) == (3, "high")
    assert judge.judge(blur, threes) == (3, "high")
    assert judge.judge(blur, [*threes[:4], *fives[:2]]) == (3, "medium")  # 5 of 7 votes with the centre
    # a real image shown large: the person gives it its class; the members say how far it holds
    assert judge.judge_item(fives[0], threes) == (5, "low")
    assert judge.judge_item(threes[0], threes[1:]) == (3, "high")
    assert judge.judge_item(threes[0], [*threes[1:5], fives[0]]) == (3, "medium")  # 4 of 5 share it
    assert judge.judge_item(threes[0], [*threes[1:4], *fives[:2]]) == (3, "low")  # 3 of 5 do not


# -- the screen -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_clusters_screen_labels_splits_and_trains(sample_workspace, clusters_model):
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.clusters import ClustersScreen

    ws = sample_workspace
    clusters_model.save(ws.models_dir / "vae.npz")

    async def run() -> None:
        app = TuilabelApp(ws, colors="256")
        async with app.run_test(size=(90, 28)) as pilot:
            await app.push_screen(ClustersScreen(ws, "256", settings=TINY))
            screen = app.screen
            for _ in range(1200):  # a minute at most on a busy machine
                await pilot.pause(0.05)
                if screen.session is not None:
                    break
            session = screen.session
            assert session is not None and len(session.queue) == TINY.k
            shown = screen.query_one("#centre").render_line(0)
            assert shown.cell_length > 0
            first = session.current
            assert np.array_equal(first.image, ws.pool.images[first.medoid])  # a real image, large
            await pilot.press("4")
            assert len(ws.store.current(("propagated",))) == len(first.members) - 1
            assert ws.store.current(("human",)) == {str(ws.pool.ids[first.medoid]): (4, 1.0)}
            await pilot.pause()  # the side panel: what a spread label weighs (high confidence, no checks yet: 1)
            assert str(screen.query_one("#counts").text).startswith("spread, weight 1.00\n")
            await pilot.press("x")
            assert session.current.path.count(".") == 1
            await pilot.press("t")  # end the epoch: it trains on a worker, then shows epoch 2
            for _ in range(2400):  # two minutes at most on a busy machine
                await pilot.pause(0.05)
                if session.epoch == 2 and not session.training:
                    break
            assert session.epoch == 2 and session.history and session.history[0][1] == 2
            assert "epoch 2" in str(screen.query_one("#state").text)

    asyncio.run(run())


def test_bad_clusters_settings_are_one_line_errors(sample_workspace, capsys):
    ws = str(sample_workspace.path)
    assert main(["label", ws, "--mode", "clusters", "--set", "classifier=svm"]) == 2
    assert main(["label", ws, "--set", "per_epoch=0"]) == 2
    assert main(["simulate", ws, "--mode", "clusters", "--labels", "5", "--out", "x.json", "--set", "nope=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("tuilabel: error: ") for line in err)
    assert "classifier='svm'" in err[0] and "per_epoch=0" in err[1] and "unknown setting 'nope'" in err[2]


def test_first_epoch_never_clusters_fewer_than_twice_the_classes(sample_workspace, clusters_model, monkeypatch):
    import tuilabel.sessions.clusters.plan as plan_module

    monkeypatch.setattr(plan_module, "K_MIN", 2)
    monkeypatch.setattr(plan_module, "K_MAX", 4)
    pool = sample_workspace.pool
    x = pool.as_float(np.arange(300))
    s = ClustersSettings(k=0)
    plan = make_plan(clusters_model, x, pool.image_shape, s, 1, ranked=False, n_classes=10)
    assert plan.k == 20 and not plan.inertias  # no elbow below twice the classes
    plan = make_plan(clusters_model, x, pool.image_shape, s, 1, ranked=False, n_classes=1)
    assert 2 <= plan.k <= 4 and sorted(plan.inertias) == [2, 3, 4]  # the elbow where it has room


def test_with_a_backbone_the_pool_is_clustered_in_its_features_and_the_probe_reads_them(sample_workspace,
                                                                                         clusters_model):
    from tuilabel.models.probe import FeatureProbe
    from tuilabel.sessions.backbone import BackboneSpace

    ws = sample_workspace
    ws.set_backbone("efficientnet-lite0")
    truth, test = ws.pool.truth, ws.test

    def separable(y: np.ndarray, seed: int) -> np.ndarray:  # what a good backbone gives: a direction a class
        rng = np.random.default_rng(seed)
        return (4.0 * np.eye(10, dtype=np.float32)[y] + rng.normal(0, 0.3, (len(y), 10))).astype(np.float32)

    pool_x = ws.pool.as_float()
    features = separable(truth, 0)
    space = BackboneSpace(pool_x, features, test.as_float(), separable(test.truth, 1))
    session = ClustersSession(ws, ClustersSettings(**{**TINY.__dict__, "space": "backbone", "k": 10, "per_epoch": 10,
                                                                "classifier": "features"}), clock=SimClock(),
                              model=clusters_model, space=space, encoded=features)
    assert session.space == "backbone" and session.encoder is space  # no contrastive encoder, no trial
    assert session.plan.space == "backbone" and all(c.space == "backbone" for c in session.queue)
    purity = [np.bincount(truth[c.members]).max() / len(c.members) for c in session.plan.centres]
    assert min(purity) > 0.9  # clustered in the features: a class a cluster
    while not session.due_update():
        session.handle(Action("label", int(np.bincount(truth[session.current.members]).argmax())))
    session.update()
    point = session.curve[-1]
    assert session.plan.space == "backbone" and point.extra["classifier"] == "features"
    assert isinstance(session.learner, FeatureProbe) and session.learner.encoder is space
    assert point.accuracy is not None and point.accuracy > 0.9  # the test set read through the stored features
    assert all(c.guess is not None for c in session.queue)
    randoms = [d for d in session.decisions if d.centre.random]
    assert session.plan.share < 1.0 and any(c.random for c in session.queue)  # the probe answers: random images
    while not session.due_update():
        session.handle(Action("label", int(truth[session.current.medoid])))
        randoms = [d for d in session.decisions if d.centre.random]
    assert randoms and session.snapshot().random.sum() == len({d.centre.medoid for d in randoms})
    with pytest.raises(ValueError, match="whole pool or test set"):
        space.encode(pool_x[:5])  # images the network never embedded: never a wrong row


def test_space_backbone_without_a_backbone_is_one_line(sample_workspace, capsys, tmp_path):
    assert main(["simulate", str(sample_workspace.path), "--mode", "clusters", "--labels", "4",
                 "--set", "space=backbone", "--out", str(tmp_path / "curve.json")]) == 2
    err = capsys.readouterr().err
    assert "space=backbone needs a backbone" in err and "Traceback" not in err
