"""The batch mode's settings, its constants and what a round scores on this machine."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ... import strategies
from ...models.augment import PRESETS
from ...models.cnn import ARCHITECTURES
from ..settings import MODEL_GROUP, TeamSettings, setting

MODEL = "cnn"  # the model file this mode keeps (see Workspace.model_path)


def on_gpu() -> bool:
    return torch.cuda.is_available()


SCORE_CAP_CPU = 20_000  # unlabelled images a round scores at most, by default (a large pool: a random subset)
SCORE_CAP_GPU = 200_000
VIEW_BUDGET_CPU = 40_000  # augmented views a round scores at most on a CPU: fewer views of a large subset
TRAIN_PASSES = 60_000  # image passes a round's training aims at once the sure guesses swell the training set
DIVERSE_POOL = 10  # uncertainty with diversity: clusters among this many times a round's worth of the most uncertain
ASK_AFTER = 16  # strategy auto: random order until every class has this many labels (a weak model's doubts mislead)
PATIENCE = 15  # early stopping's patience, on a split of the human labels once there are 1,000
SEMI_CONFIDENCE = 0.5  # a sure guess: mean probability over the views at least this ...
SEMI_AGREE = 0.7  # ... and this share of the views giving its class
SEMI_STEPS = 2  # semi-supervised fits a round once every class has ASK_AFTER labels (one before)
MIN_SEMI_EPOCHS = 10  # a semi-supervised fit trains at least this many epochs (within the `epochs` setting)
STREAM_WEIGHT = 0.5  # weight of a stream frame in training (stream_frames)


@dataclass
class BatchSettings(TeamSettings):
    mode = "batch"
    strategy: str = setting("auto", "how the unlabelled pool is ranked once there is a model; auto: random order "
                                    "until every class has 16 labels, then the most uncertain (entropy) spread "
                                    "over k-means clusters of the CNN's representation",
                            choices=strategies.STRATEGIES)
    schedule: str = setting("exponential", "rounds when the labels double, or every batch_size labels",
                            choices=("exponential", "fixed"))
    batch_size: int = setting(50, "labels per round with the fixed schedule", min=1)
    start: int = setting(20, "random pool images labelled before the first model", min=2)
    augment: str = setting("auto", "augmentation in training and scoring: geometric (seed 001's: rotation, "
                                   "shear, elastic; for strokes such as digits), shift (small moves and scaling; "
                                   "for objects and photographs), none; auto: shift until a round has 4 labels "
                                   "a class, then whichever of the two cross-validates better on the labels",
                           choices=("auto", *PRESETS))
    semi: bool = setting(True, "semi-supervised: after scoring, a second CNN trains on the labels and the pool "
                               "images the first gives one class under most views (semi_agree); it gives the "
                               "guesses and the accuracy")
    predictions: bool = setting(False, "start from a model's predictions (`tuilabel import WS FILE --as "
                                       "predictions`): until the first round, the pages are its most uncertain "
                                       "images (the strategy's score on its probabilities) with its guesses")
    stream_frames: bool = setting(False, "also train on every labelled stream frame (at half a label's weight)")
    cv_folds: int = setting(3, "no test set: the accuracy shown is cross-validated on the human labels "
                                   "over this many folds (more CNN training a round); 0 = none", min=0, max=10)
    seed: int = setting(0, "random order before the first model, training and augmentation", min=0)
    arch: str = setting("", "the CNN; empty: seed 001's network on a GPU, the small one on a CPU",
                        choices=("", *ARCHITECTURES), group=MODEL_GROUP)
    epochs: int = setting(40, "training epochs per round", min=1, group=MODEL_GROUP)
    augmentations: int = setting(10, "views per image when scoring (seed 001's k); a large pool on a CPU gets "
                                      "fewer, to 40,000 views a round", min=1, max=100, group=MODEL_GROUP)

    def resolved(self, channels: int) -> BatchSettings:
        """The settings with the architecture decided for this machine: seed 001's network on a GPU."""
        return self.replace(arch=self.arch or (("seed-mnist" if channels == 1 else "seed-cifar") if on_gpu()
                                               else "small"))


def score_subset(arch: str, pool_size: int) -> int:
    """Unlabelled images a round scores (0: all of them), so that a round's ranking keeps pace with
    the labeler: a random 20,000 of a larger pool on a CPU (200,000 on a GPU), 2,000 with seed
    001's networks on a CPU (about 9x slower)."""
    gpu = on_gpu()
    if not gpu and arch.startswith("seed"):
        return 2000
    cap = SCORE_CAP_GPU if gpu else SCORE_CAP_CPU
    return cap if pool_size > cap else 0
