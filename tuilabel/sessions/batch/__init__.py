"""Batch: a CNN ranks the unlabelled pool and pages through the images it is most confused by
(seeds 001, 002, 004).

Each key labels one image and is committed at once. When the labels reach the schedule's next
target (exponential: as many as are already labelled), a round starts: the CNN is retrained on
every human label and the pool is re-scored under augmentation; a second CNN then trains on the
labels and the unlabelled images the first is sure of under most views (semi-supervised). A round
runs beside the labeling: the user keeps paging through the previous ranking, and the new one
replaces it when it is ready.
"""

from .rounds import RoundJob, RoundResult
from .session import BatchSession, BatchView, PageItem, evaluate, train_cnn
from .settings import MODEL, PATIENCE, BatchSettings, score_subset

__all__ = ["MODEL", "PATIENCE", "BatchSession", "BatchSettings", "BatchView", "PageItem", "RoundJob", "RoundResult",
           "evaluate", "score_subset", "train_cnn"]
