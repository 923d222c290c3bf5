from __future__ import annotations

import numpy as np
import pytest
import torch

from tuilabel.errors import TuilabelError
from tuilabel.models.rbm import MAX_EPOCHS, RBM, epochs_for

from .conftest import make_pool


@pytest.fixture(scope="module")
def pool_and_rbm():
    pool = make_pool(n=200, n_classes=4, shape=(8, 8))
    x = pool.as_float().reshape(len(pool), -1)
    rbm = RBM(n_hidden=32, cd_k=1, epochs=15, batch_size=20, seed=1).fit(x, 4)
    return pool, x, rbm


def test_training_lowers_reconstruction_error(pool_and_rbm):
    _, x, rbm = pool_and_rbm
    assert rbm.history_[-1] < rbm.history_[0] * 0.7
    untrained = RBM(n_hidden=32, epochs=1, learning_rate=0.0).fit(x, 4)
    assert rbm.reconstruction_error(x) < untrained.reconstruction_error(x)


@pytest.mark.slow
def test_a_small_pool_gets_as_many_updates_as_a_large_one():
    """By default the epochs follow the pool's size: 170 images get what 4,000 get at 40 epochs
    (at a fixed 40 they got 24 times fewer updates and the stream showed near-uniform frames)."""
    assert epochs_for(4000) == 40 and epochs_for(170) == 941 and epochs_for(60_000) == 3
    assert epochs_for(3) == MAX_EPOCHS and epochs_for(10**7) == 1 and epochs_for(170, 12) == 12
    assert epochs_for(170, n_visible=40 * 48 * 3) == 128  # larger images: the same compute
    pool = make_pool(n=60, n_classes=3, shape=(6, 6))
    x = pool.as_float().reshape(len(pool), -1)
    fixed = RBM(n_hidden=16, cd_k=1, epochs=40, seed=0).fit(x, 3)
    decided = RBM(n_hidden=16, cd_k=1, seed=0).fit(x, 3)
    assert len(fixed.history_) == 40 and len(decided.history_) == epochs_for(60, n_visible=36) == MAX_EPOCHS
    assert decided.reconstruction_error(x) < 0.8 * fixed.reconstruction_error(x)


@pytest.mark.slow
def test_label_weights_learn_classes_offline(pool_and_rbm):
    pool, x, rbm = pool_and_rbm
    rbm.fit_labels(x, pool.truth, epochs=40, lr=0.2)
    assert rbm.score(x, pool.truth) > 0.95
    assert rbm.predict_proba(x).shape == (200, 4)


def test_online_update_is_exactly_reversible(pool_and_rbm):
    _, x, rbm = pool_and_rbm
    rbm.reset_labels()
    h = rbm.hidden_probs(rbm._tensor(x[:1]))
    before = rbm.predict_proba(x[:1])[0, 2]
    records = [rbm.online_update(h, 2) for _ in range(5)]
    assert rbm.predict_proba(x[:1])[0, 2] > before  # the rule moves towards the given label
    for record in reversed(records):
        rbm.undo_update(record)
    assert torch.allclose(rbm.U_, torch.zeros_like(rbm.U_), atol=1e-6)


def test_save_load_round_trip_without_pickle(pool_and_rbm, tmp_path):
    pool, x, rbm = pool_and_rbm
    rbm.fit_labels(x, pool.truth, epochs=5)
    rbm.save(tmp_path / "rbm.npz")
    with np.load(tmp_path / "rbm.npz", allow_pickle=False) as d:
        assert set(d.files) == {"header", "W_", "b_", "c_", "U_", "d_"}
    back = RBM.load(tmp_path / "rbm.npz")
    assert np.allclose(back.predict_proba(x), rbm.predict_proba(x))
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(TuilabelError, match=r"bad\.npz"):
        RBM.load(tmp_path / "bad.npz")


def test_fast_weights_push_the_chain_away(pool_and_rbm):
    _, x, rbm = pool_and_rbm
    v0 = rbm._tensor(x[:1])

    def travel(fast: bool) -> float:
        rbm.reset_fast_weights()
        rbm.generator_.manual_seed(5)
        v = v0
        for _ in range(30):
            v, _ = rbm.gibbs_step(v, fast=fast)
        return float(((v - v0) ** 2).sum())

    rbm.config.fast_learning_rate = 0.01
    assert travel(True) > travel(False)


def test_persistent_cd_trains(pool_and_rbm):
    _, x, _ = pool_and_rbm
    rbm = RBM(n_hidden=32, cd_k=1, persistent=True, learning_rate=0.01, final_momentum=0.5,
              epochs=15, batch_size=20).fit(x, 4)
    assert rbm.history_[-1] < rbm.history_[0]
