"""The clusters mode's models on disk: the VAE and the contrastive encoder trained without labels,
`tuilabel train --model vae` and `tuilabel eval`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...cluster import clustering_report, kmeans
from ...models.cnn import CNNClassifier
from ...models.contrastive import ContrastiveEncoder
from ...models.vae import VAEClassifier
from ...workspace import Workspace
from ..backbone import BackboneSpace, backbone_space, backbone_space_check
from ..base import Progress, no_progress
from .plan import Plan, make_plan
from .settings import ClustersSettings

VAE = "vae"  # the model files this mode keeps (see Workspace.model_path)
SPACE = "clusters-space"  # the contrastive encoder the pool is clustered in
CNN = "clusters-cnn"  # the CNN trained on the spread labels
PROBE = "clusters-probe"  # softmax regression on the encoder's features


def load_or_train_encoder(workspace: Workspace, settings: ClustersSettings, x: np.ndarray, save_models: bool = True,
                          progress: Progress = no_progress) -> ContrastiveEncoder:
    """The workspace's contrastive encoder, or one trained now without labels on the pool ``x``
    (and saved with ``save_models``; a simulation always trains its own)."""
    if save_models and workspace.has_model(SPACE):
        return workspace.load_model(SPACE, ContrastiveEncoder.load)
    encoder = settings.encoder()

    def step(i: int, total: int, loss: float) -> None:
        if i % 10 == 0 or i == total:
            progress(i / total, f"encoder without labels: batch {i}/{total}, loss {loss:.2f}")

    encoder.fit(x, progress=step)
    if save_models:
        encoder.save(workspace.model_path(SPACE))
    return encoder


def pretrain(model: VAEClassifier, x: np.ndarray, n_classes: int, settings: ClustersSettings,
             progress: Progress = no_progress) -> None:
    """Build the model for the pool and train its first epochs without labels."""
    model.build(x.shape[1:], n_classes)
    epochs = settings.pretrain_epochs
    for e in range(epochs):
        def step(i: int, total: int, losses: dict, e: int = e) -> None:
            if i % 25 == 0 or i == total:
                progress((e + i / total) / epochs, f"VAE without labels: epoch {e + 1}/{epochs}, "
                         f"reconstruction {losses['reconstruction']:.1f}, KL {losses['kl']:.2f}")

        model.fit_epoch(x, samples=settings.epoch_samples, progress=step)


def prepare(workspace: Workspace, s: ClustersSettings, progress: Progress = no_progress,
            save_models: bool = True) -> dict[str, Any]:
    """A session's models before it opens: the workspace's VAE (trained first without labels when
    there is none, or always for a simulation), the contrastive encoder likewise where it is
    needed, and the first clustering (the session checks its space)."""
    pool = workspace.pool
    x = pool.as_float()
    backbone = s.uses_backbone()
    if backbone:
        backbone_space_check(workspace)
    if save_models and workspace.has_model(VAE):
        model = workspace.load_model(VAE, VAEClassifier.load)
    else:
        model = s.model()
        pretrain(model, x, pool.n_classes, s, progress=progress)
        if save_models:
            model.save(workspace.model_path(VAE))
    space: ContrastiveEncoder | BackboneSpace | None
    features: np.ndarray | None
    if backbone:
        space, features = backbone_space(workspace, x, progress)
    else:
        space = load_or_train_encoder(workspace, s, x, save_models, progress) if s.needs_encoder(pool.channels) \
            else None
        features = None if space is None else space.encode(x)
    progress(None, "clustering the pool…")
    trying = not backbone and model.labelled_epochs_ == 0 and s.trials_space(pool.channels)

    def first_plan(features: np.ndarray | None) -> Plan:
        return make_plan(model, x, pool.image_shape, s, model.labelled_epochs_ + 1, ranked=model.labelled_epochs_ > 0,
                         n_classes=pool.n_classes, pool_images=pool.images, features=features,
                         space="backbone" if backbone else "contrastive")

    plan = first_plan(features if backbone or s.uses_encoder(pool.channels) else None)
    trial_plan = first_plan(features) if trying and features is not None else None
    return {"model": model, "plan": plan, "space": space, "trial_plan": trial_plan, "encoded": features}


def train_vae(workspace: Workspace, request: Any, progress: Progress = no_progress) -> str:
    """The clusters mode's VAE, its epochs without labels (``--set pretrain_epochs=N``, ``seed``...),
    and where the pool is clustered in its features (``space``) the contrastive encoder."""
    settings = ClustersSettings.from_options(request.options)
    model = settings.model(device=request.device)
    x = workspace.pool.as_float()
    pretrain(model, x, workspace.pool.n_classes, settings, progress=progress)
    path = workspace.model_path(VAE)
    model.save(path)
    line = f"VAE (z_dim {settings.z_dim}, beta {settings.beta:g}) trained {settings.pretrain_epochs} epochs " \
           f"without labels on {len(workspace.pool)} images, on {model.device}; saved {path}"
    if settings.needs_encoder(workspace.pool.channels) and not settings.uses_backbone():
        if workspace.has_model(SPACE):
            workspace.model_path(SPACE).unlink()  # trained again, as the VAE is
        load_or_train_encoder(workspace, settings, x, True, progress)
        line += f"; contrastive encoder {settings.space_steps} batches, saved {workspace.model_path(SPACE)}"
    return line


def evaluate(workspace: Workspace) -> list[str]:
    if not workspace.has_model(VAE):
        return []
    test = workspace.test
    assert test is not None and test.truth is not None
    model = workspace.load_model(VAE, VAEClassifier.load)
    x = test.as_float()
    known = test.truth >= 0
    z = model.encode(x)
    pred = model.proba_from_latent(z).argmax(1)
    rec = model.reconstruction(x)
    lines = [f"vae (clusters mode, {model.epochs_} epochs): test accuracy "
             f"{float((pred == test.truth)[known].mean()):.4f}; reconstruction {rec['bce']:.1f} nats/image, "
             f"pixel accuracy {rec['pixel_accuracy']:.4f}"]
    rows = [("classifier's classes", pred)]
    for k in sorted({workspace.pool.n_classes, 2 * workspace.pool.n_classes}):
        rows.append((f"k-means of the latent, k={k}", kmeans(z, k, seed=0).assignment))
    if workspace.has_model(SPACE):
        features = workspace.load_model(SPACE, ContrastiveEncoder.load).encode(x)
        for k in sorted({workspace.pool.n_classes, 2 * workspace.pool.n_classes}):
            rows.append((f"k-means of the encoder's, k={k}", kmeans(features, k, seed=0).assignment))
    lines.append(f"  {'clustering of the test set':<34} {'ACC':>7} {'NMI':>7} {'ARI':>7}")
    for name, assignment in rows:
        r = clustering_report(test.truth, assignment)
        lines.append(f"  {name:<34} {r['acc']:>7.4f} {r['nmi']:>7.4f} {r['ari']:>7.4f}")
    if workspace.has_model(CNN):
        acc = workspace.load_model(CNN, CNNClassifier.load).score(x, test.truth)
        lines.append(f"cnn (clusters mode, trained on the spread labels): test accuracy {acc:.4f}")
    return lines
