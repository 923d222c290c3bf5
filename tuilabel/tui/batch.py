"""The batch screen: a page of the images the model is most confused by, one key per image."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Footer, Header

from ..sessions.base import Action
from ..sessions.batch import BatchSession
from .base import digit_bindings
from .gallery import GalleryScreen
from .keys import with_ids
from .widgets import TextPanel


class BatchScreen(GalleryScreen):
    HELP = (
        "A model ranks the pool and shows the images it is least sure of, a page at a time. A number key "
        "labels the ▶ image and moves on; ⏎ accepts the guess under it. The model retrains as the labels "
        "grow; the header says what one more point of accuracy would take. Under each image: the model's "
        "guess, its probability (once 20 of your labels have checked what it says), and H, the entropy of "
        "its probabilities (0: sure; the higher, the more it doubts). With a backbone, s opens a page of the "
        "▶ image's look-alikes, all selected (◆): space drops the ▶ one (◇), a number labels every ◆ one, "
        "Esc goes back; one undo takes the page's labels back."
    )
    DEFAULT_CSS = """
    BatchScreen #status { height: 2; padding: 0 1; }
    BatchScreen #tiles { height: 1fr; grid-gutter: 0 2; padding: 0 1; }
    BatchScreen #balance { height: auto; max-height: 2; padding: 0 1; }
    BatchScreen #message { height: 1; padding: 0 1; background: $boost; }
    BatchScreen.-too-small #status, BatchScreen.-too-small #tiles, BatchScreen.-too-small #balance,
    BatchScreen.-too-small #message { display: none; }
    BatchScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = with_ids([
        *digit_bindings("label", "Label", enter="Accept"),
        Binding("x", "session('unsure')", "Unsure"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("right,tab", "session('next')", "Next", show=False),
        Binding("left,shift+tab", "session('previous')", "Previous", show=False),
        Binding("n", "session('skip_page')", "Page"),
        Binding("s", "session('similar')", "Alike"),  # the ▶ image's look-alikes (with a backbone)
        Binding("space", "session('toggle')", "Select (look-alikes)", show=False),
        Binding("escape", "back", "Back"),
    ])

    session_class = BatchSession
    ENTER_ACTION = "accept"
    CHROME_ROWS = 6  # the class balance line too
    session: BatchSession | None

    def action_back(self) -> None:
        """Esc on a look-alike page goes back to the ranked page; else as on every screen."""
        if self.session is not None and self.session.alike is not None and not self.typed:
            self.act(Action("leave_alike"))
            return
        super().action_back()

    def compose(self) -> ComposeResult:
        yield Header()
        yield TextPanel(id="status")
        yield Grid(id="tiles")
        yield TextPanel(id="balance")
        yield TextPanel(id="message")
        yield from self.compose_too_small()
        yield Footer(compact=True)

    def show(self) -> None:
        if self.session is None:
            return
        v = self.session.view()
        names = self.workspace.pool.class_names
        for n, tile in enumerate(self.tiles):
            item = v.page[n] if n < len(v.page) else None
            tile.view.set_image(None if item is None else self.picture(item.image))
            caption = Text()
            if item is not None:
                focused = n == v.focus
                if item.answered:
                    caption.append(f"✓ {'unsure' if item.label is None else names[item.label]}", style="green")
                elif item.selected is not None:  # a look-alike page: in or out of what a number labels
                    caption.append("◆ in " if item.selected else "◇ out ", style="bold" if item.selected else "dim")
                    if item.guess is not None:
                        caption.append(names[item.guess], style="" if item.selected else "dim")
                elif item.guess is not None:
                    # the percentage once the labels have measured the model's confidence (calibration.py)
                    caption.append(names[item.guess] + ("" if item.confidence is None else f" {item.confidence:.0%}"))
                    if item.uncertainty is not None:
                        caption.append(f" H{item.uncertainty:.2f}", style="dim")
                else:
                    caption.append("no guess", style="dim")
                if focused:
                    caption.stylize("bold reverse")
                    caption = Text("▶ ") + caption
            tile.caption.set_text(caption)
        status = Text()
        status.append("batch", style="bold")
        unsure = f" (+{v.unsure} unsure)" if v.unsure else ""
        status.append(f"  page {v.page_number}  labelled {v.labels}{unsure}  round {v.round}  "
                      f"next round at {v.next_round_at}")
        acc = "-" if v.accuracy is None else f"{v.accuracy:.1%}"
        kind = self.session.estimate(v.accuracy)
        status.append(f"\n{'cv accuracy (on your labels)' if kind == 'cv' else 'test accuracy'} {acc}")
        if v.learner is not None:
            status.append(f" ({'pretrained' if v.learner == 'head' else 'CNN'})")
        if v.history and not v.training:  # the round's progress needs the room while it runs
            status.append("  curve " + " ".join(f"{n}:{'-' if a is None else f'{a:.0%}'}" for n, a in v.history[-4:]),
                          style="dim")
        if v.training:
            status.append(f"  {self.progress_text or 'training…'}", style="yellow")
        self.query_one("#status", TextPanel).set_text(status)
        balance = Text("key class:labels ", style="bold")
        for c, n in enumerate(v.counts):
            balance.append(f" {c}" if c < 10 else " ", style="bold cyan")
            balance.append(f"{'' if names[c] == str(c) else ' ' + names[c][:10]}:{n}")
        self.query_one("#balance", TextPanel).set_text(balance)
        if v.alike is not None:
            chosen = sum(1 for it in v.page if it.selected and not it.answered)
            self.query_one("#message", TextPanel).set_text(
                f"look-alikes: a number labels the {chosen} ◆, space drops/keeps ▶, Esc back")
            return
        self.query_one("#message", TextPanel).set_text(
            v.message or "numbers label ▶, ⏎ accepts the guess, x unsure, s look-alikes, ? all keys")
