"""Batch's look-alike page (``s``, with a backbone): the focused image's nearest open images by
cosine in the backbone's space, as many as the screen shows, all selected; a number key labels
every selected one in one transaction (one undo takes them back), Esc goes back to the ranked page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...data import shown_id

if TYPE_CHECKING:
    from .session import BatchSession

ALIKE_POOL = 4  # the nearest this many times a page are offered to the leases, in order


def open_page(s: BatchSession) -> None:
    if s.features is None:
        s.message = "look-alikes need a backbone: tuilabel embed WS (or init --backbone)"
        return
    if s.alike is not None or not s.page:
        return
    source = s.page[s.focus]
    f = s.features
    if s._norms is None:
        s._norms = np.linalg.norm(f, axis=1) + 1e-6
    sims = (f @ f[source.index]) / s._norms  # cosine, up to the source's own norm
    sims[np.fromiter(s.labelled, np.int64, len(s.labelled))] = -np.inf
    sims[source.index] = -np.inf
    on_page = {it.index for it in s.page}
    want = max(0, s.page_size - (0 if source.answered else 1))
    top = np.argpartition(-sims, min(len(sims) - 1, ALIKE_POOL * s.page_size))[: ALIKE_POOL * s.page_size]
    top = top[np.argsort(-sims[top], kind="stable")]
    top = top[np.isfinite(sims[top])]
    held = [i for i in top if i in on_page]  # leased to this session already
    fresh = s.claim((i for i in top if i not in on_page), want)
    chosen = sorted([*held, *fresh], key=lambda i: -sims[i])[:want]
    items = [] if source.answered else [source]
    items += [s._item(int(i)) for i in chosen]
    for item in items:
        item.selected = True
    s._alike_return = (s.page, s.focus)
    s.alike, s.page, s.focus = source, items, 0
    s.message = f"{len(items)} look-alikes of {shown_id(source.item_id)}"


def label(s: BatchSession, label: int) -> None:
    chosen = [it for it in s.page if it.selected and not it.answered]
    if not chosen:
        s.message = "nothing selected: space selects the focused image"
        return
    s.store.add_many(s.session_id, [(it.item_id, label, 1.0) for it in chosen])
    for it in chosen:
        it.label, it.answered = label, True
        s.labelled.add(it.index)
    s._undo.append((s.page_number, tuple(it.index for it in chosen)))
    close(s, {it.index for it in chosen}, label)
    s.message = f"{len(chosen)} look-alikes -> {s.pool.class_names[label]}"


def close(s: BatchSession, labelled: set[int], label: int | None = None) -> None:
    """Back to the page it was opened from: the look-alikes not labelled (and not on it) given back."""
    page, focus = s._alike_return
    on_page = {it.index for it in page}
    s.release(it.index for it in s.page if it.index not in on_page and it.index not in labelled)
    for it in page:
        if it.index in labelled:
            it.label, it.answered = label, True
    s.alike, s.page, s.focus = None, page, focus
    s._alike_return = ([], 0)
    if all(it.answered for it in s.page):
        s.new_page()
    elif s.page[s.focus].answered:
        s._move_on()


def resize(s: BatchSession, size: int) -> None:
    """What still fits stays (nothing unseen is labelled); the rest is given back."""
    s.page_size = max(1, size)
    gone = s.page[s.page_size:]
    on_return = {it.index for it in s._alike_return[0]}
    s.release(it.index for it in gone if it.index not in on_return)
    s.page = s.page[: s.page_size]
    s.focus = min(s.focus, len(s.page) - 1)
