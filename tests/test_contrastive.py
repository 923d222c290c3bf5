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


def test_a_colour_pool_is_simulated_and_trained_in_the_encoders_space(tmp_path, capsys):
    from tuilabel.cli import main

    x, truth = coloured_marks(240, seed=1)
    tx, tt = coloured_marks(80, seed=2)
    images = lambda a: (a.transpose(0, 2, 3, 1) * 255).astype(np.uint8)  # noqa: E731
    np.savez(tmp_path / "pool.npz", images=images(x), labels=truth)
    np.savez(tmp_path / "test.npz", images=images(tx), labels=tt)
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--data", str(tmp_path / "pool.npz"), "--test", str(tmp_path / "test.npz")]) == 0
    out = ws / "runs" / "c.json"
    opts = ["--set", "k=8", "--set", "fine_k=8", "--set", "per_epoch=4", "--set", "epoch_samples=2000",
            "--set", "pretrain_epochs=1", "--set", "cnn_epochs=2", "--set", "space_steps=40"]
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
