"""The review screen: a gallery of doubtful labels, grouped by their stored class."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Footer, Header

from ..sessions.review import ReviewSession
from .base import digit_bindings
from .gallery import GalleryScreen
from .keys import with_ids
from .widgets import TextPanel


class ReviewScreen(GalleryScreen):
    HELP = (
        "Labels the model disagrees with come back for a second look. ⏎ keeps the label, a number key "
        "corrects it, x marks the image unusable."
    )
    DEFAULT_CSS = """
    ReviewScreen #status { height: 2; padding: 0 1; }
    ReviewScreen #tiles { height: 1fr; grid-gutter: 0 2; padding: 0 1; }
    ReviewScreen #message { height: 1; padding: 0 1; background: $boost; }
    ReviewScreen.-too-small #status, ReviewScreen.-too-small #tiles, ReviewScreen.-too-small #message {
        display: none;
    }
    ReviewScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = with_ids([
        *digit_bindings("label", "Correct", enter="Keep"),
        Binding("x", "session('unusable')", "Unusable"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("right,tab", "session('next')", "Next", show=False),
        Binding("left,shift+tab", "session('previous')", "Previous", show=False),
        Binding("n", "session('skip_page')", "Page"),
        Binding("g", "session('class_filter')", "Class"),
        Binding("escape", "back", "Back"),
    ])

    session_class = ReviewSession
    ENTER_ACTION = "keep"
    session: ReviewSession | None

    def compose(self) -> ComposeResult:
        yield Header()
        yield TextPanel(id="status")
        yield Grid(id="tiles")
        yield TextPanel(id="message")
        yield from self.compose_too_small()
        yield Footer(compact=True)

    def show(self) -> None:
        if self.session is None:
            return
        v = self.session.view()
        names = self.workspace.pool.class_names
        blind = v.stage == "second"
        for n, tile in enumerate(self.tiles):
            item = v.page[n] if n < len(v.page) else None
            tile.view.set_image(None if item is None else self.picture(item.image))
            caption = Text()
            if item is not None:
                if item.answered:
                    if item.answer is None:
                        caption.append("✗ unusable", style="red")
                    elif item.answer == item.stored and not blind:
                        caption.append(f"✓ kept {names[item.answer]}", style="green")
                    else:
                        caption.append(f"✓ {names[item.answer]}", style="green")
                elif blind:
                    caption.append("?", style="bold")
                else:
                    caption.append(names[item.stored], style="bold")  # the stored label, then the guess
                    if item.guess is not None and item.guess != item.stored:
                        caption.append(f"→{names[item.guess]} {item.confidence:.0%}", style="yellow")
                    elif item.stored_p is not None:
                        caption.append(f" {item.stored_p:.0%}", style="dim")
                    if item.others:
                        caption.append(" " + ",".join("-" if lab is None else names[lab] for _, lab in item.others),
                                       style="magenta")
                if n == v.focus:
                    caption.stylize("bold reverse")
                    caption = Text("▶ ") + caption
                    self.show_original(tile.view, item.index)  # the focused tile: its original, under kitty or iTerm2
            tile.caption.set_text(caption)
        status = Text()
        status.append("review" if not blind else "second opinion", style="bold")
        which = "" if v.class_filter is None else f" · class {names[v.class_filter][:12]}"
        status.append(f"  reviewed {v.reviewed} (corrected {v.corrected}, unusable {v.unusable})  "
                      f"queue {v.queue}/{v.labelled}{which}")
        groups: dict[int, int] = {}
        for item in v.page:
            groups[item.stored] = groups.get(item.stored, 0) + 1
        if blind:
            status.append("\nlabel each image blind: your answer is a second opinion")
        elif groups:
            status.append("\nthis page: " + ", ".join(f"stored {names[k]} ×{c}" for k, c in groups.items()))
        else:
            status.append("\n")
        if v.accuracy is not None:
            status.append(f"  model {v.accuracy:.1%}" + ("" if v.judge is None else
                          f" ({'pretrained' if v.judge == 'head' else 'CNN'})"), style="dim")
        if v.updating:
            status.append(f"  {self.progress_text or 're-ranking…'}", style="yellow")
        self.query_one("#status", TextPanel).set_text(status)
        if v.message:
            message = v.message
        elif v.labelled < 2 * self.session.settings.folds:
            message = (f"{v.labelled} labels: review needs {2 * self.session.settings.folds}; "
                       "label in another mode first")
        elif not v.ranked:
            message = "judging every label with models that never saw it…"
        elif not v.page:
            message = "nothing doubtful left: every label the model disputes has been reviewed"
        elif blind:
            message = "number keys give your label, x unusable, z undo, ? all keys"
        else:
            message = "captions: stored→model's guess. ⏎ keeps, a number corrects, x unusable, g one class"
        self.query_one("#message", TextPanel).set_text(message)
