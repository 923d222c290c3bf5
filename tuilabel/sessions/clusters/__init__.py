"""Clusters: label a handful of clusters per epoch and let the labels spread (seed 003).

A VAE with a softmax head on its latent code is first trained without labels. After each epoch the
pool is clustered with k-means, in the VAE's latent means or in the features of a contrastive
encoder (``space``; on grey images the first epoch's `trial` measures which). Each cluster is shown
by a real image, its member nearest the centre (or the decoded centre, ``show=centre``), with the
next nearest members under it. A person gives the image a class and a confidence (how far the
members share it), or says the cluster shows no class: then it is split and the parts come next.
The label `spread`s to the cluster's members with weight ``w_n = p_c exp(-a d_n)`` (seed 003's
equation 2), times what the spread has proved worth on the person's later labels. When the epoch's
clusters are decided, the next `epoch` trains with the weighted class term (equation 3), fits what
answers for the pool, and `plan`s the next clusters. docs/modes/clusters.md explains it for a
person; docs/decisions/clusters.md has the measurements behind each default.

The parts: `settings` (what a person and a benchmark choose), `plan` (the clustering and the
centres it shows), `trial` (which space), `spread` (the spread's evidence and weights), `epoch`
(the training, any thread), `session` (actions, the update cycle, the view), `models` (the files
on disk, `tuilabel train --model vae`, `tuilabel eval`).
"""

from .epoch import EpochJob, EpochResult, cnn_epochs
from .models import CNN, PROBE, SPACE, VAE, evaluate, load_or_train_encoder, pretrain, train_vae
from .plan import Centre, Plan, covering_order, decode_image, in_plan, interleave, make_plan, random_order
from .session import ClustersSession, ClustersView, Decision
from .settings import CONFIDENCE, NAMES, ClustersSettings
from .spread import Checks, earned_share, label_masses, share_scale, spread_weight
from .trial import trial_pairs, trial_queue

__all__ = [
    "CNN", "CONFIDENCE", "NAMES", "PROBE", "SPACE", "VAE", "Centre", "Checks", "ClustersSession", "ClustersSettings",
    "ClustersView", "Decision", "EpochJob", "EpochResult", "Plan", "cnn_epochs", "covering_order", "decode_image",
    "earned_share", "evaluate", "in_plan", "interleave", "label_masses", "load_or_train_encoder", "make_plan",
    "pretrain", "random_order", "share_scale", "spread_weight", "train_vae", "trial_pairs", "trial_queue",
]
