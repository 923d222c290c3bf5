"""Agreement between annotators: who gave which label to which item, and Cohen's kappa per pair.

Numpy only (``tuilabel status`` prints it without loading torch).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from .store import LabelEvent


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa of two annotators over the items both labelled (None when undefined)."""
    return kappa_from_counts(Counter(zip(a.tolist(), b.tolist())))


def annotator_labels(events: Iterable[LabelEvent]) -> dict[str, dict[str, int | None]]:
    """Item id to {annotator: their newest live human label}, from live human events oldest first
    (review sessions left out)."""
    out: dict[str, dict[str, int | None]] = {}
    for ev in events:
        # a reviewer saw the stored label: a review's answer is a decision, not an independent opinion
        if ev.item_id is not None and ev.source == "human" and ev.mode != "review":
            out.setdefault(ev.item_id, {})[ev.annotator] = ev.label
    return out


def agreement(events: Iterable[LabelEvent]) -> list[tuple[str, str, int, float | None]]:
    """(annotator, annotator, items both gave a class, Cohen's kappa) for each pair."""
    by_item = annotator_labels(events)
    names = sorted({a for labels in by_item.values() for a in labels})
    rows = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            pairs = [(v[first], v[second]) for v in by_item.values()
                     if v.get(first) is not None and v.get(second) is not None]
            a = np.array([p[0] for p in pairs], np.int64)
            b = np.array([p[1] for p in pairs], np.int64)
            if len(pairs):
                rows.append((first, second, len(pairs), cohen_kappa(a, b)))
    return rows


def kappa_from_counts(counts: Mapping[tuple[int, int], int]) -> float | None:
    """Cohen's kappa from a confusion table {(first's class, second's class): items}."""
    n = sum(counts.values())
    if n == 0:
        return None
    observed = sum(v for (a, b), v in counts.items() if a == b) / n
    classes = {a for a, _ in counts} | {b for _, b in counts}
    expected = sum(sum(v for (a, _), v in counts.items() if a == k) / n
                   * sum(v for (_, b), v in counts.items() if b == k) / n for k in classes)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else None
    return (observed - expected) / (1.0 - expected)


def store_agreement(pair_counts: dict[tuple[str, str], dict[tuple[int, int], int]]
                    ) -> list[tuple[str, str, int, float | None]]:
    """(annotator, annotator, items both gave a class, Cohen's kappa) for each pair, from the label
    store's pair tables (`LabelStore.pair_counts`): the same figures as `agreement`, without the log."""
    return [(one, other, sum(counts.values()), kappa_from_counts(counts))
            for (one, other), counts in sorted(pair_counts.items()) if sum(counts.values())]


def reliability(pairs: list[tuple[str, str, int, float | None]]) -> dict[str, float]:
    """Each annotator's kappa with the others, averaged over their pairs weighted by shared items:
    how far their labels can be trusted where they are disputed."""
    total: dict[str, float] = {}
    weight: dict[str, int] = {}
    for one, other, n, kappa in pairs:
        if kappa is None:
            continue
        for who in (one, other):
            total[who] = total.get(who, 0.0) + kappa * n
            weight[who] = weight.get(who, 0) + n
    return {who: total[who] / weight[who] for who in total if weight[who]}
