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


@pytest.mark.parametrize("strategy", st.STRATEGIES)
def test_select_returns_distinct_indices(strategy):
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=(30,))
    chosen = st.select(strategy, probs, 7, rng)
    assert len(chosen) == len(set(chosen.tolist())) == 7


def test_pseudo_labels_below_threshold_and_schedule():
    probs = np.array([[0.999, 0.001], [0.6, 0.4], [0.0005, 0.9995]])
    idx, labels = st.pseudo_labels(probs, 0.05)
    assert idx.tolist() == [0, 2] and labels.tolist() == [0, 1]
    assert st.exponential_schedule(0) == 20 and st.exponential_schedule(160) == 160
    with pytest.raises(ValueError):
        st.select("nosuch", probs, 1, np.random.default_rng())
