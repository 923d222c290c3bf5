"""The clusters mode's settings, its constants and seed 003's preset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...models.augment import PRESETS
from ...models.contrastive import ContrastiveEncoder
from ...models.vae import VAEClassifier
from ..settings import MODEL_GROUP, Settings, setting

CONFIDENCE = {"high": 1.0, "medium": 0.7, "low": 0.4}  # p_c a person gives with h, m, l
NAMES = {"vae": "VAE", "contrastive": "encoder", "backbone": "backbone"}  # the spaces, as the screen says them
FEATURE_SPACES = ("contrastive", "backbone")  # the spaces of an encoder's features (the probe reads them)
AUGMENT_LEVELS = (2, 4, 16)  # a person's labels a class (over all classes) at which augment=auto measures
NO_CLASS_WARN_AFTER = 4  # an epoch with at least this many decisions ...
NO_CLASS_WARN_SHARE = 0.5  # ... this share of them "no class": the screen says the clusters mix classes
K_MIN, K_MAX = 8, 20  # the first epoch's elbow looks for k between these (never below twice the classes)
SPLIT_K = 3  # sub-clusters of a cluster whose centre shows no class
MIN_SPLIT = 6  # a cluster smaller than this is not split
MEMBERS_SHOWN = 6  # nearest real members shown under the image of a cluster
PRIOR_CHECKS = 8.0  # the person's confidence counts as this many checks of the spread beside the real ones
CNN_AVERAGE = 0.5  # the CNN keeps the mean of its weights over the last half of its training (Polyak)
CNN_BUDGET = 60_000  # image passes of an epoch's CNN at most (a large pool's spread trains fewer epochs)


@dataclass
class ClustersSettings(Settings):
    mode = "clusters"
    k: int = setting(0, "clusters in the first epoch; 0: the elbow of k-means inertia over 8 to 20, never fewer "
                        "than twice the classes", min=0)
    per_epoch: int = setting(16, "clusters decided per epoch before training goes on (seed 003: 10-16)", min=1)
    confidence: str = setting("high", "the confidence a label gets unless h, m or l says otherwise: how far the "
                                      "cluster's members share the image's class", choices=tuple(CONFIDENCE))
    space: str = setting("auto", "what the pool is clustered in: the workspace's pretrained network's features "
                                 "(backbone; tuilabel embed; on grey photographs 86% at 80 labels against 62, on "
                                 "digits and shapes below auto), the features of an encoder trained without labels "
                                 "(contrastive), or the VAE's latent means (vae, seed 003); auto: contrastive for "
                                 "colour images, and for grey ones the first epoch's trial decides",
                         choices=("auto", "backbone", "contrastive", "vae"))
    space_trial: int = setting(4, "space=auto on grey images: clusters of each space shown in turn at the start; "
                                  "the space whose clusters you rated purer (h, m, l) is kept; 0: the VAE's", min=0)
    show: str = setting("medoid", "the big picture: the member nearest the centre (a real image, which the label "
                                  "goes to as yours) or the decoded centre (seed 003; the VAE's space)",
                        choices=("medoid", "centre"))
    classifier: str = setting("auto", "what answers for the pool: a CNN on the spread labels (cnn), softmax "
                                      "regression on the encoder's features over the pool's neighbour graph "
                                      "(features), whichever cross-validates better on your labels (auto), or the "
                                      "VAE's head (vae, seed 003)", choices=("auto", "cnn", "features", "vae"))
    augment: str = setting("auto", "augmentation of the CNN's training: geometric (rotation, shear, elastic; for "
                                   "strokes such as digits), shift (small moves and scaling; for objects and "
                                   "photographs), none; auto: the one that cross-validates better on your labels",
                           choices=("auto", *PRESETS))
    seed: int = setting(0, "VAE, k-means and CNN seeds", min=0)
    preset: str = setting("none", "a named set of values: seed003 is seed 003's recipe (beta 5, one epoch without "
                              "labels, 16 clusters every epoch, a=1, the VAE's head answers); a value you set wins",
                          choices=("none", "seed003"))
    fine_k: int = setting(32, "clusters in later epochs (0: the first epoch's k)", min=0, group=MODEL_GROUP)
    a: float = setting(3.0, "distance decay of the spread, w = p_c exp(-a d) (seed 003's equation 2; d over the "
                            "median member distance)", min=0.0, group=MODEL_GROUP)
    z_dim: int = setting(10, "latent dimensions of the VAE", min=1, group=MODEL_GROUP)
    beta: float = setting(1.0, "weight of the VAE's KL term (seed 003: 5)", min=0.0, group=MODEL_GROUP)
    gamma: float = setting(150.0, "weight of the class term (seed 003's equation 3)", min=0.0, group=MODEL_GROUP)
    pretrain_epochs: int = setting(2, "VAE epochs without labels before the first clustering", min=0,
                                   group=MODEL_GROUP)
    epoch_samples: int = setting(60000, "images the VAE sees per epoch (the seed's MNIST epoch)", min=1,
                                 group=MODEL_GROUP)
    space_steps: int = setting(200, "training batches of the contrastive encoder (256 images each)", min=1,
                               group=MODEL_GROUP)
    cnn_epochs: int = setting(15, "epochs of the CNN on the spread labels", min=1, group=MODEL_GROUP)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "seed003": {"beta": 5.0, "pretrain_epochs": 1, "k": 16, "fine_k": 16, "per_epoch": 16, "a": 1.0,
                    "classifier": "vae"},
    }

    def model(self, device: str | None = None) -> VAEClassifier:
        return VAEClassifier(z_dim=self.z_dim, beta=self.beta, gamma=self.gamma, seed=self.seed, device=device)

    def encoder(self, device: str | None = None) -> ContrastiveEncoder:
        return ContrastiveEncoder(steps=self.space_steps, seed=self.seed, device=device)

    def uses_backbone(self) -> bool:
        """Whether the pool is clustered in the workspace's backbone's features: space=backbone (auto
        does not pick it: digits and shapes fell 2 and 9 points at 80 labels; decisions/clusters.md)."""
        return self.show == "medoid" and self.space == "backbone"

    def uses_encoder(self, channels: int) -> bool:
        """Whether a pool of images with ``channels`` is clustered in the contrastive encoder's
        features from the start (else the VAE's latent, or a trial of both: ``trials_space``)."""
        wanted = self.space == "contrastive" or (self.space == "auto" and channels >= 3)
        return wanted and self.show == "medoid"

    def trials_space(self, channels: int) -> bool:
        """Whether the first epoch measures which space to cluster in (``space_trial``): grey images
        under space=auto."""
        return self.space == "auto" and channels < 3 and self.show == "medoid" and self.space_trial > 0

    def probes(self) -> bool:
        """Whether the encoder's features may answer for the pool (``classifier``): softmax
        regression trained over the pool's neighbour graph."""
        return self.classifier in ("auto", "features")

    def needs_encoder(self, channels: int) -> bool:
        """Whether the mode trains (or loads) the contrastive encoder for this pool."""
        return self.uses_encoder(channels) or self.trials_space(channels) or self.probes()
