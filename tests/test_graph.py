import numpy as np
import pytest

from tuilabel.models.graph import NeighbourGraph, nearest
from tuilabel.models.probe import unit


def _blobs(n_per: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated groups of unit vectors in 8 dimensions."""
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[:3]
    which = np.repeat(np.arange(3), n_per)
    return unit(centres[which] + rng.normal(0, 0.15, (len(which), 8))), which


def test_nearest_finds_the_most_similar_rows_and_skips_each_row_itself():
    points = unit(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]))
    index, value = nearest(points, points, 1, skip_self=True)
    assert index.ravel().tolist() == [1, 0, 3, 2]
    assert np.allclose(value.ravel(), (points * points[index.ravel()]).sum(1), atol=1e-6)


def test_one_label_a_group_spreads_to_the_whole_group():
    features, which = _blobs()
    graph = NeighbourGraph(features, k=5)
    items = np.array([0, 60, 120])  # one image of each group, labelled with classes 2, 0, 1
    held, classes = graph.propagate(items, np.array([2, 0, 1]), 3)
    assert held.tolist() == list(range(len(features)))
    assert (classes == np.array([2, 0, 1])[which]).all()


def test_a_large_pool_keeps_a_subset_and_a_labelled_image_outside_it_joins_the_graph():
    features, which = _blobs(200)
    graph = NeighbourGraph(features, k=5, max_nodes=150, seed=1)
    assert len(graph.nodes) == 150 and graph.pairs == 150 ** 2
    outside = [int(np.setdiff1d(np.flatnonzero(which == g), graph.nodes)[0]) for g in range(3)]
    held, classes = graph.propagate(np.array(outside), np.array([0, 1, 2]), 3)
    assert len(held) == 153 and set(outside) <= set(held.tolist())
    assert (classes == which[held]).mean() > 0.95  # a group's images take its one label


def test_a_class_no_label_reaches_stays_unknown():
    features, which = _blobs()
    graph = NeighbourGraph(features, k=5)
    _, classes = graph.propagate(np.array([0]), np.array([1]), 3)
    assert classes[0] == 1 and (classes[which == 0] == 1).all()
    assert set(np.unique(classes)) <= {-1, 1}  # the other groups: nothing reached them, or class 1


@pytest.mark.parametrize("n", [2, 5])
def test_a_tiny_pool_still_builds(n):
    features = unit(np.random.default_rng(0).normal(size=(n, 4)))
    graph = NeighbourGraph(features, k=10)
    held, classes = graph.propagate(np.array([0]), np.array([0]), 2)
    assert len(held) == n and classes[0] == 0
