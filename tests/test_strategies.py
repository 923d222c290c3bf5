from __future__ import annotations

import numpy as np
import pytest

from tuilabel import strategies as st


def test_entropy_in_bits_and_averaged_over_augmentations():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert np.allclose(st.entropy(probs), [0.0, 1.0])
    aug = np.stack([probs, probs[::-1]], axis=2)  # (n, classes, k=2)
    assert np.allclose(st.entropy(aug), [0.5, 0.5])  # mean of per-view entropies, not entropy of the mean
    assert np.allclose(st.least_confidence(aug), [0.25, 0.25])


def test_least_confidence_and_margin():
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]])
    assert st.top_k(st.least_confidence(probs), 1).tolist() == [1]
    assert st.top_k(st.margin(probs), 1).tolist() == [2]  # a zero gap is the least sure


def test_fusion_takes_from_the_union_of_the_three():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    chosen = st.fusion(probs, 10, rng)
    half, full = set(), set()
    for f in (st.least_confidence, st.margin, st.entropy):
        half |= set(st.top_k(f(probs), 5).tolist())
        full |= set(st.top_k(f(probs), 10).tolist())
    assert len(half) < 10  # the three agree: their top halves alone are too few ...
    assert len(chosen) == len(set(chosen)) == 10 and set(chosen) <= full  # ... so the shares grew


def test_fusion_ranks_the_whole_pool_with_its_sample_in_front():
    # a batch round ranks every candidate; only the next round's labels are fusion's to sample
    # (sampled from the whole pool, the union is the pool, ranked by entropy: the entropy order)
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4) * 0.5, size=200)
    ranking = st.select("fusion", probs, 200, np.random.default_rng(3), front=20)
    assert sorted(ranking.tolist()) == list(range(200))
    union = set()
    for f in (st.least_confidence, st.margin, st.entropy):
        union |= set(st.top_k(f(probs), 10).tolist())
    assert set(ranking[:20].tolist()) <= union
    assert ranking[:20].tolist() != st.select("entropy", probs, 20, rng).tolist()
    rest = st.entropy(probs[ranking[20:]])
    assert np.all(np.diff(rest) <= 1e-12)  # the rest by entropy, the least sure first
    whole = st.select("fusion", probs, 200, np.random.default_rng(3))  # no front: every candidate sampled
    assert np.all(np.diff(st.entropy(probs[whole])) <= 1e-12)


@pytest.mark.parametrize("strategy", st.STRATEGIES)
def test_select_returns_distinct_indices(strategy):
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=(30,))
    chosen = st.select(strategy, probs, 7, rng)
    assert len(chosen) == len(set(chosen.tolist())) == 7


def test_the_schedule_doubles_and_unknown_strategies_are_errors():
    probs = np.array([[0.999, 0.001], [0.6, 0.4], [0.0005, 0.9995]])
    assert st.exponential_schedule(0) == 20 and st.exponential_schedule(160) == 160
    with pytest.raises(ValueError):
        st.select("nosuch", probs, 1, np.random.default_rng())


def _blobs(rng, centres, per, spread=0.3):
    """Points around each centre, plus one far outlier per blob."""
    points = [c + rng.normal(0, spread, (per, len(c))) for c in centres]
    outliers = [c + 8 * spread * np.ones(len(c)) for c in centres]
    return np.concatenate([*points, np.array(outliers)]).astype(np.float32)


def test_diverse_spreads_a_batch_over_clusters_and_keeps_every_index():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]], float)
    x = _blobs(rng, centres, 20, spread=0.2)[:60]
    scores = np.zeros(60)
    scores[:20] = 1 + rng.random(20)  # the first blob is the most uncertain by far
    scores[20:] = rng.random(40)
    order = st.diverse(scores, x, 3, rng)
    assert sorted(order.tolist()) == list(range(60))
    assert sorted((order[:3] // 20).tolist()) == [0, 1, 2]  # one from each blob, not three from the first
    assert order[0] == int(np.argmax(scores))
    plain = st.top_k(scores, 60)
    assert (plain[:3] // 20).tolist() == [0, 0, 0]  # what uncertainty alone would do


def test_augmentation_presets():
    import torch

    from tuilabel.models.augment import PRESETS

    x = torch.zeros(4, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1
    g = torch.Generator().manual_seed(0)
    shifted = PRESETS["shift"](x, g)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    assert abs(float(shifted.sum() - x.sum())) / float(x.sum()) < 0.3  # moved and rescaled a little, not warped
    assert PRESETS["none"] is None and PRESETS["geometric"].elastic_alpha > 0


def test_typical_takes_each_clusters_most_central_member_far_apart_first():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 20]], np.float32)
    sizes = [60, 30, 20]
    x = np.concatenate([c + rng.normal(0, 1, (n, 2)) for c, n in zip(centres, sizes)]).astype(np.float32)
    blob = np.repeat(np.arange(3), sizes)
    picked = st.typical(x, 3, seed=0)
    # the largest kind first, then the farthest from it (the small blob at (0, 20) before the one at (10, 0))
    assert blob[picked].tolist() == [0, 2, 1]
    for i in picked:  # each among the members nearest its own group's middle
        members = x[blob == blob[i]]
        middle = members.mean(0)
        assert np.linalg.norm(x[i] - middle) <= np.sort(np.linalg.norm(members - middle, axis=1))[2]
    assert st.typical(x, 0).size == 0


def test_balanced_order_fills_the_classes_with_fewest_labels_first():
    from tuilabel.strategies import balanced

    rng = np.random.default_rng(0)
    guesses = rng.integers(0, 3, 300)
    counts = np.array([10, 0, 4])
    order = balanced(guesses, counts, rng)
    assert sorted(order.tolist()) == list(range(300))
    first = np.bincount(guesses[order[:10]], minlength=3)
    assert first.tolist() == [0, 7, 3]  # class 1 up to class 2's 4, then both up to 10, in turns
    after = counts + np.bincount(guesses[order[:30]], minlength=3)
    assert after.max() - after.min() <= 1  # level by then
