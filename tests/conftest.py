"""One fixture factory for small pools, and helpers to write them in every source format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tuilabel.data import Pool

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def make_pool(n: int = 40, n_classes: int = 4, shape: tuple[int, ...] = (8, 8), seed: int = 0) -> Pool:
    """A tiny pool whose classes are visibly different: class c lights up row band c."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % n_classes
    images = rng.integers(0, 40, size=(n, *shape), dtype=np.uint8)
    band = max(1, shape[0] // n_classes)
    for i, c in enumerate(truth):
        images[i, c * band : (c + 1) * band] = 220
    return Pool(images, [str(i) for i in range(n)], [f"c{c}" for c in range(n_classes)], truth, "made")


@pytest.fixture
def small_pool() -> Pool:
    return make_pool()


@pytest.fixture
def pool_factory():
    return make_pool


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def sample_workspace(tmp_path):
    """A workspace on the first 600 pool images of the bundled sample (keeps tests quick)."""
    from tuilabel.workspace import Workspace

    with np.load(SAMPLE / "mnist-pool.npz") as d:
        np.savez(tmp_path / "pool.npz", images=d["images"][:600], labels=d["labels"][:600])
    with np.load(SAMPLE / "mnist-test.npz") as d:
        np.savez(tmp_path / "test.npz", images=d["images"][:300], labels=d["labels"][:300])
    ws = Workspace.init(tmp_path / "ws", tmp_path / "pool.npz", test=tmp_path / "test.npz")
    yield ws
    ws.close()


@pytest.fixture
def stream_workspace(sample_workspace):
    """The sample workspace with a small RBM trained in under a second (100 hidden, CD-5)."""
    from tuilabel.models.rbm import RBM

    pool = sample_workspace.pool
    rbm = RBM(n_hidden=100, cd_k=5, epochs=10, seed=0).fit(pool.as_float().reshape(len(pool), -1), pool.n_classes)
    rbm.save(sample_workspace.models_dir / "rbm.npz")
    return sample_workspace
