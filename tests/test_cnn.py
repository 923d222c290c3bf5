from __future__ import annotations

import numpy as np
import torch

from tuilabel.models.augment import Augment
from tuilabel.models.cnn import CNNClassifier, build_network, class_weights

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
