"""The stream screen: a video of the RBM's samples; keys set a sticky label."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Header, ProgressBar

from ..sessions.base import Action
from ..sessions.settings import Settings
from ..sessions.stream import StreamSession
from ..workspace import Workspace
from .base import ModeScreen, digit_bindings
from .keys import with_ids
from .widgets import ImageBox, PixelView, TextPanel, class_bars, prob_bars


class StreamScreen(ModeScreen):
    HELP = (
        "An RBM plays a video of its samples. A number key sets a sticky label: every frame shown is labelled "
        "with it until you press x (Stop) or another number; undo takes back the last frames. The label "
        "weights learn as you go."
    )
    DEFAULT_CSS = """
    StreamScreen #main { height: 1fr; }
    StreamScreen #side { width: 38; padding: 0 1; }
    StreamScreen #state { height: 5; }
    StreamScreen #keys { height: 3; }
    StreamScreen #probs { height: 3; }
    StreamScreen #counts { height: 1fr; }
    StreamScreen #training { height: 1; display: none; }
    StreamScreen.-updating #training { display: block; }
    StreamScreen #message { height: 1; padding: 0 1; background: $boost; }
    StreamScreen.-too-small #main, StreamScreen.-too-small #message { display: none; }
    StreamScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = with_ids([
        *digit_bindings("label", "Label"),
        Binding("x", "session('unsure')", "Stop"),  # clears the sticky label: nothing is stored (not browse's unsure)
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("space,p", "session('pause')", "Pause", key_display="space"),
        Binding("n", "session('step')", "Step", show=False),
        Binding("plus,equals_sign", "session('faster')", "Speed", key_display="+/-"),
        Binding("minus", "session('slower')", "Slower", show=False),
        Binding("a", "session('toggle_autospeed')", "Autospeed", show=False),
        Binding("k", "session('toggle_skip_sure')", "Skip if sure", show=False),
        Binding("o", "session('toggle_online')", "Online learning", show=False),
        Binding("w", "session('toggle_fast_weights')", "Fast weights", show=False),
        Binding("c", "session('next_chain')", "New chain", show=False),
        Binding("t", "session('train_offline')", "Train offline", show=False),
        Binding("escape", "back", "Back"),
    ])

    session_class = StreamSession
    session: StreamSession | None

    def __init__(self, workspace: Workspace, colors: str = "truecolor", settings: Settings | None = None,
                 annotator: str | None = None) -> None:
        super().__init__(workspace, colors, settings, annotator)
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with ImageBox():
                # 32 grey levels: RBM samples' noisy dark background would otherwise cost ~25% more bytes
                yield PixelView(self.image_colors, max_scale=12, levels=32, id="frame")
            with Vertical(id="side"):
                yield ProgressBar(id="training", show_eta=False)  # on top: opening shows nothing else
                yield TextPanel(id="state")
                yield TextPanel(id="keys")
                yield TextPanel(id="probs")
                yield TextPanel(id="counts")
        yield TextPanel(id="message")
        yield from self.compose_too_small()
        yield Footer(compact=True)

    def session_ready(self) -> None:
        assert self.session is not None
        self.session.evaluate()
        self._schedule()

    def show_progress(self) -> None:
        if self.session is None:  # opening: the RBM is being trained
            if self.progress_fraction is not None:
                self.query_one(ProgressBar).update(total=100, progress=100 * self.progress_fraction)
            self.query_one("#message", TextPanel).set_text(self.progress_text)

    # -- the frame clock ------------------------------------------------------------------------

    def _schedule(self) -> None:
        """One timer for exactly when the next frame is due: no wake-ups in between."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.session is None or self.session.paused:
            return
        # at least 1 ms: Textual's timer divides by its interval, and a late frame would give 0
        delay = max(0.001, self.session.next_frame_at - self.session.clock())
        self._timer = self.set_timer(delay, self._on_frame)

    def _on_frame(self) -> None:
        self._timer = None
        if self.session is not None and self.session.tick():
            self.show()
        self._schedule()

    # -- drawing --------------------------------------------------------------------------------

    def show(self) -> None:
        if self.session is None:
            return
        v = self.session.view()
        names = self.workspace.pool.class_names
        self.query_one(PixelView).set_image(v.frame)
        state = Text()
        state.append("stream", style="bold")
        state.append("  paused\n" if v.paused else f"  {v.effective_fps:.1f} fps (base {v.fps:.1f})\n")
        flags = [("autospeed", v.autospeed), ("skip-sure", v.skip_sure), ("online", v.online),
                 ("fast", v.fast_weights)]
        for name, on in flags:
            state.append(f"{name} ", style="bold green" if on else "dim strike")
        state.append(f"\nchain {v.chains}, step {v.chain_step}; skipped {v.skipped_chains}\n"
                     f"start images labelled {v.starts_labelled}\n")
        acc = "-" if v.accuracy is None else f"{v.accuracy:.1%}"
        busy = "  training…" if self.session.updating else ""
        state.append(f"frames {v.frames}  labelled {v.labelled_frames}  acc {acc}{busy}")
        self.query_one("#state", TextPanel).set_text(state)
        keys = Text("label: ")
        active = "none: frames not labelled" if v.label is None else names[v.label]
        keys.append(f" {active} ", style="bold reverse" if v.label is not None else "dim reverse")
        self.query_one("#keys", TextPanel).set_text(keys)
        self.query_one("#probs", TextPanel).set_text(prob_bars(names, v.probs, active=v.label))
        self.query_one("#counts", TextPanel).set_text(class_bars(names, v.per_class, width=14, highlight=v.label))
        self.query_one("#message", TextPanel).set_text(
            v.message or "number keys set a sticky label, x stops labelling, space pause, ? all keys"
        )

    def act(self, action: Action) -> None:
        super().act(action)
        self._schedule()
