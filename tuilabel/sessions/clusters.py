"""Clusters: label a handful of clusters per epoch and let the labels spread (seed 003).

A VAE with a softmax head on its latent code is first trained without labels. After each epoch the
pool's latent means are clustered with k-means. Each cluster is shown by its member nearest the
centre (``show="medoid"``, the default) or by its decoded centre (seed 003), with the next nearest
members under it. A person gives the image a class and a confidence (how far the members share it),
or says the cluster shows no class: then it is split into sub-clusters which come next (top-down, as
deep as needed). A label spreads to every member of its cluster with weight ``w_n = p_c * exp(-a *
d_n)`` (the seed's equation 2) and is stored as source "propagated"; the image itself is stored as
the person's label (a decoded centre with its pixels). When the epoch's clusters are decided, the
next epoch trains with the weighted class term (equation 3) and clusters again.

Where this goes beyond the seed, measured on three data sets (see benchmarks/bench_clusters.py):
- a colour pool is clustered in the features of an encoder trained without labels to see two
  distortions of an image as one (``space=contrastive``, models/contrastive.py), not in the VAE's
  latent: the VAE keeps what it needs to redraw an image, so colour decided its clusters (on colour
  shapes NMI 0.2 against 0.8, and the medoids of its biggest clusters over-picked some classes and
  missed others). On a grey pool neither space wins everywhere (on digits the VAE's clusters were
  twice as pure as the encoder's, NMI 0.6 against 0.3; on grey photographs the encoder's were
  purer), so ``space=auto`` measures it: the first epoch shows clusters of both in turn
  (``space_trial`` each) and keeps the space whose clusters the person called purer (the
  confidence given with each label), spreading the other space's labels again in the kept one.
  The trial's images are the session's random order's, each shown with the members nearest its
  cluster's centre (``trial_images``): the confidence then says how far a random member shares its
  cluster's class, which told digits' spaces apart where the biggest clusters' medoids did so less
  and random images with their own nearest neighbours not at all (on digits every image's nearest
  neighbours share its class in both spaces).
  Once it keeps the encoder's, the rest of the epoch shows the session's random order, each image
  with its nearest cluster, where the probe trained on the pool's neighbour graph is to answer
  (``after_trial``): on 60,000 grey photographs the medoids of the biggest clusters went to the
  textures that form many tight clusters, and the graph learned more from random images;
- a real image rather than the decoded centre: a person can always name it, and their label on it is
  worth what any label is, whether or not the cluster around it holds one class (on photographs
  most decoded centres were unreadable blurs and most clusters mixed classes);
- the spread is weighed by what it has proved worth: a person's label on an image that carried a
  spread label checks it, and spread labels weigh how much more often the checks agreed than not
  (``spread_rule``; before any check, the confidence the person gave, and after it that confidence
  as ``spread_prior_checks`` checks beside the real ones); the CNN draws its training
  images in proportion to the weights, so that where the clusters do not follow the classes the
  spread fades and the person's own labels carry the model; and the spread labels together take
  at most that weight's share of the draws (``spread_share``): a label spread to a whole cluster is
  one decision, wrong for every member where it is wrong, so thousands of them must not outvote
  80 of a person's (on photographs 0.6 to 2.5 points more at each count from 16 to 80 labels, the
  mean of six seeds; on 60,000 photographs more at 48 and 64 labels, less at 80; digits and shapes
  within a point);
- the CNN's augmentation is measured on the person's labels (``augment=auto``, as in batch mode):
  rotations suit digits, not shapes whose class a rotation changes;
- the first epoch shows the clusters of a k chosen by the elbow method, never fewer than twice the
  classes (fewer merged two classes in a cluster on the sample, seed 1); later epochs cluster more
  finely (``fine_k``) and show the clusters the classifier is least sure of first (the mean entropy
  of its predictions over the cluster's members), ``per_epoch`` of them, for the share of the epoch
  that the spread has earned (``pick="earned"``: its weight S); the rest of the epoch shows random
  pool images in the session's random order (``random_order``), each with its nearest cluster.
  Where there is a contrastive encoder the random images cover its features: each next one comes
  from a cluster (of as many as labels plus ``per_epoch``) that holds no labelled image yet
  (``covering_order``); where those features answer (``classifier``) no medoid is shown, and where
  their probe trains on the pool's neighbour graph the random order goes uncovered (covering gave
  the mixed classes most of an epoch's labels there).
  Where the clusters do not follow the classes a medoid's label is worth little beyond the image
  (medoids are typical images, and typical images taught less than random ones on photographs and
  shapes), so as the checks take the spread's weight away they take the medoids too. ``pick="auto"`` shows
  random pool images instead, one per cluster, each with its cluster measured from it, until every
  class has ``ask_from`` of a person's labels: on photographs (seed 2) the least sure clusters gave
  one class 10 of 32 labels and another none, but over three data sets it did not beat the default
  (see the README). A cluster nobody looks at keeps the labels spread earlier;
- distances are measured in units of the clustering's median member distance, so ``a`` means the
  same on any data set.
"""

from __future__ import annotations

import time
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import strategies
from ..cluster import choose_k, clustering_report, kmeans, nearest_centre
from ..data import to_model_input
from ..errors import TuilabelError
from ..models.augment import PRESETS
from ..models.cnn import CNNClassifier
from ..models.contrastive import ContrastiveEncoder
from ..models.graph import NeighbourGraph
from ..models.probe import FeatureProbe, unit
from ..models.vae import VAEClassifier
from ..workspace import Workspace
from .base import COSTS, BaseSession, Clock, CurvePoint, Progress, choose_augment, cross_validated, no_progress
from .settings import Settings, setting

VAE = "vae"  # the model files this mode keeps (see Workspace.model_path)
SPACE = "clusters-space"  # the contrastive encoder the pool is clustered in (space=contrastive)
CNN = "clusters-cnn"  # the classifier trained on the spread labels
PROBE = "clusters-probe"  # classifier=features: softmax regression on the encoder's features
CONFIDENCE = {"high": 1.0, "medium": 0.7, "low": 0.4}  # p_c a person gives with h, m, l
NAMES = {"vae": "VAE", "contrastive": "encoder"}  # the spaces, as the screen says them
AUGMENT_LEVELS = (2, 4, 16)  # a person's labels a class (over all classes) at which augment=auto measures
NO_CLASS_WARN_AFTER = 4  # an epoch with at least this many decisions ...
NO_CLASS_WARN_SHARE = 0.5  # ... this share of them "no class": the screen says the clusters mix classes


@dataclass
class ClustersSettings(Settings):
    mode = "clusters"
    k: int = setting(0, "clusters in the first epoch; 0: the elbow of k-means inertia over [k_min, k_max], "
                        "never fewer than twice the classes (so that no cluster has to hold two)", min=0)
    k_min: int = setting(8, "fewest clusters the elbow considers", min=1)
    k_max: int = setting(20, "most clusters the elbow considers", min=1)
    fine_k: int = setting(32, "clusters in later epochs (0: the first epoch's k)", min=0)
    per_epoch: int = setting(16, "centres decided per epoch before training goes on (seed: 10-16)", min=1)
    split_k: int = setting(3, "sub-clusters of a cluster whose centre shows no class", min=2)
    min_split: int = setting(6, "a cluster smaller than this is not split", min=1)
    a: float = setting(3.0, "distance decay of equation 2 (distances over the median member distance)", min=0.0)
    confidence: str = setting("high", "the default confidence p_c of a centre label", choices=tuple(CONFIDENCE))
    pretrain_epochs: int = setting(2, "VAE epochs without labels before the first clustering", min=0)
    epoch_samples: int = setting(60000, "images seen per epoch (the seed's MNIST epoch)", min=1)
    z_dim: int = setting(10, "latent dimensions of the VAE", min=1)
    beta: float = setting(1.0, "weight of the KL term (seed 003: 5; 1 keeps more of the latent in use)", min=0.0)
    gamma: float = setting(150.0, "weight of the class term (equation 3)", min=0.0)
    space: str = setting("auto", "what the pool is clustered in: the features of an encoder trained without "
                                 "labels to see two distortions of an image (shift, size, brightness, contrast, "
                                 "colours swapped) as one (contrastive; colour stops deciding the clusters), or the "
                                 "VAE's latent means (vae, seed 003); auto: contrastive for colour images; for grey "
                                 "ones the first epoch shows space_trial clusters of each in turn and keeps the one "
                                 "whose clusters you called purer (on digits the VAE's were, on grey photographs "
                                 "the encoder's). show=centre always uses the VAE's, whose centres it decodes",
                         choices=("auto", "contrastive", "vae"))
    space_trial: int = setting(4, "space=auto on grey images: clusters of each space shown in turn at the start "
                                  "of the first epoch (trial_images); the space whose clusters got the higher mean "
                                  "confidence (h 1, m 0.7, l 0.4, no class 0) is kept; a tie adds a cluster of "
                                  "each at a time, up to twice as many, then keeps the VAE's; the other space's "
                                  "labels spread again from their images in the kept space's clusters; 0: the VAE's",
                           min=0)
    trial_images: str = setting("random", "what the space trial shows of each space's clusters: the session's "
                                          "random order's images in turn, each with the members nearest its "
                                          "cluster's centre (random: your confidence then says how often a random "
                                          "image shares its cluster's class, the purity the spread relies on), "
                                          "or the medoids of each space's biggest clusters (medoid)",
                                choices=("random", "medoid"))
    after_trial: str = setting("auto", "what the rest of the first epoch shows once its trial kept the encoder's "
                                       "space: the medoids of its biggest clusters (medoid), or the session's "
                                       "random order, each image with its nearest cluster (random); auto: random "
                                       "where the features' probe trains on the pool's neighbour graph "
                                       "(classifier auto or features, probe_graph), medoid elsewhere. On grey "
                                       "photographs the medoids of the biggest clusters went to the textures that "
                                       "form many tight clusters, and the graph learned more from random images "
                                       "(benchmarks/results/clusters-after-trial)",
                           choices=("auto", "medoid", "random"))
    space_steps: int = setting(200, "training batches of the contrastive encoder (256 images each)", min=1)
    show: str = setting("medoid", "the big picture: the member nearest the centre (a real image, which the label "
                                  "goes to as the person's) or the decoded centre (seed 003)",
                        choices=("medoid", "centre"))
    members_shown: int = setting(6, "nearest real members shown under a centre", min=0)
    spread_weight: float = setting(-1.0, "weight of spread labels beside a person's (times w_n); -1: measured, "
                                         "from how often a person's label agreed with the label spread there "
                                         "before (see spread_rule)", min=-1.0)
    spread_rule: str = setting("margin", "what a measured spread weight compares the checks with: chance (the "
                                         "share above chance, spread_prior before the first check), the classifier's "
                                         "guesses for the same images (the share of its errors the spread got "
                                         "right; before there are guesses, the share above chance squared), or "
                                         "margin: how much more often right than wrong, 2q - 1 (before the first "
                                         "check, q is the mean confidence you gave the clusters' labels)",
                               choices=("chance", "margin", "model"))
    spread_prior: float = setting(1.0, "spread_rule=chance: the spread weight before the first check; -1: from "
                                       "the confidence you gave the clusters' labels, 2c - 1 for their mean c (h 1, "
                                       "m 0.7, l 0.4), as spread_rule=margin does (which falls back on this "
                                       "before any label)", min=-1.0, max=1.0)
    spread_prior_checks: float = setting(8.0, "spread_rule=margin: how many checks the confidence you gave counts "
                                               "as once there are checks, q = (agreed + 1 + m c)/(checked + 2 + m) "
                                               "for the mean confidence c of your cluster labels; 0: the checks "
                                               "alone, Laplace-smoothed", min=0.0)
    spread_share: float = setting(-1.0, "the largest share of the CNN's training draws the spread labels take "
                                         "beside a person's (their weights scaled down to it); -1: their weight S "
                                         "(spread_rule), so that labels right only a little more often than wrong "
                                         "take few of the draws however many images they cover; 1: no limit",
                                  min=-1.0, max=1.0)
    spread_loss: str = setting("weighted", "how the CNN learns a spread label: its cross-entropy at its weight "
                                           "(weighted), or at its weight under forward correction (corrected): "
                                           "the loss of a label right with probability q = (1 + S)/2 and else "
                                           "any other class, which stops pulling where the CNN is sure of another "
                                           "class, so that what a person's labels taught it can overrule the spread",
                               choices=("weighted", "corrected"))
    classifier: str = setting("auto", "what answers for the pool (and ranks it): a CNN on the spread labels (cnn), "
                                     "softmax regression on the contrastive encoder's features of your labels "
                                     "(features), whichever of the two cross-validates better on your labels, "
                                     "measured when augment=auto measures (auto; the CNN before), or the VAE's "
                                     "head (vae)", choices=("auto", "cnn", "features", "vae"))
    probe_graph: bool = setting(True, "the encoder features' softmax regression trains on every image of the pool's "
                                      "neighbour graph, each with the class your labels spread to it (label "
                                      "propagation), instead of on your labels alone")
    pick: str = setting("earned", "what later epochs show: the medoids of the clusters the classifier is least "
                                  "sure of for the share of the epoch the spread has earned (its weight, as "
                                  "spread_rule measures it), random pool images in the session's random order for "
                                  "the rest, each with its nearest cluster (earned); only the medoids of the "
                                  "clusters the classifier is least sure of (uncertain); the medoids of the biggest "
                                  "clusters no person has labelled yet, with as many clusters as labels so far plus "
                                  "per_epoch (typical); random pool images, one per cluster of the finer "
                                  "clustering, each with its nearest cluster members (random); or random until "
                                  "every class has ask_from of a person's labels, then uncertain (auto); or "
                                  "uncertain taking the classes the classifier guesses in turn, the class with the "
                                  "fewest of a person's labels first (balanced)",
                        choices=("auto", "balanced", "earned", "random", "typical", "uncertain"))
    ask_from: int = setting(16, "a person's labels per class before pick=auto asks the classifier", min=0)
    rank_by: str = setting("cnn", "whose uncertainty orders the clusters once the classifier is asked: the CNN's (it "
                                  "scores the pool once an epoch) or the VAE head's", choices=("cnn", "vae"))
    cnn_epochs: int = setting(15, "epochs of the CNN on the spread labels", min=1)
    cnn_average: float = setting(0.5, "the CNN's weights: the mean of its weights after every training step past "
                                      "this share of its training (Polyak's averaging, steadier than the last "
                                      "step's: one fit moves less with a few more or fewer steps); 1: the last "
                                      "step's", min=0.0, max=1.0)
    cnn_budget: int = setting(60000, "image passes of the CNN's training an epoch at most: on a large pool the spread "
                                     "labels get fewer epochs (a pool of 4,000 never reaches it)", min=1000)
    augment: str = setting("auto", "augmentation of the CNN's training: geometric (rotation, shear, elastic; for "
                                   "strokes such as digits), shift (small moves and scaling; for objects and "
                                   "photographs), none; auto: shift until a person's labels reach 2 a class (over all "
                                   "classes), then whichever of the two cross-validates better on them, measured "
                                   "again at 4 and 16 a class",
                           choices=("auto", *PRESETS))
    seed: int = setting(0, "VAE, k-means and CNN seeds", min=0)

    def check(self) -> None:
        if self.k_min > self.k_max:
            raise TuilabelError(f"setting k_min={self.k_min} is above k_max={self.k_max}")

    def model(self, device: str | None = None) -> VAEClassifier:
        return VAEClassifier(z_dim=self.z_dim, beta=self.beta, gamma=self.gamma, seed=self.seed, device=device)

    def uses_encoder(self, channels: int) -> bool:
        """Whether a pool of images with ``channels`` is clustered in the contrastive encoder's
        features from the start (else the VAE's latent, or a trial of both: ``trials_space``)."""
        wanted = self.space == "contrastive" or (self.space == "auto" and channels >= 3)
        return wanted and self.show == "medoid"

    def trials_space(self, channels: int) -> bool:
        """Whether the first epoch measures which space to cluster in (``space_trial``): grey images
        under space=auto."""
        return self.space == "auto" and channels < 3 and self.show == "medoid" and self.space_trial > 0

    def graph_answers(self) -> bool:
        """Whether the features' probe trained on the pool's neighbour graph is to answer (it does
        wherever ``classifier=auto`` measured it on photographs and shapes)."""
        return self.classifier in ("auto", "features") and self.probe_graph

    def random_after_trial(self) -> bool:
        """Whether the first epoch goes on down the random order once its trial kept the encoder's
        space (``after_trial``)."""
        return self.after_trial == "random" or (self.after_trial == "auto" and self.graph_answers())

    def needs_encoder(self, channels: int) -> bool:
        """Whether the mode trains (or loads) the contrastive encoder for this pool."""
        return self.uses_encoder(channels) or self.trials_space(channels) or self.probes()

    def probes(self) -> bool:
        """Whether the encoder's features may answer for the pool (``classifier``)."""
        return self.classifier in ("auto", "features")

    def encoder(self, device: str | None = None) -> ContrastiveEncoder:
        return ContrastiveEncoder(steps=self.space_steps, seed=self.seed, device=device)


@dataclass
class Centre:
    """One cluster to decide: its members (pool indices), their distances to the centre (in units
    of the clustering's scale), the decoded centre and where it sits in the hierarchy."""

    path: str  # "7", or "7.2" for the second sub-cluster of cluster 7
    members: np.ndarray
    distances: np.ndarray
    z: np.ndarray
    image: np.ndarray  # uint8, the pool's image shape: what the screen shows large
    epoch: int
    medoid: int | None = None  # the pool item shown large (show=medoid), else the decoded centre is
    guess: int | None = None  # the classifier's class for the decoded centre
    guess_confidence: float | None = None
    uncertainty: float | None = None  # mean entropy of the classifier over the members
    space: str = ""  # the space it was clustered in, "vae" or "contrastive" ("": the plan's)
    trial: bool = False  # shown by the first epoch's trial of the two spaces (space_trial)

    @property
    def depth(self) -> int:
        return self.path.count(".")

    def nearest(self, n: int) -> np.ndarray:
        return self.members[np.argsort(self.distances, kind="stable")[:n]]

    def shown_members(self, n: int) -> np.ndarray:
        """The ``n`` nearest members other than the one shown large."""
        near = self.nearest(n + (self.medoid is not None))
        return near[near != self.medoid][:n]


def pick_medoid(members: np.ndarray, distances: np.ndarray, taken: np.ndarray | None) -> int | None:
    """The member nearest the centre that has no person's label yet (``taken``), if any."""
    free = np.ones(len(members), bool) if taken is None else ~taken[members]
    return int(members[free][np.argmin(distances[free])]) if free.any() else None


def make_centres(
    model: VAEClassifier, z: np.ndarray, members: list[np.ndarray], distances: list[np.ndarray], paths: list[str],
    epoch: int, image_shape: tuple[int, ...], pool_images: np.ndarray | None, taken: np.ndarray | None = None,
    decodable: bool = True,
) -> list[Centre]:
    """Centres for clusters with latent centres ``z``: the decoded centre, or (``pool_images``
    given) the member nearest the centre that no person has labelled (``taken``) as the image to
    show; the decoded centre where every member has a person's label. Centres in a space the VAE
    cannot decode (not ``decodable``: the contrastive encoder's) leave out such clusters."""
    decoded = decode_image(model, z, image_shape) if decodable or pool_images is None else None
    out = []
    for c, (m, d, path) in enumerate(zip(members, distances, paths)):
        medoid = None if pool_images is None else pick_medoid(m, d, taken)
        if medoid is not None and pool_images is not None:
            image = np.asarray(pool_images[medoid])
        elif decoded is not None:
            image = decoded[c]
        else:
            continue  # every member has a person's label and there is no centre to decode
        out.append(Centre(path, m, d, z[c], image, epoch, medoid))
    return out


@dataclass
class Plan:
    """An epoch's clustering: the centres to show, most worth a look first."""

    epoch: int
    k: int
    centres: list[Centre]
    scale: float
    latent: np.ndarray  # the pool's latent means the clustering ran on (splits reuse them)
    inertias: dict[int, float] = field(default_factory=dict)  # when k came from the elbow
    seconds: float = 0.0
    ranked: bool = False  # a later epoch's plan
    sampled: bool = False  # random images (pick), not the medoids of the least sure clusters
    share: float = 1.0  # pick=earned: the share of medoids among the centres, the rest random images
    space: str = "vae"  # what ``latent`` is: the VAE's latent means, or the contrastive encoder's features
    covered: int = 0  # the pool images covering_order's k-means fitted on (0: the plain random order)


@dataclass
class Decision:
    centre: Centre
    label: int | None  # None: no class (the cluster was split)
    confidence: float
    events: list[int]  # the person's event and every propagated one
    children: list[Centre]  # sub-clusters queued by a "no class"
    checked: bool | None = None  # the person's label agreed with the one spread to the image before
    model_right: bool | None = None  # ... and with the classifier's guess for it (on a checked image)


@dataclass
class EpochJob:
    epoch: int
    labels: np.ndarray  # per pool item, -1 = none
    weights: np.ndarray
    spent: int
    seconds: float
    k: int  # clusters of the plan whose centres were labelled
    taken: np.ndarray | None = None  # per pool item: a person's label (no medoid shown twice)
    checks: tuple[int, ...] = (0, 0, 0, 0)  # Session.checks when the epoch began
    spread_factor: float = 1.0
    people_per_class: np.ndarray | None = None  # a person's labels per class (pick=auto and balanced)
    augment: str = "shift"  # the CNN's augmentation so far (augment=auto: the last measured choice)
    augment_checked: int = 0  # augment=auto: labels a class at the last measurement (0: none yet)
    space: str = "vae"  # the space the next plan clusters in
    confidence: tuple[float, int] = (0.0, 0)  # the person's label confidences in the kept space: sum, count
    learner: str = "cnn"  # classifier=auto: what answered after the last measurement, cnn or features
    learner_checked: int = 0  # classifier=auto: labels a class at the last measurement (0: none yet)


@dataclass
class EpochResult:
    record: dict  # the model's epoch losses
    accuracy: float | None
    reconstruction: dict[str, float] | None
    clustering: dict[str, float] | None  # ACC, NMI, ARI of the test set's nearest centres
    plan: Plan
    seconds_train: float
    vae_accuracy: float | None = None  # the VAE head's, whichever classifier answers
    cnn: CNNClassifier | FeatureProbe | None = None  # what answers for the pool (classifier)
    seconds_cnn: float = 0.0
    cnn_images: int = 0  # image passes of the CNN's training
    tested: int = 0
    augment: str = "shift"  # the augmentation the CNN trained with
    augment_scores: dict[str, float] = field(default_factory=dict)  # augment=auto: cross-validated accuracies
    augment_checked: int = 0
    cv_images: int = 0  # image passes of the cross-validation fits
    learner: str = "cnn"  # what answered: cnn or features (the linear probe)
    learner_scores: dict[str, float] = field(default_factory=dict)  # classifier=auto: cross-validated accuracies
    learner_checked: int = 0
    probe_rows: int = 0  # rows the feature probe's fits trained on (cross-validation included)
    graph_pairs: int = 0  # similarities the neighbour graph took to build (0: built before, or none)


@dataclass
class ClustersView:
    centre: Centre | None
    members: list[np.ndarray]
    epoch: int
    k: int
    position: int  # centres decided this epoch
    per_epoch: int
    queued: int
    spent: int
    confidence: str
    training: bool
    accuracy: float | None
    history: list[tuple[int, int, float | None]]  # (epoch, labels spent, accuracy)
    propagated: list[int]  # current propagated labels per class
    message: str = ""
    spread_weight: float | None = None  # S: what a spread label weighs beside a person's (spread_factor)
    checks: tuple[int, int] = (0, 0)  # a person's labels on images with a spread label: agreed, checked


def decode_image(model: VAEClassifier, z: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Latent codes to uint8 images of the pool's layout (channels last for colour)."""
    x = model.decode(np.atleast_2d(z))  # (n, C, H, W) in [0, 1]
    x = x[:, 0] if len(image_shape) == 2 else np.moveaxis(x, 1, -1)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def sample_centres(z: np.ndarray, centres: np.ndarray, assignment: np.ndarray, members_of: dict[int, np.ndarray],
                   scale: float, epoch: int, pool_images: np.ndarray, taken: np.ndarray | None,
                   rng: np.random.Generator) -> list[Centre]:
    """Random pool images that no person has labelled, at most one per cluster, in the order drawn:
    each is shown with its cluster (``members_of``), whose members are measured from the image."""
    out = []
    used: set[int] = set()
    for i in rng.permutation(len(z)):
        c = int(assignment[i])
        if c in used or (taken is not None and taken[i]):
            continue
        used.add(c)
        out.append(image_centre(int(i), z, centres, assignment, members_of, scale, epoch, pool_images))
        if len(used) == len(members_of):
            break
    return out


def image_centre(i: int, z: np.ndarray, centres: np.ndarray, assignment: np.ndarray,
                 members_of: dict[int, np.ndarray], scale: float, epoch: int, pool_images: np.ndarray) -> Centre:
    """Pool image ``i`` shown large with its nearest cluster, the members measured from the image."""
    c = int(assignment[i])
    members = members_of[c]
    distances = np.linalg.norm(z[members] - z[i], axis=1) / scale
    return Centre(str(c + 1), members, distances, centres[c], np.asarray(pool_images[i]), epoch, i)


def random_order(n: int, seed: int) -> np.ndarray:
    """The session's random order of the pool: pick=earned's random images come from it, the first
    ones no person has labelled (benchmarks/bench_clusters.py's random baseline takes its first n)."""
    return np.random.default_rng([seed, 1000]).permutation(n)


def random_centres(z: np.ndarray, centres: np.ndarray, assignment: np.ndarray, members_of: dict[int, np.ndarray],
                   scale: float, epoch: int, pool_images: np.ndarray, taken: np.ndarray | None, order: np.ndarray,
                   n: int) -> list[Centre]:
    """The first ``n`` images of ``order`` that no person has labelled, each shown with its nearest
    cluster (``members_of``), whose members are measured from the image."""
    free = order if taken is None else order[~taken[order]]
    return [image_centre(int(i), z, centres, assignment, members_of, scale, epoch, pool_images) for i in free[:n]]


COVER_FIT = 20_000  # pool images k-means fits on to cover a larger pool; the rest go to the nearest centre


def covering_order(features: np.ndarray, taken: np.ndarray | None, order: np.ndarray, per_epoch: int,
                   seed: int) -> np.ndarray:
    """Random images that cover the pool: the pool (``features``) in ``labelled + per_epoch`` clusters
    (TypiClust's |L| + B), then ``order``'s images that no person has labelled, each next one from a
    cluster that holds no labelled image and none taken before it; the rest of ``order`` after them.
    Where softmax regression on the encoder's features answers, random images taught it as much as
    any image chosen by uncertainty or typicality, and covering the clusters taught it more
    (benchmarks/results/clusters-cover)."""
    free = order if taken is None else order[~taken[order]]
    labelled = 0 if taken is None else int(taken.sum())
    k = max(1, min(len(features), labelled + per_epoch))
    if len(free) <= 1 or k <= 1:
        return free
    assignment = nearest_centre(features, kmeans(features[np.sort(order[:COVER_FIT])], k, seed=seed).centres)
    covered = np.zeros(k, bool)
    if taken is not None:
        covered[assignment[taken]] = True
    first: list[int] = []
    for i in free:
        if not covered[assignment[i]]:
            covered[assignment[i]] = True
            first.append(int(i))
            if covered.all():
                break
    return np.concatenate([np.asarray(first, np.int64), free[~np.isin(free, first)]])


def interleave(medoids: list[Centre], randoms: list[Centre], share: float) -> list[Centre]:
    """Medoids for ``share`` of every stretch of the queue, random images for the rest: the j-th
    centre shown is a medoid when round(share * j) goes up there. Whatever one list lacks, the
    other fills."""
    out: list[Centre] = []
    m, r = list(medoids), list(randoms)
    while m or r:
        j = len(out) + 1
        take_medoid = int(np.floor(share * j + 0.5)) > int(np.floor(share * (j - 1) + 0.5))
        out.append(m.pop(0) if (take_medoid and m) or not r else r.pop(0))
    return out


def cnn_epochs(settings: ClustersSettings, labelled_epoch: int, trained_epoch: int) -> int:
    """Epochs of an epoch's CNN: as many image passes as ``cnn_epochs`` over every labelled image
    (``labelled_epoch`` passes an epoch), whatever the spread weighs, so that spread labels that
    weigh nothing leave more epochs over a person's labels (``trained_epoch`` passes an epoch);
    within ``cnn_budget`` passes, so that a large pool's spread trains for fewer epochs (at least one)."""
    epochs = max(settings.cnn_epochs, round(settings.cnn_epochs * labelled_epoch / max(trained_epoch, 1)))
    return max(1, min(epochs, settings.cnn_budget // max(trained_epoch, 1)))


def label_masses(labels: np.ndarray, weights: np.ndarray, taken: np.ndarray) -> tuple[float, float]:
    """The summed weights of the spread labels and of a person's (``taken``): their shares of the draws."""
    has = labels >= 0
    return float(weights[has & ~taken].sum()), float(weights[has & taken].sum())


def share_scale(spread: float, people: float, cap: float) -> float:
    """What the spread labels' weights (``spread`` in all) are multiplied by so that they take at most
    ``cap`` of the draws beside a person's (``people`` in all): 1 where they take no more already, or
    where there is no person's label to weigh them against."""
    if cap >= 1 or spread <= 0 or people <= 0 or spread <= cap / (1 - cap) * people:
        return 1.0
    return cap / (1 - cap) * people / spread


def earned_share(settings: ClustersSettings, spread_factor: float | None, learner: str = "cnn") -> float:
    """pick=earned: the share of a later epoch's centres that are medoids of the least sure
    clusters, the spread's weight (1 before there is one); none where the encoder's features
    answer (``learner``; ``ClustersSession.share_learner``): there random images taught them more
    than the medoids (benchmarks/results/clusters-probe, clusters-drawn); 1 for every other pick."""
    if settings.pick != "earned" or settings.show != "medoid" or spread_factor is None:
        return 1.0
    if learner == "features":
        return 0.0
    return float(np.clip(spread_factor, 0.0, 1.0))


def asks_classifier(settings: ClustersSettings, people_per_class: np.ndarray | None) -> bool:
    """Whether a later epoch shows the clusters the classifier is least sure of (else random images,
    or with pick=typical the biggest clusters nobody has labelled)."""
    if settings.show != "medoid" or settings.pick in ("uncertain", "balanced", "earned"):
        return True
    if settings.pick in ("random", "typical") or people_per_class is None or not len(people_per_class):
        return False
    return int(people_per_class.min()) >= settings.ask_from


def typical_k(settings: ClustersSettings, labelled: int, n: int) -> int:
    """pick=typical's clusters for a later epoch: one for every image a person has labelled and one
    for each of the epoch's decisions (TypiClust's |L| + B), never fewer than ``fine_k``."""
    return max(1, min(n, max(settings.fine_k, labelled + settings.per_epoch)))


def order_balanced(centres: list[Centre], people_per_class: np.ndarray | None, n_classes: int) -> list[Centre]:
    """The least sure first, taking the classes the classifier guesses in turn: each next centre is
    the least sure of those whose guessed class has the fewest labels, counting a person's labels so
    far and the centres already ahead in the queue."""
    given = np.zeros(0, np.int64) if people_per_class is None else np.asarray(people_per_class, np.int64)
    counts = np.zeros(max(n_classes, len(given), 1 + max((ce.guess or 0 for ce in centres), default=0)), np.int64)
    counts[: len(given)] = given
    remaining = sorted(centres, key=lambda ce: -(ce.uncertainty or 0.0))
    out = []
    while remaining:
        best = min(range(len(remaining)), key=lambda i: (counts[remaining[i].guess or 0], i))
        centre = remaining.pop(best)
        counts[centre.guess or 0] += 1
        out.append(centre)
    return out


def order_typical(centres: list[Centre], taken: np.ndarray | None) -> list[Centre]:
    """The clusters no person has labelled a member of first, the biggest first; then the rest, the
    biggest first."""
    def covered(centre: Centre) -> bool:
        return taken is not None and bool(taken[centre.members].any())
    return sorted(centres, key=lambda ce: (covered(ce), -len(ce.members)))


def people(workspace: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Per pool item, whether a person has labelled it (in any mode), and a person's labels per
    class: one read of the store."""
    pool = workspace.pool
    mask = np.zeros(len(pool), bool)
    counts = np.zeros(pool.n_classes, np.int64)
    for item, label in workspace.store.labels(("human",)).items():
        if pool.has(item):
            mask[pool.index_of(item)] = True
            if label is not None and 0 <= label < len(counts):
                counts[label] += 1
    return mask, counts


def make_plan(
    model: VAEClassifier, x: np.ndarray, image_shape: tuple[int, ...], settings: ClustersSettings, epoch: int,
    ranked: bool, n_classes: int = 0, pool_images: np.ndarray | None = None, taken: np.ndarray | None = None,
    classifier: CNNClassifier | FeatureProbe | None = None, pool_probs: np.ndarray | None = None,
    people_per_class: np.ndarray | None = None, share: float = 1.0, features: np.ndarray | None = None,
    cover: np.ndarray | None = None,
) -> Plan:
    """Cluster the pool's latent means and decode each centre (any thread: no store, no UI). A
    ranked plan orders the clusters by the mean entropy of ``pool_probs`` over their members (the
    VAE head's when not given) and has ``classifier`` (else the VAE) guess the images shown; until
    the classifier is worth asking (``asks_classifier``) it shows random pool images instead, one a
    cluster, still with the classifier's guesses. pick=earned: medoids for ``share`` of the queue
    (``earned_share``), the session's random order for the rest (``interleave``). ``features``: the
    pool in the space to cluster (``space=contrastive``), else the VAE's latent means. ``cover``: the
    pool's features that the random images cover (``covering_order``)."""
    t0 = time.perf_counter()
    z = model.encode(x) if features is None else features  # features: the contrastive encoder's (space)
    inertias: dict[int, float] = {}
    typical = ranked and settings.pick == "typical" and settings.show == "medoid"
    if not ranked:
        k = settings.k
        low = min(max(settings.k_min, 2 * n_classes), len(z) - 1)
        high = min(max(settings.k_max, 2 * n_classes), len(z) - 1)
        if k <= 0 and low >= high:
            k = low
        elif k <= 0:
            k, inertias = choose_k(z, low, high, seed=settings.seed + epoch)
    elif typical:
        k = typical_k(settings, 0 if taken is None else int(taken.sum()), len(z))
    else:
        k = settings.fine_k or settings.k or settings.k_max
    k = max(1, min(k, len(z)))
    km = kmeans(z, k, seed=settings.seed + epoch)
    scale = float(np.median(km.distances)) or 1.0
    kept = [c for c in range(k) if (km.assignment == c).any()]
    members = [np.flatnonzero(km.assignment == c) for c in kept]
    sampled = ranked and not typical and pool_images is not None and not asks_classifier(settings, people_per_class)
    if sampled:
        assert pool_images is not None
        centres = sample_centres(z, km.centres, km.assignment, dict(zip(kept, members)), scale, epoch, pool_images,
                                 taken, np.random.default_rng([settings.seed, epoch]))
        sampled = bool(centres)  # else every image has a person's label: the decoded centres
    if not sampled:
        centres = make_centres(model, km.centres[kept], members, [km.distances[m] / scale for m in members],
                               [str(c + 1) for c in kept], epoch, image_shape,
                               pool_images if settings.show == "medoid" else None, taken, decodable=features is None)
    earned = ranked and not sampled and not typical and settings.pick == "earned" and pool_images is not None \
        and settings.show == "medoid"
    share = float(np.clip(share, 0.0, 1.0)) if earned else 1.0
    randoms: list[Centre] = []
    covered = 0
    if share < 1.0:
        assert pool_images is not None
        order = random_order(len(z), settings.seed)
        if cover is not None:
            order = covering_order(cover, taken, order, settings.per_epoch, settings.seed + epoch)
            covered = min(len(z), COVER_FIT)
        randoms = random_centres(z, km.centres, km.assignment, dict(zip(kept, members)), scale, epoch, pool_images,
                                 taken, order, max(len(centres), settings.per_epoch))
        if share == 0.0 and randoms:
            centres = []
    shown = centres + randoms
    if ranked and shown:
        probs = None if sampled or typical or not centres else pool_probs if pool_probs is not None else \
            model.proba_from_latent(z) if features is None else model.predict_proba(x)
        guesser = model if classifier is None else classifier
        guesses = guesser.predict_proba(to_model_input(np.stack([c.image for c in shown])))
        for i, (centre, guess) in enumerate(zip(shown, guesses)):
            if probs is not None and i < len(centres):  # what orders them
                centre.uncertainty = float(strategies.entropy(probs[centre.members]).mean())
            centre.guess, centre.guess_confidence = int(guess.argmax()), float(guess.max())
    if typical:
        centres = order_typical(centres, taken)
    elif ranked and not sampled and settings.pick == "balanced":
        centres = order_balanced(centres, people_per_class, n_classes)
    elif ranked and not sampled:  # sampled: in the order drawn
        centres.sort(key=lambda ce: -(ce.uncertainty or 0.0))
        if randoms:
            centres = interleave(centres, randoms, share)
    elif not ranked:
        centres.sort(key=lambda ce: -len(ce.members))  # the biggest clusters first
    space = "vae" if features is None else "contrastive"
    for centre in centres:
        centre.space = space
    return Plan(epoch, k, centres, scale, z, inertias, time.perf_counter() - t0, ranked, sampled,
                share if randoms else 1.0, space, covered=covered)


def in_plan(plan: Plan, i: int, pool_images: np.ndarray, from_image: bool = True) -> Centre | None:
    """Pool image ``i`` shown large with its cluster in ``plan`` (a first epoch's plan, whose
    centres hold every cluster), the members measured from the image, or with ``from_image`` False
    from the centre, as the cluster's medoid is shown (the members nearest the centre under it);
    None where no centre holds it."""
    home = next((c for c in plan.centres if i in c.members), None)
    if home is None:
        return None
    distances = np.linalg.norm(plan.latent[home.members] - plan.latent[i], axis=1) / plan.scale \
        if from_image else home.distances
    return Centre(home.path, home.members, distances, home.z, np.asarray(pool_images[i]), plan.epoch, i,
                  space=plan.space)


def trial_pairs(first: Plan, second: Plan, n: int, order: np.ndarray, pool_images: np.ndarray,
                skip: Set[int] = frozenset()) -> list[Centre]:
    """``n`` pairs of the space trial's random images (``trial_images=random``): ``order``'s next
    images not in ``skip``, in turn the one with its cluster in ``first``, the next with its
    cluster in ``second``, shown as its medoid is (``in_plan``), each marked as the trial's."""
    out: list[Centre] = []
    plans = (first, second)
    for i in order:
        if len(out) >= 2 * n:
            break
        if int(i) in skip:
            continue
        centre = in_plan(plans[len(out) % 2], int(i), pool_images, from_image=False)
        if centre is not None:
            centre.trial = True
            out.append(centre)
    return out


def trial_queue(first: Plan, second: Plan, n: int, order: np.ndarray | None = None,
                pool_images: np.ndarray | None = None) -> list[Centre]:
    """The first epoch's trial of two spaces: ``n`` clusters of each plan in turn (``first``
    leads), then the rest of ``first``'s centres until the trial decides. The clusters are the
    biggest of each plan, shown by their medoids, or given ``order`` (and the ``pool_images`` to
    show), those of the order's images (``trial_pairs``)."""
    if order is not None:
        assert pool_images is not None
        return trial_pairs(first, second, n, order, pool_images) + first.centres
    out: list[Centre] = []
    for pair in zip(first.centres[:n], second.centres[:n]):
        for centre in pair:
            centre.trial = True
            out.append(centre)
    return out + first.centres[n:]


class ClustersSession(BaseSession):
    mode = "clusters"
    settings_class = ClustersSettings
    settings: ClustersSettings
    waits_for_update = True  # the next centres come from the epoch being trained

    def __init__(
        self,
        workspace: Workspace,
        settings: ClustersSettings | None = None,
        clock: Clock | None = None,
        annotator: str | None = None,
        save_models: bool = True,
        model: VAEClassifier | None = None,
        plan: Plan | None = None,
        space: ContrastiveEncoder | None = None,
        trial_plan: Plan | None = None,
        encoded: np.ndarray | None = None,
    ) -> None:
        super().__init__(workspace, settings, clock, annotator, save_models)
        if model is None:
            if not workspace.has_model(VAE):
                raise TuilabelError("no VAE yet: run `tuilabel train WORKSPACE --model vae` first", workspace.path)
            model = workspace.load_model(VAE, VAEClassifier.load)
        self.model = model
        self.x = self.pool.as_float()
        self.epoch = model.labelled_epochs_ + 1  # the labelling round
        taken, counts = people(workspace)
        state = self.load_state()  # read once: the saved spread weight here, the rest in resume()
        ours = state is not None and state.get("labelled_epochs") == model.labelled_epochs_
        # the space the pool is clustered in: as an earlier epoch chose it, else measured by this
        # epoch's trial (None until it decides), else the settings' rule
        channels = self.pool.channels
        chosen = self.settings.space == "auto" and self.settings.show == "medoid"  # else the settings decide
        self.space: str | None = str(state["space"]) if chosen and ours and state and state.get("space") else None
        trial = self.space is None and model.labelled_epochs_ == 0 and self.settings.trials_space(channels)
        if self.space is None and not trial:
            self.space = "contrastive" if self.settings.uses_encoder(channels) else "vae"
        self.space_scores: dict[str, float | None] = {}  # the trial's mean confidence per space
        self.encoder: ContrastiveEncoder | None = None
        if self.space == "contrastive" or trial or self.settings.probes():
            self.encoder = space or load_or_train_encoder(workspace, self.settings, self.x, save_models)
            if encoded is None or space is None:  # else prepare encoded the pool with this encoder
                encoded = self.encoder.encode(self.x)
        self.encoded = encoded  # the pool in the encoder's space
        # the spread's weight when the last epoch trained: what a reopened session starts from
        self.saved_factor: float | None = None
        self.saved_confidence: tuple[float, int] = (0.0, 0)  # earlier sessions' label confidences: sum, count
        if ours and state is not None and state.get("spread_factor") is not None:
            self.saved_factor = float(state["spread_factor"])
        saved_learner = "features" if self.settings.classifier == "features" or (
            self.settings.classifier == "auto" and ours and state is not None and state.get("learner") == "features") \
            else "cnn"  # what answered when the last epoch trained
        if plan is not None and plan.ranked and (self.settings.pick in ("typical", "balanced", "earned")
                                                 or plan.sampled == asks_classifier(self.settings, counts)):
            plan = None  # prepared off the store's thread, without the people's labels: made again with them
        if plan is not None and plan.space != (self.space or "vae"):
            plan = None  # prepared before the space this workspace chose was known

        picked_for = self.share_learner(saved_learner, int(state.get("learner_checked", 0)) if ours and state else 0)

        def first_plan(features: np.ndarray | None) -> Plan:
            return make_plan(model, self.x, self.pool.image_shape, self.settings, self.epoch,
                             ranked=model.labelled_epochs_ > 0, n_classes=self.pool.n_classes,
                             pool_images=self.pool.images, taken=taken, people_per_class=counts,
                             share=earned_share(self.settings, self.saved_factor, picked_for), features=features,
                             cover=self.covered(picked_for))

        self.plan = plan or first_plan(self.features)
        self.trial_plans: dict[str, Plan] = {}  # the first epoch's trial: each space's plan
        self.tried = 0  # clusters of each space the trial has taken so far
        if trial:
            if trial_plan is None or trial_plan.space != "contrastive":
                trial_plan = first_plan(self.encoded)
            self.trial_plans = {"vae": self.plan, "contrastive": trial_plan}
            self.queue: list[Centre] = trial_queue(self.plan, trial_plan, self.settings.space_trial,
                                                   self._trial_order(), self.pool.images)
            self.tried = sum(c.trial and c.space == "contrastive" for c in self.queue)  # clusters of each
        else:
            self.queue = list(self.plan.centres)
        self.decisions: list[Decision] = []
        self.decided_this_epoch = 0
        self.train_now = False  # `t`: end this epoch's labelling before per_epoch decisions
        self.spent_here = 0  # centre decisions (a class or no class) over the whole session
        self.confidence = self.settings.confidence
        self.accuracy: float | None = None
        self.cnn: CNNClassifier | FeatureProbe | None = None
        self.graph: NeighbourGraph | None = None  # the pool's neighbour graph (probe_graph), built when first needed
        self.learner = "features" if self.settings.classifier == "features" else "cnn"
        self.learner_checked = 0  # classifier=auto: a person's labels a class when the choice was last measured
        self.history: list[tuple[int, int, float | None]] = []
        # a person's label on an image that had a spread label: the spread label agreed, checks, and
        # on the checks where the classifier had guessed the image: its guess agreed, of
        self.checks = [0, 0, 0, 0]
        self.known = np.full(len(self.pool), -1, np.int64)  # the labels the last epoch trained on
        self.augment_choice = self.settings.augment if self.settings.augment != "auto" else "shift"
        self.augment_checked = 0  # augment=auto: a person's labels a class when the choice was last measured
        self.taken_mask = taken  # kept up to date by decisions, read again from the store each epoch
        self.resume(state)
        if self.settings.show == "medoid":
            self._repick(self.queue)
        self.message = self._plan_message()

    @classmethod
    def needs_preparing(cls, workspace: Workspace, settings: Settings | None = None) -> bool:
        return True  # clustering the pool's latent space takes a moment even with a VAE at hand

    @classmethod
    def prepare(cls, workspace: Workspace, settings: Settings | None = None, progress: Progress = no_progress,
                save_models: bool = True) -> dict[str, Any]:
        """The workspace's VAE (trained first without labels when there is none, or always for a
        simulation), the contrastive encoder likewise where ``space`` asks for it, and the first clustering."""
        s = settings if isinstance(settings, ClustersSettings) else ClustersSettings()
        pool = workspace.pool
        x = pool.as_float()
        if save_models and workspace.has_model(VAE):
            model = workspace.load_model(VAE, VAEClassifier.load)
        else:
            model = s.model()
            pretrain(model, x, pool.n_classes, s, progress=progress)
            if save_models:
                model.save(workspace.model_path(VAE))
        space = load_or_train_encoder(workspace, s, x, save_models, progress) \
            if s.needs_encoder(pool.channels) else None
        progress(None, "clustering the pool…")
        features = None if space is None else space.encode(x)
        trial = model.labelled_epochs_ == 0 and s.trials_space(pool.channels)

        def first_plan(features: np.ndarray | None) -> Plan:
            return make_plan(model, x, pool.image_shape, s, model.labelled_epochs_ + 1,
                             ranked=model.labelled_epochs_ > 0, n_classes=pool.n_classes, pool_images=pool.images,
                             features=features)

        plan = first_plan(features if s.uses_encoder(pool.channels) else None)  # the session checks the space
        trial_plan = first_plan(features) if trial and features is not None else None
        return {"model": model, "plan": plan, "space": space, "trial_plan": trial_plan, "encoded": features}

    @property
    def features(self) -> np.ndarray | None:
        """What the plans cluster: the pool in the encoder's space where that space is kept, else
        None (the VAE's latent)."""
        return self.encoded if self.space == "contrastive" else None

    def covered(self, learner: str = "cnn") -> np.ndarray | None:
        """What later epochs' random images cover (``covering_order``): the encoder's features, unit
        length as the probe reads them, where there is an encoder; None (the random order itself)
        where there is none, or where the probe trained on the pool's neighbour graph answers
        (``learner`` features, ``probe_graph``): there covering gave the mixed classes most of an
        epoch's labels, and the graph learned more from the random order (benchmarks/results/clusters-drawn)."""
        if self.encoded is None or (learner == "features" and self.settings.probe_graph):
            return None
        return unit(self.encoded)

    def share_learner(self, learner: str, checked: int) -> str:
        """The learner a later epoch's medoid share is earned for (``earned_share``, ``covered``):
        the one that answered, except that before ``classifier=auto`` has first measured the two
        (``checked`` 0), a pool clustered in the encoder's space counts as answered by the graph's
        probe (``graph_answers``), as it was from the second epoch on in every photograph and shape
        run: the CNN's medoids would spend that epoch on images the probe learns little from
        (benchmarks/results/clusters-drawn)."""
        if self.settings.classifier == "auto" and checked == 0 and self.space == "contrastive" \
                and self.encoded is not None and self.settings.graph_answers():
            return "features"
        return learner

    @property
    def training(self) -> bool:
        return self.updating

    @property
    def spent(self) -> int:
        return self.spent_here

    def resume(self, state: dict[str, Any] | None) -> None:
        """The accuracy history and the CNN of earlier epochs (the VAE carries its own epoch count),
        from the mode's saved ``state`` (``load_state``)."""
        if state is not None and state.get("labelled_epochs") == self.model.labelled_epochs_:
            self.history = [(int(e), int(n), a) for e, n, a in state["history"]]
            self.accuracy = self.history[-1][2] if self.history else None
            self.checks = ([int(n) for n in state.get("checks", [])] + [0, 0, 0, 0])[:4]
            if state.get("confidence"):
                total, n = state["confidence"]
                self.saved_confidence = (float(total), int(n))
            self.known = self.training_labels(self.taken_mask)[0]
            if self.settings.augment == "auto":
                self.augment_choice = state.get("augment", self.augment_choice)
                self.augment_checked = int(state.get("augment_checked", 0))
            if self.settings.classifier == "auto" and state.get("learner") in ("cnn", "features"):
                self.learner, self.learner_checked = str(state["learner"]), int(state.get("learner_checked", 0))
        elif state is not None:
            self.curve = []  # the state belongs to another VAE: start its history afresh
        if self.save_models and self.learner == "features" and self.encoder is not None \
                and self.workspace.has_model(PROBE):
            encoder = self.encoder
            self.cnn = self.workspace.load_model(PROBE, lambda path: FeatureProbe.load(path, encoder))
        elif self.save_models and self.settings.classifier in ("auto", "cnn") and self.workspace.has_model(CNN):
            self.cnn = self.workspace.load_model(CNN, CNNClassifier.load)

    def _repick(self, centres: list[Centre]) -> None:
        """A centre prepared elsewhere shows a member a person has labelled since: the next nearest."""
        taken = self.taken_mask
        for centre in centres:
            if centre.medoid is not None and taken[centre.medoid]:
                centre.medoid = pick_medoid(centre.members, centre.distances, taken)
                if centre.medoid is not None:
                    centre.image = np.asarray(self.pool.images[centre.medoid])

    def spread_factor(self) -> float:
        """What a spread label weighs beside a person's (times its w_n): the setting, or measured on
        the checks (a person's label on an image that carried a spread label), each share
        Laplace-smoothed, q = (agreed + 1)/(checked + 2):

        - ``spread_rule="chance"``: the share of checks that agreed above chance, (q - 1/C)/(1 - 1/C);
          ``spread_prior`` (1) until the first check.
        - ``"model"``: how much more often the spread labels agreed than the classifier's guesses for
          the same images, as a share of what the guesses got wrong, (q_s - q_m)/(1 - q_m): a spread
          label is worth training on only where it knows more than the model it trains. Before
          there are guesses, the share above chance squared (0.2 with ten classes before any check).
          Measured against "chance" on three data sets (benchmarks/bench_clusters.py), it zeroed
          the spread from the second epoch on and fell behind on digits and photographs, so it is
          not the default.
        - ``"margin"`` (the default): how much more often the spread labels were right than wrong,
          2q - 1 (the chance rule for two classes, stricter for more: a label wrong more often than
          right weighs nothing). Before the first check, q is the mean confidence c the person gave
          the labels so far (1, 0.7, 0.4 for h, m, l: how far the members shown share the class);
          after it, c counts as ``spread_prior_checks`` checks beside them, q = (agreed + 1 + m c) /
          (checked + 2 + m), so that a handful of checks does not switch the spread off alone.
          On colour shapes, where 15% of the spread labels were right, the chance rule's weight of
          0.05-0.25 cost 10 points at 80 labels against none."""
        if self.settings.spread_weight >= 0:
            return self.settings.spread_weight
        agreed, checked, model_agreed, model_checked = self.checks
        chance = 1.0 / max(2, self.pool.n_classes)
        q = (agreed + 1) / (checked + 2)
        above_chance = float(np.clip((q - chance) / (1 - chance), 0.0, 1.0))
        if self.settings.spread_rule == "chance":
            return above_chance if checked else self._prior(self.settings.spread_prior)
        if self.settings.spread_rule == "margin":
            if not checked:
                return self._prior(-1.0)
            c, _ = self.given_confidence()
            if c is not None:  # the person's word counts as spread_prior_checks checks at their mean confidence
                m = self.settings.spread_prior_checks
                q = (agreed + 1 + m * c) / (checked + 2 + m)
            return float(np.clip(2 * q - 1, 0.0, 1.0))
        if model_checked:
            q_model = (model_agreed + 1) / (model_checked + 2)
            return float(np.clip((q - q_model) / (1 - q_model), 0.0, 1.0))
        return above_chance ** 2

    def _prior(self, prior: float) -> float:
        """The spread weight before the first check: ``prior``, or (-1) the person's own word on how
        far the members share the labels: 2c - 1 for the mean confidence c of their cluster labels
        so far (``spread_prior`` where there are none yet, or 1 when that is -1 too)."""
        if prior >= 0:
            return prior
        c, _ = self.given_confidence()
        if c is None and self.saved_factor is not None:
            return self.saved_factor  # a reopened session from before confidences were saved
        if c is None:
            return self.settings.spread_prior if self.settings.spread_prior >= 0 else 1.0
        return float(np.clip(2 * c - 1, 0.0, 1.0))

    def given_confidence(self) -> tuple[float | None, int]:
        """The mean confidence (h 1, m 0.7, l 0.4) of the person's cluster labels in the kept space,
        over this session and the earlier ones the saved state counts, and how many; None with none."""
        total, n = self._confidence_sums()
        return (total / n if n else None), n

    def _confidence_sums(self) -> tuple[float, int]:
        """The sum and count behind ``given_confidence``: what the mode's state saves."""
        given = [d.confidence for d in self.decisions if d.label is not None and self._in_space(d.centre)]
        return self.saved_confidence[0] + float(sum(given)), self.saved_confidence[1] + len(given)

    def _plan_message(self) -> str:
        how = f"k={self.plan.k}" + (" (elbow)" if self.plan.inertias else "")
        if self.space is None:
            return f"epoch {self.epoch}, {how}: two clusterings take turns; l/m if the strip mixes"
        return (f"epoch {self.epoch}, {how}: "
                + ("a number labels it and its cluster (l/m first: mixed)"
                   if self.settings.show == "medoid" else "label each centre, x if it shows no class"))

    @property
    def current(self) -> Centre | None:
        return self.queue[0] if self.queue else None

    # -- actions --------------------------------------------------------------------------------

    def do_label(self, label: int) -> None:
        """Give the centre a class; it spreads to the cluster's members."""
        if not self.known_class(label):
            return
        self._decide(int(label))

    def do_no_class(self) -> None:
        """The centre shows no class: split its cluster and show the parts."""
        self._decide(None)

    def _decide(self, label: int | None) -> None:
        centre = self.current
        if centre is None or self.updating:
            self.message = "training: the next epoch's centres come when it is done" if self.training \
                else "no centre to label: press t to train the next epoch"
            return
        p_c = CONFIDENCE[self.confidence]
        spread: list[tuple[str, int, float]] = []
        children: list[Centre] = []
        item = None  # the person's label goes to the pool item shown, when it is one
        checked = None  # whether it agreed with the label spread to that image before
        model_right = None  # and with the classifier's guess
        if label is not None:
            if self._in_space(centre):
                spread = self._spread(centre.members, centre.distances, label, p_c, {centre.medoid})
            else:  # a trial cluster of the space not kept, shown again by an undo
                spread = self._home_spread(centre.medoid, label)
            item = None if centre.medoid is None else str(self.pool.ids[centre.medoid])
            if centre.medoid is not None and self.known[centre.medoid] >= 0:
                checked = int(self.known[centre.medoid]) == label
                self.checks[0] += int(checked)
                self.checks[1] += 1
                if centre.guess is not None:
                    model_right = centre.guess == label
                    self.checks[2] += int(model_right)
                    self.checks[3] += 1
        # the image shown is the person's own label (confidence 1); p_c is how far it holds for the cluster
        human, propagated = self.store.add_with_spread(self.session_id, centre.image, label,
                                                       p_c if item is None else 1.0, spread, item_id=item)
        if item is not None:
            self.taken_mask[centre.medoid] = True
        self.queue.pop(0)
        if label is None:
            children = self._split(centre)
            self.queue[0:0] = children
        self.decisions.append(Decision(centre, label, p_c, [human, *propagated], children, checked, model_right))
        self.spent_here += 1
        self.decided_this_epoch += 1
        name = "no class" if label is None else self.pool.class_names[label]
        if label is None:
            self.message = f"cluster {centre.path}: no class; " + (
                f"split into {len(children)}" if children else "too small to split, left unlabelled")
        else:
            self.message = f"cluster {centre.path} -> {name} ({self.confidence}), spread to {len(spread)} images"
        self.confidence = self.settings.confidence  # a lowered confidence holds for one label
        self._after_trial_step()

    def _in_space(self, centre: Centre) -> bool:
        """Whether a centre belongs to the space the pool is clustered in (while the trial runs, both do)."""
        return self.space is None or not centre.space or centre.space == self.space

    def _after_trial_step(self) -> None:
        """While the first epoch's trial runs: the next centres show images nobody has labelled
        (the two spaces can share a medoid), and once its centres are all decided, the choice."""
        if self.space is not None:
            return
        self._repick(self.queue)
        if any(c.trial for c in self.queue):
            return
        scores = self.trial_scores()
        tried = self.tried
        vae, enc = scores["vae"], scores["contrastive"]
        if vae is not None and enc is not None and abs(vae - enc) < 1e-9 and tried < 2 * self.settings.space_trial \
                and self._extend_trial():
            self.message = "both clusterings rated alike so far: one more cluster of each"
            return
        self.choose_space()

    def _trial_order(self) -> np.ndarray | None:
        """What ``trial_queue`` takes the trial's images from: the session's random order
        (``trial_images=random``), else nothing (the medoids)."""
        return random_order(len(self.x), self.settings.seed) if self.settings.trial_images == "random" else None

    def _extend_trial(self) -> bool:
        """A tie: the next cluster of each space joins the trial, at the front of the queue: the
        next biggest (medoids), or those of the random order's next two images nobody has labelled."""
        order = self._trial_order()
        if order is not None:
            used = {int(c.medoid) for c in self.queue if c.trial and c.medoid is not None}
            used |= {int(i) for i in np.flatnonzero(self.taken_mask)}
            pair = trial_pairs(self.trial_plans["vae"], self.trial_plans["contrastive"], 1, order, self.pool.images,
                               used)
        else:
            untried = (next((c for c in self.trial_plans[name].centres if not c.trial and c.medoid is not None
                             and not self.taken_mask[c.medoid]), None) for name in ("vae", "contrastive"))
            pair = [c for c in untried if c is not None]
        if len(pair) < 2:
            return False
        for centre in pair:
            centre.trial = True
        self.queue = pair + [c for c in self.queue if all(c is not p for p in pair)]
        self.tried += 1
        return True

    def trial_scores(self) -> dict[str, float | None]:
        """Per space, the mean confidence of the person's decisions on its trial clusters (no class
        counts 0; skips not at all); None where there are none."""
        scores: dict[str, float | None] = {}
        for name in ("vae", "contrastive"):
            given = [d.confidence if d.label is not None else 0.0 for d in self.decisions
                     if d.centre.trial and d.centre.space == name and d.events]
            scores[name] = float(np.mean(given)) if given else None
        return scores

    def choose_space(self) -> None:
        """End the trial of the two spaces: keep the one whose trial clusters the person called
        purer (``trial_scores``; after a tie the trial goes on a cluster of each at a time, up to
        twice ``space_trial``), the VAE's on a tie or with nothing to compare; take back what the
        other's labels spread and spread them again from their images in the kept space
        (``_home_spread``); go on with the kept space's clusters."""
        if self.space is not None:
            return
        scores = self.trial_scores()
        vae, enc = scores["vae"], scores["contrastive"]
        self.space = "contrastive" if vae is not None and enc is not None and enc > vae + 1e-9 else "vae"
        self.space_scores = scores
        self.plan = self.trial_plans[self.space]
        dropped = [d for d in self.decisions if d.centre.space and d.centre.space != self.space and d.events]
        if any(len(d.events) > 1 for d in dropped):
            self.store.retract(self.session_id, [e for d in dropped for e in d.events[1:]])
        for d in dropped:  # each label spreads again, from its image, in the kept space
            rows = [] if d.label is None else self._home_spread(d.centre.medoid, d.label)
            d.events = d.events[:1] + (self.store.add_many(self.session_id, rows, source="propagated") if rows else [])
        planned = {id(c) for c in self.plan.centres}
        pending = [c for c in self.queue if c.space == self.space and id(c) not in planned]  # split parts
        self.queue = pending + self._after_trial_queue()
        self._repick(self.queue)
        other = "vae" if self.space == "contrastive" else "contrastive"
        kept, lost = scores[self.space], scores[other]
        self.message = f"kept the {NAMES[self.space]}'s clusters"  # one line at 80 columns
        if kept is not None and lost is not None:
            self.message += f" (you rated them {kept:.2f}, the {NAMES[other]}'s {lost:.2f})"

    def _after_trial_queue(self) -> list[Centre]:
        """What the first epoch shows once its trial has chosen: the kept plan's other centres; in
        the encoder's space with ``after_trial`` random, the session's random order instead, each
        image that no person has labelled with its nearest cluster (``in_plan``)."""
        if self.space != "contrastive" or not self.settings.random_after_trial():
            return [c for c in self.plan.centres if not c.trial]
        taken = self.taken_mask
        order = random_order(len(self.x), self.settings.seed)
        free = order[~taken[order]][:max(len(self.plan.centres), 2 * self.settings.per_epoch)]
        shown = [in_plan(self.plan, int(i), self.pool.images) for i in free]
        return [c for c in shown if c is not None]

    def _home_spread(self, item: int | None, label: int) -> list[tuple[str, int, float]]:
        """What a trial label given in the space not kept spreads to: the image's cluster in the
        kept plan, as a random image's label would (w_n = p_c exp(-a d_n), distances measured from
        the image), p_c the mean confidence the person gave the kept space's trial clusters; only
        to members that no label has reached in the kept space (a label given on a cluster of the
        kept space, whose members the person saw, is not overwritten)."""
        home = None if item is None else in_plan(self.plan, item, self.pool.images)
        if home is None:
            return []
        reached = {int(i) for d in self.decisions if d.label is not None and d.centre.space == self.space
                   for i in d.centre.members}
        purity = self.space_scores.get(self.space or "vae")
        return self._spread(home.members, home.distances, label, 1.0 if purity is None else purity, reached | {item})

    def _spread(self, members: np.ndarray, distances: np.ndarray, label: int, p_c: float,
                leave_out: Set[int | None]) -> list[tuple[str, int, float]]:
        """Equation 2: ``label`` for each of ``members`` but ``leave_out``, weighed w_n = p_c exp(-a d_n)."""
        weights = p_c * np.exp(-self.settings.a * distances)
        return [(str(self.pool.ids[i]), label, float(w)) for i, w in zip(members, weights) if int(i) not in leave_out]

    def _split(self, centre: Centre) -> list[Centre]:
        s = self.settings
        if len(centre.members) < max(s.min_split, s.split_k):
            return []
        plan = self.trial_plans.get(centre.space, self.plan)  # the trial's other space has its own
        km = kmeans(plan.latent[centre.members], s.split_k, seed=s.seed + len(self.decisions))
        kept = [c for c in range(len(km.centres)) if (km.assignment == c).any()]
        parts = make_centres(self.model, km.centres[kept], [centre.members[km.assignment == c] for c in kept],
                             [km.distances[km.assignment == c] / plan.scale for c in kept],
                             [f"{centre.path}.{c + 1}" for c in kept], centre.epoch, self.pool.image_shape,
                             self.pool.images if s.show == "medoid" else None, self.taken_mask,
                             decodable=plan.space == "vae")
        for part in parts:
            part.space = plan.space
        return parts

    def do_confidence(self, level: str) -> None:
        """Set the confidence of the next label: high, medium or low."""
        if level not in CONFIDENCE:
            self.message = f"confidence is one of {', '.join(CONFIDENCE)}"
            return
        self.confidence = level
        self.message = f"next label's confidence: {level} ({CONFIDENCE[level]:g})"

    def do_skip(self) -> None:
        """Leave this cluster unlabelled and show the next centre."""
        if self.current is None or self.updating:
            return
        skipped = self.queue.pop(0)
        self.decisions.append(Decision(skipped, None, 0.0, [], []))
        self.message = f"cluster {skipped.path} skipped"
        self._after_trial_step()

    def do_undo(self) -> None:
        """Take back the last decision (and everything it spread); show that centre again."""
        if self.updating:
            self.message = "training: undo when the epoch is done"
            return
        if not self.decisions:
            self.message = "nothing to undo"
            return
        d = self.decisions.pop()
        if d.checked is not None:
            self.checks[0] -= int(d.checked)
            self.checks[1] -= 1
        if d.model_right is not None:
            self.checks[2] -= int(d.model_right)
            self.checks[3] -= 1
        if d.events:
            self.store.retract(self.session_id, d.events)
            self.taken_mask = self.taken()
            self.spent_here -= 1
            if self.decided_this_epoch:
                self.decided_this_epoch -= 1
        for child in d.children:
            if child in self.queue:
                self.queue.remove(child)
        self.queue.insert(0, d.centre)
        self.message = f"undone: cluster {d.centre.path}"

    def do_train(self) -> None:
        """End this epoch's labelling now: train the next epoch."""
        self.train_now = True

    # -- the update cycle: an epoch ---------------------------------------------------------------

    def due_update(self) -> bool:
        if self.updating:
            return False
        if self.decided_this_epoch == 0 and self.current is None and not self.train_now:
            return False  # nothing decided and nothing left to show: no new labels to train on
        return self.train_now or self.current is None or self.decided_this_epoch >= self.settings.per_epoch

    def training_labels(self, taken: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per pool item: the current label (a person's on a pool item, else the propagated one)
        and its weight (1 for a person's, w_n for a propagated one); -1 where there is none.
        ``taken``: which items have a person's label, when just read from the store."""
        taken = self.taken() if taken is None else taken
        labels = np.full(len(self.pool), -1, np.int64)
        weights = np.zeros(len(self.pool), np.float32)
        current = self.store.current(("human", "propagated"))
        known = [(i, lab, w) for i, (lab, w) in current.items() if lab is not None]
        if known:
            idx = self.pool.indices_of([i for i, _, _ in known])
            labels[idx] = [lab for _, lab, _ in known]
            weights[idx] = [w for _, _, w in known]
            factor = self.spread_factor()
            cap = factor if self.settings.spread_share < 0 else self.settings.spread_share
            spread, people = label_masses(labels, weights, taken)
            weights[(labels >= 0) & ~taken] *= factor * share_scale(factor * spread, people, cap)
        return labels, weights

    def snapshot(self) -> EpochJob:
        self.choose_space()  # `t` before the trial's end: what it has seen decides
        self.taken_mask = self.taken()  # people's labels from other sessions too
        labels, weights = self.training_labels(self.taken_mask)
        self.updating = True
        people = labels[self.taken_mask & (labels >= 0)]
        return EpochJob(self.epoch, labels, weights, self.spent_here, self.elapsed, self.plan.k, self.taken_mask.copy(),
                        tuple(self.checks), self.spread_factor(),
                        np.bincount(people, minlength=self.pool.n_classes), self.augment_choice,
                        self.augment_checked, self.space or "vae", self._confidence_sums(), self.learner,
                        self.learner_checked)

    def taken(self) -> np.ndarray:
        """Per pool item: whether it has a person's label (from any mode)."""
        return people(self.workspace)[0]

    def train(self, job: EpochJob, progress: Progress = no_progress) -> EpochResult:
        """The heavy part (any thread): one epoch with the class term, evaluation, the next plan."""
        t0 = time.perf_counter()
        s = self.settings
        n_labelled = int((job.labels >= 0).sum())
        has = (job.labels >= 0) & (job.weights > 0)
        taken = job.taken if job.taken is not None else np.zeros(len(job.labels), bool)
        people = np.flatnonzero(taken & (job.labels >= 0))
        probing = s.probes() and self.encoded is not None and len(people) >= 2
        with_cnn = (s.classifier == "cnn" or (s.classifier == "auto" and job.learner == "cnn")) \
            and int(has.sum()) >= 2
        share = 0.3 if with_cnn else 0.9  # of the progress bar: the VAE epoch; the CNN takes most of the rest

        def vae_step(step: int, steps: int, losses: dict) -> None:
            if step % 25 == 0 or step == steps:
                progress(share * step / steps, f"epoch {job.epoch} with {n_labelled} labelled images: "
                         f"reconstruction {losses['reconstruction']:.1f}, class term {losses['classification']:.3f}")

        record = self.model.fit_epoch(self.x, job.labels, job.weights, samples=s.epoch_samples, progress=vae_step)
        seconds = time.perf_counter() - t0
        accuracy = reconstruction = clustering = None
        cnn: CNNClassifier | FeatureProbe | None = None
        seconds_cnn, pool_probs = 0.0, None
        augment, augment_checked, cv_images = job.augment, job.augment_checked, 0
        augment_scores: dict[str, float] = {}
        learner_scores: dict[str, float] = {}
        learner, learner_checked = ("features" if s.classifier == "features" else "cnn"), 0
        probe_rows, graph_pairs = 0, 0
        if probing and s.probe_graph and self.graph is None:
            assert self.encoder is not None and self.encoded is not None
            self.graph = FeatureProbe(self.encoder, pool=self.encoded).pool_graph(
                self.encoded, seed=s.seed, progress=lambda i, total: progress(
                    share, f"the pool's neighbour graph: {i:,}/{total:,} images"))
            graph_pairs = self.graph.pairs
        if with_cnn or (probing and s.classifier == "auto"):
            augment, augment_scores, augment_checked, cv_images = self._choose_augment(job, progress, share)
        if probing:
            learner, learner_scores, learner_checked, passes, rows = self._choose_learner(
                job, augment, augment_scores, progress, share)
            cv_images += passes
            probe_rows += rows
            with_cnn = learner == "cnn" and int(has.sum()) >= 2
        if learner == "features" and probing:
            assert self.encoder is not None and self.encoded is not None
            t1 = time.perf_counter()
            progress(share, f"epoch {job.epoch}: softmax regression on the encoder's features of {len(people)} labels")
            cnn = self._probe(s.seed + job.epoch).fit_items(self.encoded[people], people, job.labels[people],
                                                            self.pool.n_classes)
            probe_rows += cnn.trained_on
            if s.rank_by == "cnn" and self.scores_pool(job):
                pool_probs = cnn.proba_of_features(self.encoded)
            seconds_cnn = time.perf_counter() - t1
        elif with_cnn:
            t1 = time.perf_counter()
            net = CNNClassifier(arch="small", epochs=s.cnn_epochs, patience=0, augment=PRESETS[augment],
                                seed=s.seed + job.epoch, average_from=s.cnn_average)
            epochs = net.epochs = cnn_epochs(s, net.images_per_epoch(n_labelled), net.images_per_epoch(int(has.sum())))

            def cnn_step(epoch: int, loss: float) -> None:
                progress(share + (0.9 - share) * epoch / epochs,
                         f"CNN on the spread labels: epoch {epoch}/{epochs}, loss {loss:.3f}")

            trust = None
            if s.spread_loss == "corrected":
                trust = np.where(taken[has], 1.0, (1.0 + job.spread_factor) / 2).astype(np.float32)
            net.fit(self.x[has], job.labels[has], self.pool.n_classes, sample_weight=job.weights[has],
                    progress=cnn_step, weights_as="rate", trust=trust)
            if s.rank_by == "cnn" and self.scores_pool(job):
                progress(0.9, "the CNN scores the pool…")
                pool_probs = net.predict_proba(self.x)
            cnn = net
            seconds_cnn = time.perf_counter() - t1
        progress(0.93, "clustering the pool again…")
        picked_for = self.share_learner(learner if cnn is not None else "cnn", learner_checked)
        plan = make_plan(self.model, self.x, self.pool.image_shape, s, job.epoch + 1, ranked=True,
                         n_classes=self.pool.n_classes, pool_images=self.pool.images, taken=job.taken,
                         classifier=cnn, pool_probs=pool_probs, people_per_class=job.people_per_class,
                         share=earned_share(s, job.spread_factor, picked_for), features=self.features,
                         cover=self.covered(picked_for))
        vae_accuracy = None
        test = self.test_arrays()
        if test is not None:
            tx, ty = test
            z_test = self.model.encode(tx)
            vae_accuracy = float((self.model.proba_from_latent(z_test).argmax(1) == ty).mean())
            if self.encoder is not None and plan.space == "contrastive":
                z_test = self.encoder.encode(tx)  # the space the centres live in
            accuracy = cnn.score(tx, ty) if cnn is not None else vae_accuracy
            reconstruction = self.model.reconstruction(tx)
            zc = np.stack([c.z for c in plan.centres])
            nearest = np.linalg.norm(z_test[:, None] - zc[None], axis=2).argmin(1)
            clustering = clustering_report(ty, nearest)
        progress(1.0, f"epoch {job.epoch}: done")
        return EpochResult(record, accuracy, reconstruction, clustering, plan, seconds, vae_accuracy, cnn, seconds_cnn,
                           cnn_images=cnn.images_seen_ if isinstance(cnn, CNNClassifier) else 0,
                           tested=0 if test is None else len(test[1]), augment=augment,
                           augment_scores=augment_scores, augment_checked=augment_checked, cv_images=cv_images,
                           learner=learner if cnn is not None else "cnn", learner_scores=learner_scores,
                           learner_checked=learner_checked, probe_rows=probe_rows, graph_pairs=graph_pairs)

    def _probe(self, seed: int) -> FeatureProbe:
        """Softmax regression on the encoder's features, standardized by the pool's, trained on the
        neighbour graph's spread labels (``probe_graph``) once the graph is built."""
        assert self.encoder is not None and self.encoded is not None
        return FeatureProbe(self.encoder, seed=seed, pool=self.encoded,
                            graph=self.graph if self.settings.probe_graph else None)

    def scores_pool(self, job: EpochJob) -> bool:
        """Whether the epoch's CNN scores the pool to rank the next clusters (not for random images
        alone: pick=auto before it asks, pick=earned when the spread has earned nothing)."""
        return asks_classifier(self.settings, job.people_per_class) \
            and earned_share(self.settings, job.spread_factor) > 0

    def _choose_augment(self, job: EpochJob, progress: Progress, at: float) -> tuple[str, dict[str, float], int, int]:
        """``augment=auto``: ``choose_augment`` on a person's labels (not the spread ones), each fit
        ``cnn_epochs`` epochs. Returns the choice, the accuracies, the labels a class it was measured
        at and the fits' image passes."""
        s = self.settings
        if s.augment != "auto" or job.taken is None:
            return job.augment, {}, job.augment_checked, 0
        people = np.flatnonzero(job.taken & (job.labels >= 0))
        x, y = self.x[people], job.labels[people]
        passes = 0

        def fit_predict(kind: str, train: np.ndarray, held: np.ndarray) -> np.ndarray:
            nonlocal passes
            progress(at, f"epoch {job.epoch}: measuring {kind} augmentation on {len(y)} of your labels")
            model = CNNClassifier(arch="small", epochs=s.cnn_epochs, patience=0, augment=PRESETS[kind],
                                  seed=s.seed + job.epoch)
            model.fit(x[train], y[train], self.pool.n_classes)
            passes += model.images_seen_
            return model.predict(x[held])

        choice, scores, checked = choose_augment(y, self.pool.n_classes, job.augment, job.augment_checked,
                                                 fit_predict, s.seed + job.epoch, levels=AUGMENT_LEVELS,
                                                 per_class="mean")
        return choice, scores, checked, passes

    def _choose_learner(self, job: EpochJob, augment: str, augment_scores: dict[str, float], progress: Progress,
                        at: float) -> tuple[str, dict[str, float], int, int, int]:
        """``classifier=auto``: once a person's labels reach the levels augment=auto measures at
        (``AUGMENT_LEVELS``, labels a class over all classes), cross-validate softmax regression on
        the encoder's features against the CNN with the chosen augmentation (its score from that
        measurement when there was one, on the same folds) and keep the better; a tie keeps the CNN.
        Returns the choice, the accuracies, the level measured at, the CNN fits' image passes and the
        probe fits' rows."""
        s = self.settings
        if s.classifier != "auto" or job.taken is None or self.encoded is None:
            return ("features" if s.classifier == "features" else "cnn"), {}, job.learner_checked, 0, 0
        people = np.flatnonzero(job.taken & (job.labels >= 0))
        y = job.labels[people]
        reached = len(y) // max(self.pool.n_classes, 1)
        due = [n for n in AUGMENT_LEVELS if reached >= n > job.learner_checked]
        if not due:
            return job.learner, {}, job.learner_checked, 0, 0
        features, x = self.encoded[people], self.x[people]
        seed = s.seed + job.epoch  # the folds augment=auto measured on
        passes = rows = 0

        def probe(train: np.ndarray, held: np.ndarray) -> np.ndarray:
            nonlocal rows
            model = self._probe(seed).fit_items(features[train], people[train], y[train], self.pool.n_classes)
            rows += model.trained_on
            return model.proba_of_features(features[held]).argmax(1)

        def cnn(train: np.ndarray, held: np.ndarray) -> np.ndarray:
            nonlocal passes
            progress(at, f"epoch {job.epoch}: measuring the CNN against the encoder's features on {len(y)} labels")
            model = CNNClassifier(arch="small", epochs=s.cnn_epochs, patience=0, augment=PRESETS[augment], seed=seed)
            model.fit(x[train], y[train], self.pool.n_classes)
            passes += model.images_seen_
            return model.predict(x[held])

        scores = {"features": cross_validated(y, 3, probe, seed)}
        scores["cnn"] = augment_scores[augment] if augment in augment_scores else cross_validated(y, 3, cnn, seed)
        if scores["features"] is None or scores["cnn"] is None:
            return job.learner, {}, job.learner_checked, passes, rows
        measured = {k: float(v) for k, v in scores.items() if v is not None}
        return ("features" if measured["features"] > measured["cnn"] else "cnn"), measured, due[-1], passes, rows

    def compute_seconds(self, job: EpochJob, result: EpochResult) -> float:
        """The epoch on the reference CPU: VAE passes, clustering (twice where random images cover the
        clusters), the CNN's passes, the neighbour graph (once a session) and the probe's fits, evaluation."""
        n = len(self.pool)
        samples = max(self.settings.epoch_samples, n)
        scored = n if result.cnn is not None and self.settings.rank_by == "cnn" and self.scores_pool(job) else 0
        return (COSTS.vae_sample * samples + COSTS.cluster_item * (n + result.plan.covered)
                + COSTS.cnn_image_epoch * (result.cnn_images + result.cv_images)
                + COSTS.graph_pair * result.graph_pairs + COSTS.linear_image * result.probe_rows
                + COSTS.evaluation_item * (result.tested + scored))

    def persist(self, job: EpochJob, result: EpochResult) -> None:
        """The VAE, the CNN and the accuracy history, so that a reopened session goes on from here."""
        if not self.save_models:
            return
        self.model.save(self.workspace.model_path(VAE))
        if isinstance(result.cnn, CNNClassifier):
            result.cnn.save(self.workspace.model_path(CNN))
        elif result.cnn is not None:
            result.cnn.save(self.workspace.model_path(PROBE))
        history = [*self.history, (job.epoch, job.spent, result.accuracy)]
        point = {"labels": job.spent, "seconds": job.seconds, "accuracy": result.accuracy,
                 "extra": {"epoch": job.epoch}}
        self.save_state({"labelled_epochs": self.model.labelled_epochs_, "history": history,
                         "curve": [*self.curve_records(), point], "checks": job.checks,
                         "spread_factor": job.spread_factor, "augment": result.augment,
                         "augment_checked": result.augment_checked, "space": job.space,
                         "learner": result.learner, "learner_checked": result.learner_checked,
                         "confidence": list(job.confidence)})

    def apply(self, job: EpochJob, result: EpochResult) -> None:
        """Back on the session's thread: the next epoch's centres, the curve point."""
        self.updating = False
        self.plan = result.plan
        self.queue = list(result.plan.centres)
        self.decided_this_epoch = 0
        self.train_now = False
        self.epoch = job.epoch + 1
        self.known = job.labels
        self.accuracy = result.accuracy
        self.history.append((job.epoch, job.spent, result.accuracy))
        extra: dict[str, Any] = {
            "epoch": job.epoch, "k": job.k, "k_next": result.plan.k,
            "spread_to": int(((job.labels >= 0) & (job.weights > 0)).sum()),
            "seconds_train": round(result.seconds_train, 2),
            **{f"train_{k}": round(v, 4) for k, v in result.record.items() if k != "epoch"},
        }
        decided = [d for d in self.decisions if d.centre.epoch == job.epoch and d.events]  # not skips
        no_class = sum(d.label is None for d in decided)
        extra["no_class"] = no_class
        extra["spread_checked"], extra["spread_agreed"] = job.checks[1], job.checks[0]
        extra["model_agreed"], extra["model_checked"] = job.checks[2], job.checks[3]
        extra["spread_factor"] = round(job.spread_factor, 4)
        spread, people = label_masses(job.labels, job.weights,
                                      job.taken if job.taken is not None else np.zeros(len(job.labels), bool))
        extra["spread_draws"] = round(spread / (spread + people), 4) if spread + people > 0 else 0.0
        extra["vae_accuracy"] = result.vae_accuracy
        extra["seconds_cnn"] = round(result.seconds_cnn, 2)
        extra["cnn_images"] = result.cnn_images  # image passes of the CNN's training
        extra["cnn_average"] = self.settings.cnn_average
        extra["space"] = job.space
        if self.space_scores and job.epoch == 1:
            extra["space_trial"] = dict(self.space_scores)  # the mean confidence each space's clusters got
        if result.cnn is not None:
            extra["augment"] = result.augment
            self.augment_choice, self.augment_checked = result.augment, result.augment_checked
        if result.augment_scores:
            extra["augment_cv"] = result.augment_scores
            extra["cv_images"] = result.cv_images
        if result.reconstruction:
            extra["test_bce"] = round(result.reconstruction["bce"], 3)
            extra["test_pixel_accuracy"] = round(result.reconstruction["pixel_accuracy"], 4)
        if result.clustering:
            extra.update({f"test_{k}": round(v, 4) for k, v in result.clustering.items()})
        self.curve.append(CurvePoint(job.spent, job.seconds, result.accuracy, extra))
        if result.cnn is not None:
            self.cnn = result.cnn
            extra["classifier"] = result.learner
            self.learner = result.learner
            if result.learner == "features":
                extra["probe_rows"] = result.probe_rows  # a person's labels, or the graph's images
        if result.learner_scores:
            extra["classifier_cv"] = result.learner_scores
            self.learner_checked = result.learner_checked
        acc = "-" if result.accuracy is None else f"{result.accuracy:.1%}"
        if len(decided) >= NO_CLASS_WARN_AFTER and no_class >= NO_CLASS_WARN_SHARE * len(decided):
            self.message = (f"{no_class} of {len(decided)} centres showed no class: clusters mix your classes, "
                            f"try batch mode (epoch {job.epoch}, test {acc}; a on the start screen)")
        else:
            how = f"k={self.plan.k}" + (" (elbow)" if self.plan.inertias else "")
            trained = f"{int(extra['spread_to'])} images trained on"
            if result.learner == "features" and result.cnn is not None:
                trained = f"the features of your {int(job.taken.sum()) if job.taken is not None else 0} labels"
            self.message = (f"epoch {job.epoch}: test accuracy {acc} ({trained}); "
                            f"epoch {self.epoch}: {how}")  # one line at 80 columns

    # -- the view -------------------------------------------------------------------------------

    def view(self) -> ClustersView:
        centre = self.current
        members = [] if centre is None else [self.pool.images[i]
                                             for i in centre.shown_members(self.settings.members_shown)]
        counts = self.store.counts()
        return ClustersView(
            centre=centre, members=members, epoch=self.epoch, k=self.plan.k, position=self.decided_this_epoch,
            per_epoch=self.settings.per_epoch, queued=len(self.queue), spent=self.spent_here,
            confidence=self.confidence, training=self.updating, accuracy=self.accuracy,
            history=list(self.history),
            propagated=[counts.get(("propagated", c), 0) for c in range(self.pool.n_classes)],
            message=self.message, spread_weight=self.spread_factor(), checks=(self.checks[0], self.checks[1]),
        )


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


# -- `tuilabel train --model vae` and `tuilabel eval` ------------------------------------------------


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
    if settings.needs_encoder(workspace.pool.channels):
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
