"""Pages of pool items with a focus: what batch and review share.

A session using `Paging` keeps ``page`` (items with an ``answered`` flag), ``focus`` and
``page_size``, and implements ``new_page()``; the focus moves, skips answered items, and a resize
keeps the answers on the page.
"""

from __future__ import annotations

from typing import Any


class Paging:
    page: list[Any]
    focus: int
    page_size: int

    def new_page(self) -> None:
        raise NotImplementedError

    def _refill_page(self) -> None:
        """The page has no answers: draw it again at the new size."""
        self.page = []
        self.new_page()

    def resize_page(self, size: int) -> None:
        """As many items a page as the screen fits. A page with answers keeps them; its unanswered
        items past the new size go back to the queue, so the focus is always on a shown item."""
        self.page_size = max(1, size)
        if not any(item.answered for item in self.page):
            if len(self.page) != self.page_size:
                self._refill_page()
            return
        keep = [it for n, it in enumerate(self.page) if it.answered or n < self.page_size]
        self.page = keep[: max(self.page_size, sum(it.answered for it in keep))]
        open_items = [n for n, it in enumerate(self.page) if not it.answered and n < self.page_size]
        if not open_items:
            self.new_page()
        elif self.focus not in open_items:
            self.focus = open_items[0]

    def _move_on(self) -> None:
        """After an answer: the next unanswered item on the page, or a new page."""
        open_items = [i for i, it in enumerate(self.page) if not it.answered]
        later = [i for i in open_items if i > self.focus]
        if later:
            self.focus = later[0]
        elif open_items:
            self.focus = open_items[0]
        else:
            self.new_page()  # the page is done: every answer on it is already committed

    def do_next(self) -> None:
        """Move the focus to the next item."""
        if self.page:
            self.focus = (self.focus + 1) % len(self.page)

    def do_previous(self) -> None:
        """Move the focus to the previous item."""
        if self.page:
            self.focus = (self.focus - 1) % len(self.page)
