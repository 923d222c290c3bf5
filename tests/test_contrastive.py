"""The clusters mode's contrastive encoder: it groups by shape where colour varies at random."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tuilabel.cluster import kmeans, nmi
from tuilabel.errors import TuilabelError
from tuilabel.models.contrastive import ContrastiveEncoder, distort, shrink
from tuilabel.sessions.clusters import ClustersSession, ClustersSettings

from .conftest import CLUSTERS_TINY

TINY_A = ClustersSettings(**CLUSTERS_TINY).a


def coloured_marks(n: int = 400, side: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four classes of marks (a horizontal bar, a vertical bar, a box outline, a dot) in random dark
    colours on random light backgrounds, moved a pixel or two: colour says nothing of the class."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % 4
    x = np.empty((n, 3, side, side), np.float32)
    for i, c in enumerate(truth):
        back, fore = rng.uniform(0.55, 1.0, 3), rng.uniform(0.0, 0.45, 3)
        image = np.broadcast_to(back[:, None, None], (3, side, side)).copy()
        dy, dx = rng.integers(-2, 3, 2)
        m = np.zeros((side, side), bool)
        if c == 0:
            m[7:9, 2:14] = True
        elif c == 1:
            m[2:14, 7:9] = True
        elif c == 2:
            m[3:13, 3:13] = True
            m[5:11, 5:11] = False
        else:
            m[6:10, 6:10] = True
        m = np.roll(m, (dy, dx), (0, 1))
        image[:, m] = fore[:, None]
        x[i] = np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1)
    return x, truth


@pytest.mark.slow
def test_the_encoder_clusters_by_shape_where_pixels_cluster_by_colour(tmp_path):
    x, truth = coloured_marks()
    pixels = nmi(truth, kmeans(x.reshape(len(x), -1), 4, seed=0).assignment)
    encoder = ContrastiveEncoder(steps=60, batch_size=128, seed=0).fit(x)
    features = encoder.encode(x)
    assert features.shape == (len(x), 128)
    assert np.allclose(np.linalg.norm(features, axis=1), 1, atol=1e-4)
    learned = nmi(truth, kmeans(features, 4, seed=0).assignment)
    assert pixels < 0.3 and learned > pixels + 0.3, (pixels, learned)
    encoder.save(tmp_path / "space.npz")
    again = ContrastiveEncoder.load(tmp_path / "space.npz")
    assert again.steps_ == 60 and np.allclose(again.encode(x[:20]), features[:20], atol=1e-5)
    (tmp_path / "vae.npz").write_bytes(b"not a model")
    with pytest.raises(TuilabelError, match="cannot read the contrastive model"):
        ContrastiveEncoder.load(tmp_path / "vae.npz")


def test_distortions_keep_shape_and_range_and_big_images_shrink_to_32():
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 20, 24)
    y = distort(x, g)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1 and not torch.allclose(x, y)
    assert shrink(torch.rand(2, 1, 96, 64)).shape == (2, 1, 32, 21)
    assert shrink(x).shape == x.shape


@pytest.mark.slow
def test_space_contrastive_clusters_the_encoders_features_and_keeps_the_encoder(sample_workspace, clusters_model,
                                                                               vae_file):
    ws = sample_workspace
    shutil.copy(vae_file, ws.model_path("vae"))
    contrastive = ClustersSettings(**{**CLUSTERS_TINY, "space": "contrastive"})
    session = ClustersSession(ws, contrastive, model=clusters_model)
    assert session.features is not None and session.plan.latent is session.features
    assert session.plan.latent.shape == (len(ws.pool), 128)
    assert np.allclose(session.features, session.encoder.encode(session.x), atol=1e-5)
    for space in ("vae", "auto"):  # auto: the VAE's latent for grey images such as these digits
        vae = ClustersSession(ws, ClustersSettings(**{**CLUSTERS_TINY, "space": space}), model=clusters_model)
        assert vae.features is None and vae.plan.latent.shape == (len(ws.pool), clusters_model.z_dim)
    assert ClustersSettings(space="auto").uses_encoder(3) and not ClustersSettings(space="auto").uses_encoder(1)
    assert not ClustersSettings(space="contrastive", show="centre").uses_encoder(3)  # centres decode from the VAE
    # a workspace without the encoder trains one when the mode opens, with progress, and keeps it
    ws.model_path("clusters-space").unlink()
    said: list[str] = []
    quick = ClustersSettings(**{**CLUSTERS_TINY, "space": "contrastive", "space_steps": 10})
    parts = ClustersSession.prepare(ws, quick, progress=lambda f, m: said.append(m))
    assert ws.has_model("clusters-space") and parts["space"] is not None
    assert any(m.startswith("encoder without labels: batch 10/10") for m in said)
    assert parts["plan"].latent.shape == (len(ws.pool), 128)


@pytest.mark.slow
def test_a_colour_pool_is_simulated_and_trained_in_the_encoders_space(tmp_path, capsys):
    from tuilabel.cli import main

    x, truth = coloured_marks(240, seed=1)
    tx, tt = coloured_marks(80, seed=2)
    images = lambda a: (a.transpose(0, 2, 3, 1) * 255).astype(np.uint8)  # noqa: E731
    np.savez(tmp_path / "pool.npz", images=images(x), labels=truth)
    np.savez(tmp_path / "test.npz", images=images(tx), labels=tt)
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--data", str(tmp_path / "pool.npz"), "--test", str(tmp_path / "test.npz"),
                 "--backbone", "none"]) == 0
    out = ws / "runs" / "c.json"
    opts = ["--set", "k=8", "--set", "fine_k=8", "--set", "per_epoch=4", "--set", "epoch_samples=2000",
            "--set", "pretrain_epochs=1", "--set", "cnn_epochs=2", "--set", "space_steps=20"]
    assert main(["simulate", str(ws), "--mode", "clusters", "--labels", "8", "--out", str(out), *opts]) == 0
    curve = json.loads(out.read_text())["curve"]
    assert [p["labels"] for p in curve] == [4, 8] and all(p["accuracy"] is not None for p in curve)
    # the spread follows the encoder's clusters, which follow the marks, not their colours
    assert curve[0]["test_nmi"] > 0.5, curve[0]["test_nmi"]
    assert main(["train", str(ws), "--model", "vae", "--epochs", "1", "--set", "space_steps=20",
                 "--set", "epoch_samples=2000"]) == 0
    assert "contrastive encoder 20 batches" in capsys.readouterr().out
    assert main(["eval", str(ws)]) == 0
    assert "k-means of the encoder's, k=8" in capsys.readouterr().out


def _trial(ws, model, **changes) -> ClustersSession:
    from tuilabel.sessions import SimClock

    settings = ClustersSettings(**{**CLUSTERS_TINY, "space": "auto", "space_trial": 2, **changes})
    return ClustersSession(ws, settings, clock=SimClock(), model=model)


@pytest.mark.slow
def test_space_auto_on_grey_images_tries_both_spaces_and_keeps_the_one_called_purer(sample_workspace,
                                                                                    clusters_model, vae_file):
    from tuilabel.sessions import Action

    ws = sample_workspace
    shutil.copy(vae_file, ws.model_path("vae"))
    truth = ws.pool.truth
    session = _trial(ws, clusters_model, k=12)  # enough clusters that the VAE's images have homes of their own
    assert session.space is None and session.encoded is not None and session.features is None
    trial = session.queue[:4]
    assert [c.space for c in trial] == ["vae", "contrastive", "vae", "contrastive"] and all(c.trial for c in trial)
    assert session.queue[4].space == "vae" and not session.queue[4].trial  # the VAE's rest until it decides
    assert "two clusterings take turns" in session.message
    spread_by = {}
    for _ in range(4):  # the person calls the VAE's clusters mixed (l), the encoder's pure (h)
        centre = session.current
        if centre.space == "vae":
            session.handle(Action("confidence", "low"))
        session.handle(Action("label", int(truth[centre.medoid])))
        spread_by[centre.space] = spread_by.get(centre.space, set()) | {str(ws.pool.ids[i]) for i in centre.members
                                                                         if i != centre.medoid}
        assert session.space is None or _ == 3
    assert session.space == "contrastive" and session.space_scores == {"vae": 0.4, "contrastive": 1.0}
    assert session.message == "kept the encoder's clusters (you rated them 1.00, the VAE's 0.40)"
    assert session.features is session.encoded and session.plan is session.trial_plans["contrastive"]
    # what the VAE's clusters spread is taken back and spread again from each image in the kept
    # space, weighed by the purity given to its clusters (1.0); the person's four labels stay
    homes = {}
    for d in session.decisions:
        if d.centre.space == "vae":
            home = next(c for c in session.plan.centres if d.centre.medoid in c.members)
            homes[d.centre.medoid] = home
            reached = {int(i) for e in session.decisions if e.centre.space == "contrastive" for i in e.centre.members}
            again = [i for i in home.members if i != d.centre.medoid and int(i) not in reached]
            assert len(d.events) == 1 + len(again)  # the person's label, and a spread to what the kept space left
    reached = {int(i) for e in session.decisions if e.centre.space == "contrastive" for i in e.centre.members}
    again_spread = {str(ws.pool.ids[i]) for m, h in homes.items() for i in h.members
                    if i != m and int(i) not in reached}
    assert again_spread
    spread, human = ws.store.current(("propagated",)), set(ws.store.current(("human",)))
    assert set(spread) == (spread_by["contrastive"] | again_spread) - human  # a person's label outranks a spread
    assert not set(spread) & (spread_by["vae"] - spread_by["contrastive"] - again_spread)
    latent, checked = session.plan.latent, 0
    for medoid, home in homes.items():  # w_n = 1.0 exp(-a d_n), d_n measured from the image in the encoder's space
        for i in home.members:
            item = str(ws.pool.ids[i])
            if i == medoid or item in spread_by["contrastive"] or item in human \
                    or sum(i in h.members for h in homes.values()) > 1:
                continue
            d = np.linalg.norm(latent[i] - latent[medoid]) / session.plan.scale
            assert spread[item][1] == pytest.approx(np.exp(-TINY_A * d), rel=1e-4)
            checked += 1
    assert checked > 10
    assert len(ws.store.current(("human",))) == 4
    assert session.spread_factor() == 1.0  # from the kept space's labels alone (all h)
    assert all(c.space == "contrastive" and not c.trial for c in session.queue)
    assert not any(c.medoid is not None and session.taken_mask[c.medoid] for c in session.queue)
    session.update()  # the next epoch clusters in the encoder's features and says so
    point = session.curve[-1].extra
    assert point["space"] == "contrastive" and point["space_trial"] == {"vae": 0.4, "contrastive": 1.0}
    assert session.plan.space == "contrastive" and session.plan.ranked
    again = ClustersSession(ws, session.settings, model=session.model)  # reopened: the choice holds
    assert again.space == "contrastive" and again.features is not None and not again.trial_plans
    assert again.plan.latent.shape == (len(ws.pool), 128)
    by_hand = ClustersSession(ws, ClustersSettings(**{**CLUSTERS_TINY, "space": "vae"}), model=session.model)
    assert by_hand.space == "vae" and by_hand.features is None  # a space set by hand is not overruled


def test_once_the_trial_keeps_the_encoders_space_the_epoch_goes_on_down_the_random_order(sample_workspace,
                                                                                        clusters_model, vae_file):
    from tuilabel.sessions import Action
    from tuilabel.sessions.clusters import random_order

    ws = sample_workspace
    shutil.copy(vae_file, ws.model_path("vae"))
    truth = ws.pool.truth

    def decide(session: ClustersSession) -> None:
        while session.space is None:  # the VAE's clusters called mixed, the encoder's pure
            if session.current.space == "vae":
                session.handle(Action("confidence", "low"))
            session.handle(Action("label", int(truth[session.current.medoid])))

    session = _trial(ws, clusters_model)  # classifier=auto: the features' probe may answer
    order = random_order(len(ws.pool), session.settings.seed)
    # the trial shows the random order's images in turn, each with its cluster as a medoid is shown:
    # the members nearest the centre, so that the confidence says how far a random image shares them
    trial = session.queue[:4]
    assert [c.medoid for c in trial] == list(order[:4]) and all(c.trial for c in trial)
    assert [c.space for c in trial] == ["vae", "contrastive"] * 2 and not session.queue[4].trial
    for c in trial:
        home = next(h for h in session.trial_plans[c.space].centres if c.medoid in h.members)
        assert np.array_equal(c.members, home.members) and np.array_equal(c.distances, home.distances)
        core = home.members[np.argsort(home.distances)]
        assert list(c.shown_members(3)) == [int(i) for i in core if i != c.medoid][:3]
        assert np.array_equal(c.image, ws.pool.images[c.medoid])
    medoid_trial = _trial(ws, clusters_model, classifier="cnn")
    decide(session)
    assert session.space == "contrastive"
    taken = session.taken_mask
    free = [int(i) for i in order if not taken[i]]
    assert free[0] == order[4]  # on down the same order
    assert [c.medoid for c in session.queue] == free[:len(session.queue)] and len(session.queue) >= 8
    for c in session.queue:  # each image with its cluster in the encoder's plan, measured from the image
        home = next(h for h in session.plan.centres if c.medoid in h.members)
        assert np.array_equal(c.members, home.members) and c.distances[c.members == c.medoid][0] == 0.0
        assert c.space == "contrastive" and not c.trial and np.array_equal(c.image, ws.pool.images[c.medoid])
    label = int(truth[session.current.medoid])
    session.handle(Action("label", label))
    assert ws.store.current(("human",))[str(ws.pool.ids[free[0]])][0] == label
    # where the CNN is to answer, the medoids of the kept plan
    ws.store.retract(session.session_id, [e for d in session.decisions for e in d.events])
    medoids = medoid_trial
    decide(medoids)
    assert medoids.space == "contrastive"
    assert [id(c) for c in medoids.queue] == [id(c) for c in medoids.plan.centres if not c.trial]
    # before classifier=auto has measured, a later epoch in the encoder's space earns no medoids, and
    # where the graph-trained probe answers, its random images follow the random order uncovered
    assert session.share_learner("cnn", 0) == "features" and session.share_learner("cnn", 2) == "cnn"
    assert session.covered("features") is None and session.covered("cnn") is not None
    vae = ClustersSession(ws, ClustersSettings(**{**CLUSTERS_TINY, "space": "vae"}), model=clusters_model)
    assert vae.share_learner("cnn", 0) == "cnn"
    cnn = ClustersSession(ws, ClustersSettings(**{**CLUSTERS_TINY, "space": "contrastive", "classifier": "cnn"}),
                          model=clusters_model)
    assert cnn.share_learner("cnn", 0) == "cnn" and cnn.covered("cnn") is not None


def test_space_trial_keeps_the_vae_on_a_tie_and_t_decides_early(sample_workspace, clusters_model):
    from tuilabel.sessions import Action

    ws = sample_workspace
    truth = ws.pool.truth
    session = _trial(ws, clusters_model)
    said = []
    while session.space is None:  # every cluster called pure: a tie goes on a cluster of each at a time
        session.handle(Action("label", int(truth[session.current.medoid])))
        said.append(session.message)
    assert len(said) == 8 and said.count("both clusterings rated alike so far: one more cluster of each") == 2
    assert [d.centre.space for d in session.decisions] == ["vae", "contrastive"] * 4
    from tuilabel.sessions.clusters import random_order  # the tie's clusters: the random order's next images

    assert [d.centre.medoid for d in session.decisions] == list(random_order(len(ws.pool), 0)[:8])
    # ... up to twice space_trial each, then keeps the VAE's latent
    assert session.space == "vae" and session.features is None and session.plan is session.trial_plans["vae"]
    assert all(c.space == "vae" for c in session.queue)
    spread = ws.store.current(("propagated",))
    # the encoder's labels spread again from their images in the VAE's clusters, not in the encoder's
    last = session.decisions[-1]
    home = next(c for c in session.plan.centres if last.centre.medoid in c.members)
    reached = {int(i) for d in session.decisions if d.centre.space == "vae" for i in d.centre.members}
    expected = sorted(str(ws.pool.ids[i]) for i in home.members if i != last.centre.medoid and int(i) not in reached)
    assert sorted(ws.store.item_of(e) for e in last.events[1:]) == expected
    # undo brings back the encoder's last cluster and takes its spread; labelled again, it spreads in the VAE's
    session.handle(Action("undo"))
    assert session.current.space == "contrastive"
    session.handle(Action("label", int(truth[session.current.medoid])))
    assert sorted(ws.store.item_of(e) for e in session.decisions[-1].events[1:]) == expected
    assert set(ws.store.current(("propagated",))) == set(spread)
    # `t` during a trial: the decisions so far decide (one low label of the encoder's, none of the VAE's)
    other = _trial(ws, clusters_model)
    other.handle(Action("skip"))  # the VAE's first: a skip counts for neither
    other.handle(Action("confidence", "low"))
    other.handle(Action("label", int(truth[other.current.medoid])))
    other.handle(Action("train"))
    assert other.space is None and other.due_update()
    job = other.snapshot()
    assert other.space == "vae" and job.space == "vae" and other.space_scores == {"vae": None, "contrastive": 0.4}
    other.updating = False
    # no trial where it does not apply: colour images, a space set by hand, or space_trial=0
    assert not ClustersSettings(space="auto").trials_space(3) and ClustersSettings(space="auto").trials_space(1)
    assert not ClustersSettings(space="vae").trials_space(1) and not ClustersSettings(space_trial=0).trials_space(1)
    assert ClustersSettings(space="auto").needs_encoder(1)
    assert not ClustersSettings(space="vae", classifier="cnn").needs_encoder(1)
    assert ClustersSettings(space="vae").needs_encoder(1)  # classifier=auto may answer from its features


def test_a_no_class_in_the_trial_splits_in_that_clusters_own_space(sample_workspace, clusters_model):
    from tuilabel.sessions import Action

    ws = sample_workspace
    truth = ws.pool.truth
    session = _trial(ws, clusters_model)
    session.handle(Action("label", int(truth[session.current.medoid])))
    encoder_centre = session.current
    assert encoder_centre.space == "contrastive"
    session.handle(Action("no_class"))
    parts = session.queue[:3]
    assert [p.space for p in parts] == ["contrastive"] * 3 and not any(p.trial for p in parts)
    assert sorted(np.concatenate([p.members for p in parts])) == sorted(encoder_centre.members)
    assert all(p.medoid is not None for p in parts)  # real images: the encoder's centres cannot be decoded
    for _ in parts:
        session.handle(Action("skip"))
    for _ in range(2):
        session.handle(Action("label", int(truth[session.current.medoid])))
    # the VAE's clusters all pure, the encoder's one of two (no class counts 0): the VAE's are kept
    assert session.space == "vae" and session.space_scores == {"vae": 1.0, "contrastive": 0.5}
    assert session.queue and all(c.space == "vae" for c in session.queue)
