"""The Textual app every mode lives in: start screen, help, size guard, quitting safely.

Screens are thin: they turn keys into session actions and the session's view into widgets.
Labels are committed by the session before its action returns, so quitting at any moment (q,
Ctrl+C, a closed SSH connection) loses nothing the screen has acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

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
from .base import TYPED_ENTER, LabelScreen, Updates
from .keys import shown_keys as shown_keys_of
from .keys import with_ids
from .widgets import GraphicsOut, class_bars


class HelpScreen(ModalScreen[None]):
    """What the screen beneath is for, then its keys in the order of its footer, with what they do."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 64; height: auto; max-height: 100%; border: round $accent; background: $panel; padding: 0 1;
        border-subtitle-align: right;
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
        about = getattr(self.beneath, "HELP", "")
        if about:
            text.append(about + "\n\n")
        session = getattr(self.beneath, "session", None)
        typed = session is not None and session.pool.n_classes > 10  # class numbers of more than one digit
        # ours, in the footer's order (help and quit first, then the mode's): Textual's own keys (focus,
        # copy, palette, its ctrl+q) are not ours to explain; one line an action, its keys joined
        mine = [c for c in reversed(type(self.beneath).__mro__) if c.__module__.startswith("tuilabel.")]
        keys: dict[tuple[str, str], list[str]] = {}
        keymap: dict[str, str] = getattr(self.app, "keymap", {})  # the person's own keys, where remapped
        for binding in (b for c in [*mine, TuilabelApp] for b in c.__dict__.get("BINDINGS", [])):
            if not isinstance(binding, Binding) or binding.system:
                continue
            if binding.action == "enter" and binding.description == TYPED_ENTER and not typed:
                continue
            shown = shown_keys_of(binding, keymap, self.app.get_key_display)
            label = binding.description or binding.action
            if binding.id and binding.id in keymap and binding.id.startswith("class-"):  # one class's own key
                k = int(binding.id.removeprefix("class-"))
                label += f": {k}" + (f" ({session.pool.class_names[k]})"
                                     if session is not None and k < session.pool.n_classes else "")
            shown_keys = keys.setdefault((binding.action, label), [])
            if shown not in shown_keys:
                shown_keys.append(shown)
        active = {a.binding.action for a in self.beneath.active_bindings.values()}
        listed = set()
        for (action, label), shown_keys in keys.items():
            line = (label, ", ".join(shown_keys))
            if action in active and line not in listed:  # the app's help and the screen's: once
                listed.add(line)
                text.append(f"{line[1]:>12}  ", style="bold cyan")
                text.append(f"{label}\n")
        if typed:
            assert session is not None
            names = session.pool.class_names
            text.append(f"\n{len(names)} classes: type the number (⏎ when more digits could follow)\n", style="bold")
            text.append("  ".join(f"{k} {name}" for k, name in enumerate(names)) + "\n")
        box = VerticalScroll(Static(text))
        name = self.beneath.__class__.__name__.removesuffix("Screen")
        box.border_title = f"Keys: {'start' if name in ('', 'Start') else name.lower()}"
        box.border_subtitle = "↑↓ scroll · Esc closes"
        yield box

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # the arrow keys scroll it


class StartScreen(LabelScreen):
    """The workspace at a glance, and the modes by key."""

    HELP = (
        "Open a mode by its key. New here: start with batch, where a model picks the images worth labelling "
        "(browse is the plain baseline). Every label is saved as you type it; `tuilabel export` writes them "
        "out."
    )

    DEFAULT_CSS = """
    StartScreen #body { padding: 0 1; }
    StartScreen #summary { height: auto; margin-bottom: 1; }
    StartScreen #columns { height: 1fr; }
    StartScreen #balance { width: 36; }
    StartScreen #modes { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    StartScreen.-too-small #body { display: none; }
    StartScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = with_ids([
        Binding(m.key, f"open_mode('{m.name}')", m.name.capitalize())
        for m in MODES
    ])

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
        # one line a mode, cut to the column (60 columns leave it 22): every mode's key stays in sight
        modes = Text("modes: press a key\n", style="bold", no_wrap=True, overflow="ellipsis")
        for m in MODES:
            modes.append(f"{m.key} ", style="bold cyan")
            modes.append(m.name, style="bold" if m.built else "dim")
            modes.append("" if m.built else "  (not built yet)", style="yellow")
            modes.append(f"  {m.summary}\n", style="dim")
        self.query_one("#modes", Static).update(modes)

    def action_open_mode(self, name: str) -> None:
        self.app.open_mode(name)  # type: ignore[attr-defined]


class TuilabelApp(App):
    """``tuilabel label WORKSPACE``: the start screen, or straight into a mode."""

    TITLE = "tuilabel"
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, system=True),
    ]
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, workspace: Workspace, mode: str | None = None, colors: str = "truecolor",
                 settings: Settings | None = None, annotator: str | None = None,
                 graphics: Choice | None = None, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.keymap = keymap or {}  # the person's keys ([keys] in tuilabel.toml), checked already
        if self.keymap:
            self.set_keymap(self.keymap)
        self.graphics = GraphicsOut(self, graphics or Choice("blocks"))  # how pictures are drawn
        self.annotator = annotator
        self.start_mode = mode
        self.start_settings = settings  # the start mode's settings from `--set`, checked already
        self.image_colors = colors
        self.updates = Updates()  # updates on worker threads: quitting waits for them
        self.sub_title = workspace.path.name  # the whole path is on the start screen: the header keeps room
        self.ended_by: int | None = None  # the signal that closed the app (SIGHUP, SIGTERM), if one did

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGHUP, signal.SIGTERM):  # the SSH link dropped, the machine shuts down
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                loop.add_signal_handler(signum, self.end_by_signal, signum)
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

    def end_by_signal(self, signum: int) -> None:
        """Close as `q` does, at once: every session gives its leases back now (the other annotators
        need not wait for them to expire) and the app exits; the labels are on disk already."""
        self.ended_by = signum
        for screen in self.screen_stack:  # at once: the exit's own closing may fail on a terminal gone
            session = getattr(screen, "session", None)
            if session is not None:
                with contextlib.suppress(Exception):
                    session.give_back_leases()
        self.exit(return_code=128 + signum)  # then as q: each screen's session closes (saves) on unmount

    async def action_quit(self) -> None:
        self.exit()  # every label is already committed; the workspace is closed by whoever opened it



def screen_bindings() -> list[tuple[str, list[Binding]]]:
    """Each screen's bindings, the app's with them (what one key press may reach): `[keys]` is
    checked against these."""
    screens: list[tuple[str, type]] = [("start", StartScreen)] + [(m.name, mode(m.name).screen_class())
                                                                   for m in MODES]
    out = []
    for name, cls in screens:
        bindings = [b for c in reversed(cls.__mro__) if c.__module__.startswith("tuilabel.")
                    for b in c.__dict__.get("BINDINGS", []) if isinstance(b, Binding)]
        out.append((name, [*bindings, *(b for b in TuilabelApp.BINDINGS if isinstance(b, Binding))]))
    return out
