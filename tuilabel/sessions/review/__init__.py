"""Review: labels the model disagrees with come back for a second look (seed 004).

Every current label of a pool item (human, propagated, pseudo) is judged by a model that never saw
it: the labelled items are split into K folds, a CNN is trained on K-1 of them and gives the held-out
fold its class probabilities (cross-fitting). Items are ranked by how strongly those out-of-sample
probabilities disagree with the stored label (confident learning's per-class thresholds flag the
likely errors; self-confidence orders them), and items on which annotators disagree come first.

The reviewer sees the doubtful items page by page, grouped by their stored class: Enter keeps the
label, a number key corrects it, ``x`` marks the item unusable. Each answer is a new human label
event in a "review" session (the old one stays in the log), so exports and every model use it. As
corrections arrive the folds are retrained in the background and the queue re-ranked.

With ``stage=second`` the session asks for a blind second opinion instead: the doubtful items are
shown without their stored label or the model's guess, and the answer is this annotator's own label,
so that review can rank disagreement between annotators (Cohen's kappa in `tuilabel status`).
"""

from .judging import ReviewJob, ReviewResult, confident_errors, doubt_scores
from .session import SECOND, ReviewSession, ReviewSettings, ReviewView

__all__ = ["SECOND", "ReviewJob", "ReviewResult", "ReviewSession", "ReviewSettings", "ReviewView", "confident_errors",
           "doubt_scores"]
