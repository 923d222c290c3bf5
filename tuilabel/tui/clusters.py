"""The clusters screen: one cluster at a time, its member nearest the centre (or its decoded centre)
large, with the next nearest real members under it."""

from __future__ import annotations

import numpy as np
from PIL import Image
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, ProgressBar

from ..sessions.clusters import CONFIDENCE, ClustersSession
from .base import ModeScreen, digit_bindings
from .keys import with_ids
from .widgets import BAR, ImageBox, PixelView, TextPanel, class_bars

GAP = 2  # pixels between thumbnails


def member_strip(images: list[np.ndarray], width: int, height: int) -> np.ndarray | None:
    """Thumbnails side by side in ``width`` x ``height`` cells (two pixels a cell vertically),
    shrunk by the smallest integer factor that fits, as many as fit."""
    if not images:
        return None
    h, w = images[0].shape[:2]
    factor = max(1, -(-h // max(1, 2 * height)))
    th, tw = max(1, h // factor), max(1, w // factor)
    count = max(1, min(len(images), (width + GAP) // (tw + GAP)))
    shape = (th, count * (tw + GAP) - GAP, *images[0].shape[2:])
    strip = np.full(shape, 40, np.uint8)  # dark grey gaps keep neighbours apart
    for n, image in enumerate(images[:count]):
        small = image if factor == 1 else np.asarray(Image.fromarray(image).resize((tw, th), Image.Resampling.BOX))
        strip[:, n * (tw + GAP) : n * (tw + GAP) + tw] = small
    return strip


def sparkline(history: list[tuple[int, int, float | None]], width: int = 30) -> Text:
    """Test accuracy per epoch: one bar per epoch, with labels spent under the last."""
    text = Text()
    if not history:
        return text.append("no epoch trained with labels yet", style="dim")
    ticks = " ▁▂▃▄▅▆▇" + BAR
    for _, _, acc in history[-width:]:
        text.append(" " if acc is None else ticks[min(8, max(0, round(acc * 8)))], style="green")
    epoch, spent, acc = history[-1]
    text.append(f"  epoch {epoch}: {'-' if acc is None else f'{acc:.1%}'} with {spent} labels")
    return text


class ClustersScreen(ModeScreen):
    HELP = (
        "The pool is clustered: you see a cluster's centre and a strip of its members. A number key labels "
        "the cluster, and the label spreads to its members with the confidence you set (h, m or l before the "
        "number: l or m if the strip mixes); s skips it."
    )
    DEFAULT_CSS = """
    ClustersScreen #main { height: 1fr; }
    ClustersScreen #left { width: 1fr; }
    ClustersScreen #centre-box { height: 1fr; }
    ClustersScreen #strip-caption { height: 1; padding: 0 1; }
    ClustersScreen #strip-box { height: 5; }
    ClustersScreen #side { width: 36; padding: 0 1; }
    ClustersScreen #state { height: 7; }
    ClustersScreen #curve { height: 2; }
    ClustersScreen #counts { height: 1fr; }
    ClustersScreen #training { height: 1; display: none; }
    ClustersScreen.-updating #training { display: block; }
    ClustersScreen #message { height: auto; max-height: 2; padding: 0 1; background: $boost; }
    ClustersScreen.-too-small #main, ClustersScreen.-too-small #message { display: none; }
    ClustersScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = with_ids([
        *digit_bindings("label", "Label"),
        Binding("x", "session('no_class')", "No class"),
        Binding("h", "session('confidence', 'high')", "High confidence (next label)", show=False),
        Binding("m", "session('confidence', 'medium')", "Medium confidence (next label)", show=False),
        Binding("l", "session('confidence', 'low')", "Low confidence (next label)", show=False),
        Binding("s", "session('skip')", "Skip"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("t", "session('train')", "Train"),
        Binding("escape", "back", "Back"),
    ])

    session_class = ClustersSession
    session: ClustersSession | None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                with ImageBox(id="centre-box"):
                    yield PixelView(self.image_colors, max_scale=12, id="centre")
                yield TextPanel(id="strip-caption")
                with ImageBox(id="strip-box"):
                    yield PixelView(self.image_colors, max_scale=1, id="members")
            with Vertical(id="side"):
                yield TextPanel(id="state")
                yield TextPanel(id="curve")
                yield ProgressBar(id="training", show_eta=False)
                yield TextPanel(id="counts")
        yield TextPanel(id="message")
        yield from self.compose_too_small()
        yield Footer(compact=True)

    def say(self, text: str) -> None:
        self.query_one("#message", TextPanel).set_text(text)

    def show_progress(self) -> None:
        if self.progress_fraction is not None:
            self.query_one(ProgressBar).update(total=100, progress=100 * self.progress_fraction)
        if self.progress_text:
            self.say(self.progress_text)

    def on_resize(self) -> None:
        super().on_resize()
        self.call_after_refresh(self.show)  # the member strip is cut to the new room

    # -- drawing --------------------------------------------------------------------------------

    def show(self) -> None:
        if self.session is None:
            return
        v = self.session.view()
        names = self.workspace.pool.class_names
        centre = v.centre
        self.query_one("#centre", PixelView).set_image(None if centre is None else centre.image)
        box = self.query_one("#strip-box", ImageBox)
        strip = None if centre is None else member_strip(
            v.members, box.content_size.width or 40, box.content_size.height or 5)
        self.query_one("#members", PixelView).set_image(strip)
        caption = Text()
        if v.training and centre is None:  # the epoch trains on its own: nothing left here to decide
            caption.append("training… meanwhile Esc, a: label in batch", style="yellow")  # 44 columns at 80
        elif centre is not None:
            nearest = "nearest" if centre.medoid is None else "next nearest"  # the image above is the nearest
            caption.append(f"{nearest} of its {len(centre.members)} members", style="dim")
        self.query_one("#strip-caption", TextPanel).set_text(caption)
        state = Text()
        state.append("clusters", style="bold")
        state.append(f"  epoch {v.epoch}, k={v.k}")
        if v.training and centre is not None:  # the queued centres go on: their labels join the next epoch
            state.append(" · training", style="yellow")
        state.append("\n")
        if v.training and centre is None:
            state.append("training the next epoch…\n", style="yellow")
        elif centre is not None:
            state.append(f"cluster {centre.path}", style="bold")
            level = f", level {centre.depth + 1}" if centre.depth else ""
            state.append(f"  {len(centre.members)} images{level}\n")
            if centre.guess is not None:
                state.append(f"model sees {names[centre.guess]} ({centre.guess_confidence:.0%})")
                if centre.uncertainty is not None:
                    state.append(f"  entropy {centre.uncertainty:.2f}", style="dim")
            state.append("\n")
        elif not v.training:
            state.append("no centres left: t trains the next epoch\n\n", style="yellow")
        state.append(f"decided {v.position}/{v.per_epoch}, {v.queued} queued\n")  # one line beside 80 columns
        state.append(f"labels spent {v.spent}\n")
        state.append("confidence ")
        for level in CONFIDENCE:
            style = "bold reverse" if level == v.confidence else "dim"
            state.append(f" {level[0]}:{CONFIDENCE[level]:g} ", style=style)
        self.query_one("#state", TextPanel).set_text(state)
        self.query_one("#curve", TextPanel).set_text(Text("test accuracy\n", style="bold") + sparkline(v.history))
        agreed, checked = v.checks
        counts = Text("labels spread per class" if v.spread_weight is None else
                      f"spread, weight {v.spread_weight:.2f}" + (f", {agreed}/{checked} right" if checked else ""),
                      style="bold")
        counts.append("\n")
        counts.append_text(class_bars(names, v.propagated, width=12))
        self.query_one("#counts", TextPanel).set_text(counts)
        if v.training and self.progress_text:
            self.show_progress()
        else:
            self.say(v.message or "number keys label it and its cluster (l/m first: the cluster is mixed), "
                     "x no class (split), s skip, ? all keys")
