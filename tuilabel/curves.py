"""Learning curves: when to stop labelling.

Numpy only: every screen asks after each model update, and `tuilabel report` prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StoppingSignal:
    accuracy: float  # the latest estimate
    labels: int  # at that many labels
    per_point: int | None  # more labels the curve says one more point of accuracy takes (None: cannot say)
    points: int  # curve points the fit used
    estimate: str = "test"  # test: on the test set; cv: cross-validated on the labels (no test set)

    def text(self) -> str:
        """Compact, for a screen's header: ``acc 94.1% · +1 pt ≈ 230 labels`` (``cv acc`` without a
        test set)."""
        out = f"{'cv ' if self.estimate == 'cv' else ''}acc {self.accuracy:.1%}"
        if self.per_point is None:
            return out + (" · +1 pt: more rounds" if self.points < 3 else " · +1 pt: flat curve")
        return out + f" · +1 pt ≈ {self.per_point:,} labels"


def stopping_signal(points: Sequence[tuple[int, float | None]], ceiling: float = 1.0,
                    estimate: str = "test") -> StoppingSignal | None:
    """From (labels, accuracy) points: the latest accuracy and the labels one more point would take.

    The error falls as a power of the labels on learning curves like these (Hestness et al. 2017):
    fit the slope ``b`` of ``log(error)`` against ``log(labels)`` over the latest points (at most 5,
    at least 3) and, from the latest point along that slope, solve for one point less error. A
    rising or flat fit (b >= 0) says nothing.
    """
    known = [(int(n), float(a)) for n, a in points if a is not None]
    if not known:
        return None
    last_n, last_acc = known[-1]
    recent = [p for p in known if p[0] > 0][-5:]  # a log-log fit needs labels
    if last_n <= 0 or len(recent) < 3 or len({n for n, _ in recent}) < 3:
        return StoppingSignal(last_acc, last_n, None, len(recent), estimate)
    n = np.log([p[0] for p in recent])
    err = np.log(np.clip([ceiling - p[1] for p in recent], 1e-4, None))
    b = float(np.polyfit(n, err, 1)[0])
    target = ceiling - last_acc - 0.01
    if b >= -1e-3 or target <= 0:
        return StoppingSignal(last_acc, last_n, None, len(recent), estimate)
    # keep the fit's slope, anchored at the latest point: labels where the error is one point lower
    needed = last_n * float(np.exp((np.log(target) - np.log(ceiling - last_acc)) / b))
    more = int(np.ceil(needed - last_n))
    return StoppingSignal(last_acc, last_n, more if more < 10_000_000 else None, len(recent), estimate)
