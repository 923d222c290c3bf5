"""An epoch's plan: the pool clustered, and the clusters to show, each as a `Centre`.

Any thread: no store, no UI. The first epoch shows the biggest clusters by their medoids (the
member nearest the centre that no person has labelled). A later epoch clusters more finely
(``fine_k``) and interleaves the medoids of the clusters the classifier is least sure of (for the
share of the epoch the spread has earned, ``spread.earned_share``) with random pool images in the
session's random order, each shown with its nearest cluster. Where there is a contrastive encoder
and the CNN answers, the random images cover its clusters (``covering_order``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ... import strategies
from ...cluster import choose_k, kmeans, nearest_centre
from ...data import to_model_input
from ...models.cnn import CNNClassifier
from ...models.probe import FeatureProbe
from ...models.vae import VAEClassifier
from ...workspace import Workspace
from .settings import K_MAX, K_MIN, ClustersSettings

COVER_FIT = 20_000  # pool images k-means fits on to cover a larger pool; the rest go to the nearest centre


@dataclass(eq=False)  # compared by identity: two centres may share a path and hold arrays
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
    guess: int | None = None  # the classifier's class for the image shown
    guess_confidence: float | None = None
    uncertainty: float | None = None  # mean entropy of the classifier over the members
    space: str = ""  # the space it was clustered in, "vae", "contrastive" or "backbone" ("": the plan's)
    trial: bool = False  # shown by the first epoch's trial of the two spaces (space_trial)
    random: bool = False  # a random image of the session's order (no model chose it)

    @property
    def depth(self) -> int:
        return self.path.count(".")

    def nearest(self, n: int) -> np.ndarray:
        return self.members[np.argsort(self.distances, kind="stable")[:n]]

    def shown_members(self, n: int) -> np.ndarray:
        """The ``n`` nearest members other than the one shown large."""
        near = self.nearest(n + (self.medoid is not None))
        return near[near != self.medoid][:n]


@dataclass
class Plan:
    """An epoch's clustering: the centres to show, most worth a look first."""

    epoch: int
    k: int
    centres: list[Centre]
    scale: float
    latent: np.ndarray  # the pool in the space the clustering ran on (splits reuse it)
    inertias: dict[int, float] = field(default_factory=dict)  # when k came from the elbow
    seconds: float = 0.0
    ranked: bool = False  # a later epoch's plan
    share: float = 1.0  # the share of medoids among the centres, the rest random images
    space: str = "vae"  # what ``latent`` is: the VAE's latent means, or the contrastive encoder's features
    covered: int = 0  # the pool images covering_order's k-means fitted on (0: the plain random order)


def pick_medoid(members: np.ndarray, distances: np.ndarray, taken: np.ndarray | None) -> int | None:
    """The member nearest the centre that has no person's label yet (``taken``), if any."""
    free = np.ones(len(members), bool) if taken is None else ~taken[members]
    return int(members[free][np.argmin(distances[free])]) if free.any() else None


def decode_image(model: VAEClassifier, z: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Latent codes to uint8 images of the pool's layout (channels last for colour)."""
    x = model.decode(np.atleast_2d(z))  # (n, C, H, W) in [0, 1]
    x = x[:, 0] if len(image_shape) == 2 else np.moveaxis(x, 1, -1)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def make_centres(
    model: VAEClassifier, z: np.ndarray, members: list[np.ndarray], distances: list[np.ndarray], paths: list[str],
    epoch: int, image_shape: tuple[int, ...], pool_images: np.ndarray | None, taken: np.ndarray | None = None,
    decodable: bool = True,
) -> list[Centre]:
    """Centres for clusters with centres ``z``: the decoded centre, or (``pool_images`` given) the
    member nearest the centre that no person has labelled (``taken``) as the image to show; the
    decoded centre where every member has a person's label. Centres in a space the VAE cannot
    decode (not ``decodable``: the contrastive encoder's) leave out such clusters."""
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


def image_centre(i: int, z: np.ndarray, centres: np.ndarray, assignment: np.ndarray,
                 members_of: dict[int, np.ndarray], scale: float, epoch: int, pool_images: np.ndarray) -> Centre:
    """Pool image ``i`` shown large with its nearest cluster, the members measured from the image."""
    c = int(assignment[i])
    members = members_of[c]
    distances = np.linalg.norm(z[members] - z[i], axis=1) / scale
    return Centre(str(c + 1), members, distances, centres[c], np.asarray(pool_images[i]), epoch, i)


def random_order(n: int, seed: int) -> np.ndarray:
    """The session's random order of the pool: the random images come from it, the first ones no
    person has labelled (benchmarks/bench_clusters.py's random baseline takes its first n)."""
    return np.random.default_rng([seed, 1000]).permutation(n)


def random_centres(z: np.ndarray, centres: np.ndarray, assignment: np.ndarray, members_of: dict[int, np.ndarray],
                   scale: float, epoch: int, pool_images: np.ndarray, taken: np.ndarray | None, order: np.ndarray,
                   n: int) -> list[Centre]:
    """The first ``n`` images of ``order`` that no person has labelled, each shown with its nearest
    cluster (``members_of``), whose members are measured from the image."""
    free = order if taken is None else order[~taken[order]]
    shown = [image_centre(int(i), z, centres, assignment, members_of, scale, epoch, pool_images) for i in free[:n]]
    for centre in shown:
        centre.random = True
    return shown


def covering_order(features: np.ndarray, taken: np.ndarray | None, order: np.ndarray, per_epoch: int,
                   seed: int) -> np.ndarray:
    """Random images that cover the pool: the pool (``features``) in ``labelled + per_epoch`` clusters
    (TypiClust's |L| + B), then ``order``'s images that no person has labelled, each next one from a
    cluster that holds no labelled image and none taken before it; the rest of ``order`` after them
    (docs/decisions/clusters.md: covering)."""
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


def first_k(settings: ClustersSettings, z: np.ndarray, n_classes: int, epoch: int) -> tuple[int, dict[int, float]]:
    """The first epoch's k: the setting, else the elbow of k-means inertia over `K_MIN` to `K_MAX`,
    never fewer than twice the classes (so that no cluster has to hold two)."""
    if settings.k > 0:
        return settings.k, {}
    low = min(max(K_MIN, 2 * n_classes), len(z) - 1)
    high = min(max(K_MAX, 2 * n_classes), len(z) - 1)
    if low >= high:
        return low, {}
    return choose_k(z, low, high, seed=settings.seed + epoch)


def make_plan(
    model: VAEClassifier, x: np.ndarray, image_shape: tuple[int, ...], settings: ClustersSettings, epoch: int,
    ranked: bool, n_classes: int = 0, pool_images: np.ndarray | None = None, taken: np.ndarray | None = None,
    classifier: CNNClassifier | FeatureProbe | None = None, pool_probs: np.ndarray | None = None,
    share: float = 1.0, features: np.ndarray | None = None, cover: np.ndarray | None = None,
    space: str = "contrastive",
) -> Plan:
    """Cluster the pool and pick each cluster's image. ``features``: the pool in the space to
    cluster (``space``: the contrastive encoder's or the backbone's), else the VAE's latent means.
    A first epoch's plan shows the biggest clusters first. A ranked (later) plan orders the
    clusters by the mean entropy of ``pool_probs`` over their members (the VAE head's when not
    given), has ``classifier`` guess the images shown (from ``pool_probs`` where given; else the
    VAE), and shows medoids for ``share`` of the queue and the session's random order for the rest
    (``interleave``), covering ``cover`` (``covering_order``) when given."""
    t0 = time.perf_counter()
    z = model.encode(x) if features is None else features
    inertias: dict[int, float] = {}
    if ranked:
        k = settings.fine_k or settings.k or K_MAX
    else:
        k, inertias = first_k(settings, z, n_classes, epoch)
    k = max(1, min(k, len(z)))
    km = kmeans(z, k, seed=settings.seed + epoch)
    scale = float(np.median(km.distances)) or 1.0
    kept = [c for c in range(k) if (km.assignment == c).any()]
    members = [np.flatnonzero(km.assignment == c) for c in kept]
    medoids = pool_images if settings.show == "medoid" else None
    centres = make_centres(model, km.centres[kept], members, [km.distances[m] / scale for m in members],
                           [str(c + 1) for c in kept], epoch, image_shape, medoids, taken, decodable=features is None)
    share = float(np.clip(share, 0.0, 1.0)) if ranked and medoids is not None else 1.0
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
        probs = None if not centres else pool_probs if pool_probs is not None else \
            model.proba_from_latent(z) if features is None else model.predict_proba(x)
        items = [c.medoid for c in shown]
        if classifier is not None and pool_probs is not None and all(i is not None for i in items):
            guesses = pool_probs[np.array(items)]  # the learner's own scores of those pool images
        else:
            guesser = model if classifier is None else classifier
            guesses = guesser.predict_proba(to_model_input(np.stack([c.image for c in shown])))
        for i, (centre, guess) in enumerate(zip(shown, guesses)):
            if probs is not None and i < len(centres):  # what orders them
                centre.uncertainty = float(strategies.entropy(probs[centre.members]).mean())
            centre.guess, centre.guess_confidence = int(guess.argmax()), float(guess.max())
        centres.sort(key=lambda ce: -(ce.uncertainty or 0.0))
        if randoms:
            centres = interleave(centres, randoms, share)
    elif not ranked:
        centres.sort(key=lambda ce: -len(ce.members))  # the biggest clusters first
    space = "vae" if features is None else space
    for centre in centres:
        centre.space = space
    return Plan(epoch, k, centres, scale, z, inertias, time.perf_counter() - t0, ranked,
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
