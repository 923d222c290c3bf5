from __future__ import annotations

import numpy as np
import pytest
import torch

from tuilabel.errors import TuilabelError
from tuilabel.models.augment import Augment
from tuilabel.models.cnn import CNNClassifier, bootstrap_loss, build_network, class_weights, corrected_loss

from .conftest import make_pool


def test_class_weights_follow_seed_001():
    w = class_weights(np.array([100, 10, 1]), mu=0.3)
    t = 111
    assert np.allclose(w, [1.0, max(np.log(0.3 * t / 10), 1), np.log(0.3 * t / 1)], atol=1e-6)


def test_networks_take_any_size_and_channels():
    for arch, shape in (("seed-mnist", (1, 28, 28)), ("seed-cifar", (3, 32, 32)), ("small", (3, 20, 36))):
        net = build_network(arch, *shape, 5)
        assert net(torch.zeros(2, *shape)).shape == (2, 5)


def test_augment_is_seeded_and_keeps_shape():
    x = torch.rand(4, 1, 28, 28)
    a = Augment()(x, torch.Generator().manual_seed(3))
    b = Augment()(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.allclose(a, x)
    assert a.min() >= 0 and a.max() <= 1


def test_fit_predict_save_load(tmp_path):
    pool = make_pool(n=120, n_classes=3, shape=(12, 12))
    x = pool.as_float()
    model = CNNClassifier(arch="small", epochs=8, patience=0, seed=0).fit(x, pool.truth, 3)
    assert model.score(x, pool.truth) > 0.9
    model.save(tmp_path / "cnn.npz")
    back = CNNClassifier.load(tmp_path / "cnn.npz")
    assert np.allclose(back.predict_proba(x), model.predict_proba(x), atol=1e-6)


def test_pseudo_labels_never_enter_validation():
    pool = make_pool(n=80, n_classes=2, shape=(8, 8))
    x = pool.as_float()
    wrong = 1 - pool.truth  # pseudo-labels that are all wrong, and many
    model = CNNClassifier(arch="small", epochs=6, patience=3, min_validation=20, seed=0)
    model.fit(x[:40], pool.truth[:40], 2, extra_x=x[40:], extra_y=wrong[40:], extra_weight=0.1)
    assert all("val_accuracy" in h for h in model.history_)  # validated on labelled data only


def test_weights_as_rates_keep_a_few_heavy_labels_from_drowning():
    """Ten right labels of weight 1 among 3,000 wrong ones of weight 0.001: as loss weights (a
    batch's weighted mean) the wrong ones train every batch that holds no right one (four in five);
    drawn as rates, the right ones make up most of every epoch (0.001 x 3,000 = 3 against 10)."""
    pool = make_pool(n=3010, n_classes=2, shape=(8, 8))
    x = pool.as_float()
    y = pool.truth.copy()
    y[10:] = 1 - y[10:]
    w = np.where(np.arange(len(y)) < 10, 1.0, 0.001).astype(np.float32)
    fit = dict(arch="small", epochs=2, patience=0, use_class_weights=False, seed=0)
    as_loss = CNNClassifier(**fit).fit(x, y, 2, sample_weight=w)
    as_rate = CNNClassifier(**fit).fit(x, y, 2, sample_weight=w, weights_as="rate")
    assert as_loss.score(x, pool.truth) < 0.3 < 0.9 < as_rate.score(x, pool.truth)
    assert as_rate.images_seen_ == as_loss.images_seen_  # the same compute either way


def test_weight_averaging_is_the_mean_of_the_last_steps_weights(tmp_path):
    pool = make_pool(n=40, n_classes=3, shape=(10, 10))
    x = pool.as_float()

    def fit(epochs: int, average_from: float | None) -> CNNClassifier:  # one step an epoch: the whole set a batch
        return CNNClassifier(arch="small", epochs=epochs, batch_size=40, min_batches_per_epoch=1, patience=0,
                             seed=3, average_from=average_from).fit(x, pool.truth, 3)

    three, four, averaged = fit(3, None), fit(4, None), fit(4, 0.5)  # 0.5 of 4 steps: the mean of steps 3 and 4
    for name, p in averaged.net_.state_dict().items():
        mean = (three.net_.state_dict()[name] + four.net_.state_dict()[name]) / 2
        assert torch.allclose(p, mean, atol=1e-6), name
    assert not torch.allclose(averaged.net_.state_dict()["0.weight"], four.net_.state_dict()["0.weight"])
    averaged.save(tmp_path / "cnn.npz")  # what is saved and reloaded is the averaged network
    assert np.allclose(CNNClassifier.load(tmp_path / "cnn.npz").predict_proba(x), averaged.predict_proba(x), atol=1e-6)


def test_corrected_loss_is_the_cross_entropy_when_trusted_and_lets_go_where_the_model_is_sure():
    torch.manual_seed(0)
    logits = torch.randn(6, 10)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    trust = torch.tensor([1.0, 0.6, 0.6, 0.3, 0.9, 1.0])
    p_y = logits.softmax(1)[torch.arange(6), y]
    by_hand = -torch.log(trust * p_y + (1 - trust) / 9 * (1 - p_y))
    assert torch.allclose(corrected_loss(logits, y, trust), by_hand, atol=1e-5)
    assert torch.allclose(corrected_loss(logits, y, torch.ones(6)), bootstrap_loss(logits, y), atol=1e-6)

    def pull(t: float) -> float:  # the gradient on a model sure (p ~ 1) of class 3 when the label says 0
        sure = torch.zeros(1, 10)
        sure[0, 3] = 12.0
        sure.requires_grad_(True)
        corrected_loss(sure, torch.tensor([0]), torch.tensor([t])).sum().backward()
        assert sure.grad is not None and bool(sure.grad.isfinite().all())
        return float(sure.grad.abs().max())

    assert pull(0.6) < 1e-3 < 0.99 < pull(1.0)  # a trusted label still pulls with all its weight


def test_trust_one_trains_as_the_cross_entropy_and_needs_it():
    pool = make_pool(n=60, n_classes=3, shape=(10, 10))
    x = pool.as_float()
    fit = dict(arch="small", epochs=2, patience=0, seed=1)
    plain = CNNClassifier(**fit).fit(x, pool.truth, 3)
    trusted = CNNClassifier(**fit).fit(x, pool.truth, 3, trust=np.ones(len(x), np.float32))
    doubted = CNNClassifier(**fit).fit(x, pool.truth, 3, trust=np.full(len(x), 0.5, np.float32))
    assert np.allclose(plain.predict_proba(x), trusted.predict_proba(x), atol=1e-5)
    first = "0.weight"  # the first convolution: doubted labels train it otherwise
    assert torch.allclose(plain.net_.state_dict()[first], trusted.net_.state_dict()[first], atol=1e-5)
    assert not torch.allclose(plain.net_.state_dict()[first], doubted.net_.state_dict()[first], atol=1e-4)
    with pytest.raises(TuilabelError, match="cross-entropy"):
        CNNClassifier(loss="soft", **fit).fit(x, pool.truth, 3, trust=np.ones(len(x), np.float32))
