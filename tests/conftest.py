"""One fixture factory for small pools, and helpers to write them in every source format."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tuilabel.data import Pool

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SAMPLE_POOL = 600  # the tests' pool: the sample's first images (sample_arrays, and the shared models' training)
# a clusters mode small enough for tests: 6 clusters, then 8; epochs of 4,000 images; a 3-epoch CNN
# and a contrastive encoder of 15 batches
if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread a worker (and its child processes): they share the cores
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

# a batch mode small enough for tests: the small CNN, 3 epochs, 2 views, the first round at 10 labels
BATCH_TINY = dict(arch="small", epochs=3, augmentations=2, start=10, seed=0)
CLUSTERS_TINY = dict(k=6, fine_k=8, per_epoch=4, epoch_samples=4000, pretrain_epochs=2,
                     cnn_epochs=3, space_steps=15, space_trial=0)


@pytest.fixture(autouse=True)
def small_rounds(monkeypatch):
    """A batch round in a test scores a random 150 of the unlabelled pool, as a round on a pool over
    20,000 images scores 20,000 (`batch.score_subset`): the tests' pools are 600 images, and what they
    check is not how many images a round reads (test_batch checks that with the real cap)."""
    import tuilabel.sessions.batch.settings as batch_settings

    monkeypatch.setattr(batch_settings, "SCORE_CAP_CPU", 150)


@pytest.fixture(autouse=True)
def short_epochs(monkeypatch):
    """A CNN epoch in a test is at least 4 batches, not 10: the tests' label sets are tiny, and what
    they check is what a session does with a trained model, not how good 10 batches make it."""
    import tuilabel.models.cnn as cnn

    monkeypatch.setattr(cnn, "MIN_BATCHES_PER_EPOCH", 4)


def make_pool(n: int = 40, n_classes: int = 4, shape: tuple[int, ...] = (8, 8), seed: int = 0) -> Pool:
    """A tiny pool whose classes are visibly different: class c lights up row band c."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % n_classes
    images = rng.integers(0, 40, size=(n, *shape), dtype=np.uint8)
    band = max(1, shape[0] // n_classes)
    for i, c in enumerate(truth):
        images[i, c * band : (c + 1) * band] = 220
    return Pool(images, [str(i) for i in range(n)], [f"c{c}" for c in range(n_classes)], truth, "made")


@pytest.fixture(params=["sqlite", "postgresql"])
def loc(request, tmp_path) -> str:
    """Where a fresh label store goes: an SQLite file, or a new database on a PostgreSQL server the
    tests start (skipped, with the reason printed, when none can start here)."""
    from tests import pg

    if request.param == "sqlite":
        return str(tmp_path / "l.sqlite")
    if pg.server_url() is None:
        pytest.skip(f"no PostgreSQL server could start here: {pg.why_not()}")
    return pg.fresh_database()


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
def sample_workspace(tmp_path, sample_arrays):
    """A workspace on the first 600 pool images of the bundled sample (keeps tests quick)."""
    from tuilabel.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", sample_arrays[0], test=sample_arrays[1])
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def sample_arrays(tmp_path_factory):
    """The first 600 pool and 300 test images of the bundled sample, written once per test run."""
    folder = tmp_path_factory.mktemp("sample")
    with np.load(SAMPLE / "mnist-pool.npz") as d:
        np.savez(folder / "pool.npz", images=d["images"][:SAMPLE_POOL], labels=d["labels"][:SAMPLE_POOL])
    with np.load(SAMPLE / "mnist-test.npz") as d:
        np.savez(folder / "test.npz", images=d["images"][:300], labels=d["labels"][:300])
    return folder / "pool.npz", folder / "test.npz"


def shared_model(tmp_path_factory, name: str, train: Callable[[Path], None]) -> Path:
    """A model file trained once per test run, shared by every xdist worker: the first worker to
    ask trains it under a lock in the run's common folder, the others wait and read it (the models
    are seeded, so which worker trains them changes nothing)."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder every worker's basetemp sits in
    path = root / "shared-models" / f"{name}.npz"
    path.parent.mkdir(exist_ok=True)
    with open(path.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            part = path.with_name(f"{name}.part.npz")
            train(part)
            part.replace(path)
    return path


def _sample_pool_x(shape: str = "flat") -> np.ndarray:
    with np.load(SAMPLE / "mnist-pool.npz") as d:
        images = d["images"][:SAMPLE_POOL]
    x = images.astype(np.float32) / 255.0
    return x.reshape(len(x), -1) if shape == "flat" else x[:, None]


@pytest.fixture(scope="session")
def rbm_file(tmp_path_factory):
    """A small RBM on the sample's 600 images (100 hidden, CD-5), trained once per test run."""
    from tuilabel.models.rbm import RBM

    return shared_model(tmp_path_factory, "rbm",
                        lambda path: RBM(n_hidden=100, cd_k=5, epochs=10, seed=0).fit(_sample_pool_x(), 10).save(path))


@pytest.fixture(scope="session")
def reference_file(tmp_path_factory, sample_arrays):
    """The simulated person's eyes on the sample's 600 images (`simulate.reference_classifier`), once
    per test run."""

    def train(path: Path) -> None:
        from tuilabel.models.cnn import CNNClassifier
        from tuilabel.workspace import Workspace

        # as `simulate.reference_classifier` trains it, in 4 epochs instead of 12: eyes good enough
        # for what the stream tests check (the flow of labels, not the figures)
        ws = Workspace.init(path.parent / "reference-ws", sample_arrays[0])
        CNNClassifier(arch="small", epochs=4, patience=0, seed=0).fit(ws.pool.as_float(), ws.pool.truth, 10).save(path)
        ws.close()

    return shared_model(tmp_path_factory, "reference-cnn", train)


@pytest.fixture
def stream_workspace(sample_workspace, rbm_file, reference_file):
    """The sample workspace with the shared small RBM in place, and the shared reference CNN that a
    simulated stream watcher reads."""
    import shutil

    shutil.copy(rbm_file, sample_workspace.model_path("rbm"))
    sample_workspace.runs_dir.mkdir(exist_ok=True)
    shutil.copy(reference_file, sample_workspace.runs_dir / "reference-cnn-0.npz")
    return sample_workspace


@pytest.fixture(scope="session")
def vae_file(tmp_path_factory):
    """The tiny clusters settings' VAE pretrained on the sample's 600 images, once per test run."""
    from tuilabel.sessions.clusters import ClustersSettings, pretrain

    def train(path: Path) -> None:
        settings = ClustersSettings(**CLUSTERS_TINY)
        model = settings.model()
        pretrain(model, _sample_pool_x("images"), 10, settings)
        model.save(path)

    return shared_model(tmp_path_factory, "vae", train)


@pytest.fixture
def clusters_model(vae_file, encoder_file, sample_workspace):
    """The shared VAE, with the shared contrastive encoder in the sample workspace (space=contrastive)."""
    import shutil

    from tuilabel.models.vae import VAEClassifier

    shutil.copy(encoder_file, sample_workspace.model_path("clusters-space"))
    return VAEClassifier.load(vae_file)


@pytest.fixture(scope="session")
def encoder_file(tmp_path_factory):
    """The tiny clusters settings' contrastive encoder trained on the sample's 600 images, once per run."""
    from tuilabel.sessions.clusters import ClustersSettings

    def train(path: Path) -> None:
        ClustersSettings(**CLUSTERS_TINY).encoder().fit(_sample_pool_x("images")).save(path)

    return shared_model(tmp_path_factory, "clusters-space", train)
