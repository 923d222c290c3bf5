"""The space trial: on grey images (``space=auto``) the first epoch measures which space to cluster in.

The session's random order's first images are shown in turn with their cluster in the VAE's space
and in the encoder's, each with the members nearest that cluster's centre, as a medoid is shown
(``space_trial`` of each). The person's confidence (h, m, l; "no class" 0) then says how far a
random member shares its cluster's class, and the space whose clusters got the higher mean is kept;
a tie adds the order's next two images, up to twice as many, then keeps the VAE's. The labels given
in the space not kept stay the person's; what they spread is taken back and spread again from each
image to its cluster in the kept space. docs/decisions/clusters.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Set
from typing import TYPE_CHECKING

import numpy as np

from .plan import Centre, Plan, in_plan, random_order
from .settings import NAMES
from .spread import spread_rows

if TYPE_CHECKING:
    from .session import ClustersSession


def trial_pairs(first: Plan, second: Plan, n: int, order: np.ndarray, pool_images: np.ndarray,
                skip: Set[int] = frozenset()) -> list[Centre]:
    """``n`` pairs of the trial's images: ``order``'s next images not in ``skip``, in turn the one
    with its cluster in ``first``, the next with its cluster in ``second``, shown as its medoid is
    (``in_plan``), each marked as the trial's."""
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


def trial_queue(first: Plan, second: Plan, n: int, order: np.ndarray, pool_images: np.ndarray) -> list[Centre]:
    """The first epoch's queue while the trial runs: ``n`` pairs (``first``'s leads), then the rest
    of ``first``'s centres until the trial decides."""
    return trial_pairs(first, second, n, order, pool_images) + first.centres


def step(s: ClustersSession) -> None:
    """After each decision while the trial runs: the next centres show images nobody has labelled
    (the two spaces can share an image), and once the trial's are all decided, the choice."""
    if s.space is not None:
        return
    s.repick(s.queue)
    if any(c.trial for c in s.queue):
        return
    scores = scores_of(s)
    vae, enc = scores["vae"], scores["contrastive"]
    if vae is not None and enc is not None and abs(vae - enc) < 1e-9 and s.tried < 2 * s.settings.space_trial \
            and extend(s):
        s.message = "both clusterings rated alike so far: one more cluster of each"
        return
    choose_space(s)


def extend(s: ClustersSession) -> bool:
    """A tie: the clusters of the random order's next two images nobody has labelled join the
    trial, at the front of the queue."""
    used = {int(c.medoid) for c in s.queue if c.trial and c.medoid is not None}
    used |= {int(i) for i in np.flatnonzero(s.taken_mask)}
    pair = trial_pairs(s.trial_plans["vae"], s.trial_plans["contrastive"], 1, random_order(len(s.x), s.settings.seed),
                       s.pool.images, used)
    if len(pair) < 2:
        return False
    s.queue = pair + [c for c in s.queue if all(c is not p for p in pair)]
    s.tried += 1
    return True


def scores_of(s: ClustersSession) -> dict[str, float | None]:
    """Per space, the mean confidence of the person's decisions on its trial clusters (no class
    counts 0; skips not at all); None where there are none."""
    scores: dict[str, float | None] = {}
    for name in ("vae", "contrastive"):
        given = [d.confidence if d.label is not None else 0.0 for d in s.decisions
                 if d.centre.trial and d.centre.space == name and d.events]
        scores[name] = float(np.mean(given)) if given else None
    return scores


def choose_space(s: ClustersSession) -> None:
    """End the trial: keep the space whose clusters the person called purer (the VAE's on a tie or
    with nothing to compare); take back what the other's labels spread and spread them again from
    their images in the kept space (``home_spread``); go on with the kept space's clusters."""
    if s.space is not None:
        return
    scores = scores_of(s)
    vae, enc = scores["vae"], scores["contrastive"]
    s.space = "contrastive" if vae is not None and enc is not None and enc > vae + 1e-9 else "vae"
    s.space_scores = scores
    s.plan = s.trial_plans[s.space]
    dropped = [d for d in s.decisions if d.centre.space and d.centre.space != s.space and d.events]
    if any(len(d.events) > 1 for d in dropped):
        s.store.retract(s.session_id, [e for d in dropped for e in d.events[1:]])
    for d in dropped:  # each label spreads again, from its image, in the kept space
        rows = [] if d.label is None else home_spread(s, d.centre.medoid, d.label)
        d.events = d.events[:1] + (s.store.add_many(s.session_id, rows, source="propagated") if rows else [])
    planned = {id(c) for c in s.plan.centres}
    pending = [c for c in s.queue if c.space == s.space and id(c) not in planned]  # split parts
    s.queue = pending + after_trial_queue(s)
    s.repick(s.queue)
    other = "vae" if s.space == "contrastive" else "contrastive"
    kept, lost = scores[s.space], scores[other]
    s.message = f"kept the {NAMES[s.space]}'s clusters"  # one line at 80 columns
    if kept is not None and lost is not None:
        s.message += f" (you rated them {kept:.2f}, the {NAMES[other]}'s {lost:.2f})"


def after_trial_queue(s: ClustersSession) -> list[Centre]:
    """What the first epoch shows once its trial has chosen: the kept plan's other centres; in the
    encoder's space, where the features' probe may answer (``classifier`` auto or features), the
    session's random order instead, each image nobody has labelled with its nearest cluster."""
    if s.space != "contrastive" or not s.settings.probes():
        return [c for c in s.plan.centres if not c.trial]
    order = random_order(len(s.x), s.settings.seed)
    free = order[~s.taken_mask[order]][:max(len(s.plan.centres), 2 * s.settings.per_epoch)]
    shown = [in_plan(s.plan, int(i), s.pool.images) for i in free]
    return [c for c in shown if c is not None]


def home_spread(s: ClustersSession, item: int | None, label: int) -> list[tuple[str, int, float]]:
    """What a trial label given in the space not kept spreads to: the image's cluster in the kept
    plan, measured from the image, p_c the mean confidence the person gave the kept space's trial
    clusters; only to members that no label has reached in the kept space (a label given on a
    cluster of the kept space, whose members the person saw, is not overwritten)."""
    home = None if item is None else in_plan(s.plan, item, s.pool.images)
    if home is None:
        return []
    reached = {int(i) for d in s.decisions if d.label is not None and d.centre.space == s.space
               for i in d.centre.members}
    purity = s.space_scores.get(s.space or "vae")
    return spread_rows(s.pool.ids, home.members, home.distances, label, 1.0 if purity is None else purity,
                       s.settings.a, reached | {item})
