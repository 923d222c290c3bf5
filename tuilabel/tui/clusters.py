"""The clusters screen: one decoded cluster centre at a time, large, with its nearest real members."""

from __future__ import annotations

import numpy as np
from PIL import Image
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, ProgressBar

from ..models.vae import VAEClassifier
from ..sessions.base import Action
from ..sessions.clusters import CONFIDENCE, ClustersSession, ClustersSettings, EpochJob, make_plan, pretrain
from ..workspace import Workspace
from .app import LabelScreen
from .browse import digit_bindings
from .widgets import BAR, ImageBox, PixelView, TextPanel, class_bars

VAE_FILE = "vae.npz"
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
        small = image if factor == 1 else np.asarray(Image.fromarray(image).resize((tw, th), Image.BOX))
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


class ClustersScreen(LabelScreen):
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
    ClustersScreen.-training #training { display: block; }
    ClustersScreen #message { height: 1; padding: 0 1; background: $boost; }
    ClustersScreen.-too-small #main, ClustersScreen.-too-small #message { display: none; }
    ClustersScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = [
        *digit_bindings("label", "Label centre"),
        Binding("x", "session('no_class')", "No class: split"),
        Binding("h", "session('confidence', 'high')", "High confidence", show=False),
        Binding("m", "session('confidence', 'medium')", "Medium confidence", show=False),
        Binding("l", "session('confidence', 'low')", "Low confidence (next label)", key_display="h/m/l"),
        Binding("s", "session('skip')", "Skip cluster"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("t", "session('train')", "Train now"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, workspace: Workspace, colors: str = "truecolor",
                 settings: ClustersSettings | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.image_colors = colors
        self.settings = settings or ClustersSettings()
        self.session: ClustersSession | None = None
        self.progress_text = ""

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
        yield Footer()

    @property
    def model_path(self):
        return self.workspace.models_dir / VAE_FILE

    def on_mount(self) -> None:
        self.workspace.test  # load the test set here, not on the training thread  # noqa: B018
        if not self.model_path.exists():
            self.say("No VAE in this workspace yet: training one without labels…")
        else:
            self.say("Clustering the latent space…")
        self.prepare()

    def say(self, text: str) -> None:
        self.query_one("#message", TextPanel).set_text(text)

    # -- the model and the first clustering, off the UI thread -------------------------------------

    @work(thread=True, exclusive=True, group="vae")
    def prepare(self) -> None:
        pool = self.workspace.pool
        x = pool.as_float()
        if self.model_path.exists():
            model = VAEClassifier.load(self.model_path)
        else:
            model = self.settings.model()
            self.app.call_from_thread(self.add_class, "-training")

            def progress(epoch: int, epochs: int, step: int, steps: int, losses: dict) -> None:
                if step % 25 == 0 or step == steps:
                    self.app.call_from_thread(
                        self._progress, epochs * steps, (epoch - 1) * steps + step,
                        f"VAE without labels: epoch {epoch}/{epochs}, reconstruction {losses['reconstruction']:.1f}",
                    )

            pretrain(model, x, pool.n_classes, self.settings, progress=progress)
            model.save(self.model_path)
        plan = make_plan(model, x, pool.image_shape, self.settings, model.labelled_epochs_ + 1,
                         ranked=model.labelled_epochs_ > 0)
        self.app.call_from_thread(self._start, model, plan)

    def _progress(self, total: int, done: int, text: str) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.progress_text = text
        self.say(text)

    def _start(self, model: VAEClassifier, plan) -> None:
        self.remove_class("-training")
        self.progress_text = ""
        self.session = ClustersSession(self.workspace, model, plan=plan, settings=self.settings)
        self.show()

    # -- epochs ---------------------------------------------------------------------------------

    def act(self, action: Action) -> None:
        if self.session is None:
            return
        self.session.handle(action)  # committed before anything is drawn
        if self.session.due_epoch():
            self.train_epoch(self.session.snapshot())
        self.show()

    @work(thread=True, exclusive=True, group="epoch")
    def train_epoch(self, job: EpochJob) -> None:
        assert self.session is not None
        self.app.call_from_thread(self.add_class, "-training")

        def progress(step: int, steps: int, losses: dict) -> None:
            if step % 25 == 0 or step == steps:
                self.app.call_from_thread(
                    self._progress, steps, step,
                    f"epoch {job.epoch} with {int((job.labels >= 0).sum())} labelled images: "
                    f"reconstruction {losses['reconstruction']:.1f}, class term {losses['classification']:.3f}",
                )

        def cnn_progress(epoch: int, loss: float) -> None:
            self.app.call_from_thread(
                self._progress, self.settings.cnn_epochs, epoch,
                f"CNN on the spread labels: epoch {epoch}/{self.settings.cnn_epochs}, loss {loss:.3f}",
            )

        result = self.session.train(job, progress=progress, cnn_progress=cnn_progress)
        self.app.call_from_thread(self._epoch_done, job, result)

    def _epoch_done(self, job, result) -> None:
        assert self.session is not None
        self.session.apply(job, result)
        self.remove_class("-training")
        self.progress_text = ""
        self.show()

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
        self.query_one("#centre", PixelView).set_image(None if centre is None or v.training else centre.image)
        box = self.query_one("#strip-box", ImageBox)
        strip = None if centre is None or v.training else member_strip(
            v.members, box.content_size.width or 40, box.content_size.height or 5)
        self.query_one("#members", PixelView).set_image(strip)
        caption = Text()
        if centre is not None and not v.training:
            caption.append(f"nearest of its {len(centre.members)} members", style="dim")
        self.query_one("#strip-caption", TextPanel).set_text(caption)
        state = Text()
        state.append("clusters", style="bold")
        state.append(f"  epoch {v.epoch}, k={v.k}\n")
        if v.training:
            state.append("training the next epoch…\n", style="yellow")
        elif centre is not None:
            state.append(f"cluster {centre.path}", style="bold")
            state.append(f"  {len(centre.members)} images" + (f", level {centre.depth + 1}" if centre.depth else "") + "\n")
            if centre.guess is not None:
                state.append(f"model sees {names[centre.guess]} ({centre.guess_confidence:.0%})")
                if centre.uncertainty is not None:
                    state.append(f"  H{centre.uncertainty:.2f}", style="dim")
            state.append("\n")
        else:
            state.append("no centres left: t trains the next epoch\n\n", style="yellow")
        state.append(f"decided {v.position}/{v.per_epoch} this epoch, {v.queued} queued\n")
        state.append(f"centre labels spent {v.spent}\n")
        state.append("confidence ")
        for level in CONFIDENCE:
            state.append(f" {level[0]}:{CONFIDENCE[level]:g} ", style="bold reverse" if level == v.confidence else "dim")
        self.query_one("#state", TextPanel).set_text(state)
        self.query_one("#curve", TextPanel).set_text(Text("test accuracy\n", style="bold") + sparkline(v.history))
        counts = Text("labels spread per class\n", style="bold")
        counts.append_text(class_bars(names, v.propagated, width=12))
        self.query_one("#counts", TextPanel).set_text(counts)
        if v.training and self.progress_text:
            self.say(self.progress_text)
        else:
            self.say(v.message or "number keys label the centre, x no class (split), s skip, ? all keys")
