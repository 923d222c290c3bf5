"""The Textual app every mode lives in: start screen, help, size guard, quitting safely.

Screens are thin: they turn keys into session actions and the session's view into widgets.
Labels are committed by the session before its action returns, so quitting at any moment (q,
Ctrl+C, a closed SSH connection) loses nothing the screen has acknowledged.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Static

from ..errors import TuilabelError
from ..graphics import Choice
from ..sessions.registry import MODES, mode
from ..sessions.settings import Settings
from ..workspace import Workspace
from .base import LabelScreen, Updates
from .widgets import GraphicsOut, class_bars


class HelpScreen(ModalScreen[None]):
    """Every key of the screen beneath, with what it does."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 64; height: auto; max-height: 90%; border: round $accent; background: $panel; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close help"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.beneath = screen

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"Keys: {self.beneath.__class__.__name__.removesuffix('Screen') or 'start'}\n\n", style="bold")
        seen = set()
        mine = [c for c in type(self.beneath).__mro__ if c.__module__.startswith("tuilabel.")]
        ours = {(b.action, b.description) for c in [*mine, TuilabelApp] for b in c.__dict__.get("BINDINGS", [])
                if isinstance(b, Binding)}
        for active in sorted(self.beneath.active_bindings.values(), key=lambda a: a.binding.description):
            binding = active.binding
            if binding.system or (binding.action, binding.description) not in ours:
                continue  # Textual's own (focus, copy, palette): not ours to explain
            label = binding.description or binding.action
            shown = binding.key_display or self.app.get_key_display(binding)
            if (label, shown) in seen:
                continue
            seen.add((label, shown))
            text.append(f"{shown:>12}  ", style="bold cyan")
            text.append(f"{label}\n")
        session = getattr(self.beneath, "session", None)
        if session is not None and session.pool.n_classes > 10:
            names = session.pool.class_names
            text.append(f"\n{len(names)} classes: type the number (⏎ when more digits could follow)\n", style="bold")
            text.append("  ".join(f"{k} {name}" for k, name in enumerate(names)) + "\n")
        text.append("\nEsc or ? closes this help.", style="dim")
        with VerticalScroll():
            yield Static(text)


class StartScreen(LabelScreen):
    """The workspace at a glance, and the modes by key."""

    DEFAULT_CSS = """
    StartScreen #body { padding: 0 1; }
    StartScreen #summary { height: auto; margin-bottom: 1; }
    StartScreen #columns { height: 1fr; }
    StartScreen #balance { width: 36; }
    StartScreen #modes { width: 1fr; }
    StartScreen.-too-small #body { display: none; }
    StartScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = [
        Binding(m.key, f"open_mode('{m.name}')", m.name.capitalize())
        for m in MODES
    ]

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Static(id="summary")
            with Horizontal(id="columns"):
                yield Static(id="balance")
                yield Static(id="modes")
        yield from self.compose_too_small()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.refresh_summary()

    def on_screen_resume(self) -> None:
        self.refresh_summary()

    def refresh_summary(self) -> None:
        ws = self.workspace
        pool = ws.pool
        counts = ws.store.counts()
        human = [counts.get(("human", c), 0) for c in range(pool.n_classes)]
        text = Text()
        text.append(f"{ws.path}\n", style="bold")
        text.append(
            f"{len(pool)} images {'x'.join(map(str, pool.image_shape))}, {pool.n_classes} classes; "
            f"labelled by people: {sum(human)}; unsure: {counts.get(('human', None), 0)}; "
            f"test set: {len(ws.test) if ws.test is not None else 'none'}\n"
        )
        text.append(f"models: {', '.join(ws.models_present()) or 'none yet'}; pictures: ")
        choice = self.app.graphics.choice  # type: ignore[attr-defined]
        text.append(choice.protocol + (" via tmux" if choice.tmux else "")
                    + (f" ({choice.reason})" if choice.reason and choice.reason != "asked for" else ""))
        self.query_one("#summary", Static).update(text)
        balance = Text("labels per class\n", style="bold")
        balance.append_text(class_bars(pool.class_names, human, width=16, keys=False))
        self.query_one("#balance", Static).update(balance)
        modes = Text("modes: press a key\n", style="bold")
        for m in MODES:
            modes.append(f"{m.key} ", style="bold cyan")
            modes.append(m.name, style="bold" if m.built else "dim")
            modes.append("" if m.built else "  (not built yet)", style="yellow")
            modes.append(f"\n  {m.summary}\n", style="" if m.built else "dim")
        self.query_one("#modes", Static).update(modes)

    def action_open_mode(self, name: str) -> None:
        self.app.open_mode(name)  # type: ignore[attr-defined]


class TuilabelApp(App):
    """``tuilabel label WORKSPACE``: the start screen, or straight into a mode."""

    TITLE = "tuilabel"
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, system=True),
    ]
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, workspace: Workspace, mode: str | None = None, colors: str = "truecolor",
                 settings: Settings | None = None, annotator: str | None = None,
                 graphics: Choice | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.graphics = GraphicsOut(self, graphics or Choice("blocks"))  # how pictures are drawn
        self.annotator = annotator
        self.start_mode = mode
        self.start_settings = settings  # the start mode's settings from `--set`, checked already
        self.image_colors = colors
        self.updates = Updates()  # updates on worker threads: quitting waits for them
        self.sub_title = str(workspace.path)

    def on_mount(self) -> None:
        self.push_screen(StartScreen(self.workspace))
        if self.start_mode:
            self.open_mode(self.start_mode, self.start_settings)

    def open_mode(self, name: str, settings: Settings | None = None) -> None:
        spec = next((m for m in MODES if m.name == name), None)
        if spec is None:
            self.notify(f"no mode {name!r}", severity="error")
        elif not spec.built:
            self.notify(f"The {name} mode is not built yet.", severity="warning")
        else:
            try:
                if settings is None:  # from the start screen: what the workspace keeps for the mode
                    settings = spec.workspace_settings(self.workspace)
                screen = mode(name).screen_class()(self.workspace, self.image_colors, settings, self.annotator)
            except TuilabelError as exc:  # a model file made for another pool, say
                self.notify(str(exc), title=f"cannot open the {name} mode", severity="error", timeout=30)
                return
            self.push_screen(screen)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        self.exit()  # every label is already committed; the workspace is closed by whoever opened it

