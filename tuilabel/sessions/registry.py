"""The modes, registered once: what the start screen, `label --mode`, `simulate --mode`, `train`,
`eval` and the help read.

Parts are named by import path (``"module:attribute"``) and imported on first use, so listing the
modes (the start screen, ``--help``) never loads torch. Adding a mode: a session module in
``sessions/``, a screen module in ``tui/``, a simulated labeler, and one `ModeSpec` here (see
ARCHITECTURE.md for the checklist).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import TuilabelError


def load(path: str) -> Any:
    """``"package.module:attribute"`` to the attribute."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass
class TrainRequest:
    """What `tuilabel train` hands a model's trainer."""

    epochs: int | None = None
    seed: int = 0
    device: str | None = None
    options: list[str] = field(default_factory=list)  # --set KEY=VALUE of the mode that owns the model
    extra: dict[str, Any] = field(default_factory=dict)  # the RBM's own flags (hidden, cd_k, ...)


@dataclass(frozen=True)
class ModelSpec:
    """A model a mode owns: `tuilabel train --model NAME` and `tuilabel eval` reach it here."""

    name: str
    help: str
    train: str | None = None  # "module:function(workspace, TrainRequest, progress) -> str", the line to print
    evaluate: str | None = None  # "module:function(workspace) -> list[str]", lines to print
    epochs_setting: str | None = None  # the mode's setting that `train --epochs N` sets
    confusion: str | None = None  # a CNN classifier file: `report` draws its confusion matrix, titled so


@dataclass(frozen=True)
class ModeSpec:
    name: str
    key: str  # on the start screen
    summary: str
    session: str | None  # None: not built yet
    settings: str | None
    screen: str | None
    labeler: str | None  # the simulated labeler's class, in tuilabel.simulate
    models: tuple[ModelSpec, ...] = field(default_factory=tuple)
    curve: bool = False  # its saved state (models/<mode>-state.json) keeps a learning curve for `report`
    samples: str | None = None  # `status`'s column title for the generated samples it stores
    measures_augment: bool = False  # its saved state records what augment=auto measured (review reuses it)

    @property
    def built(self) -> bool:
        return self.session is not None

    def session_class(self) -> Any:
        return load(self.session) if self.session else None

    def settings_class(self) -> Any:
        return load(self.settings) if self.settings else None

    def screen_class(self) -> Any:
        return load(self.screen) if self.screen else None

    def labeler_class(self) -> Any:
        return load(self.labeler) if self.labeler else None

    def make_settings(self, options: Any = (), **values: Any) -> Any:
        """The mode's settings from ``--set`` options (checked: a one-line error otherwise)."""
        cls = self.settings_class()
        if cls is None:
            raise TuilabelError(f"the {self.name} mode is not built yet")
        return cls.from_options(options, **values)

    def workspace_settings(self, workspace: Any, options: Any = ()) -> Any:
        """The mode's settings: those kept in the workspace's tuilabel.toml (``[<mode>]``, written by
        `label --save`), with ``--set`` options over them; a bad kept value is one line naming the file."""
        from .settings import parse_option

        saved = workspace.saved_settings(self.name)
        given = options if isinstance(options, dict) else dict(parse_option(text) for text in options)
        try:
            self.make_settings(saved)
        except TuilabelError as exc:
            raise TuilabelError(f"[{self.name}] in tuilabel.toml: {exc}", workspace.path / "tuilabel.toml") from None
        return self.make_settings({**saved, **given})


MODES: tuple[ModeSpec, ...] = (
    ModeSpec(
        "browse", "b", "the pool in random order (the baseline)",
        session="tuilabel.sessions.browse:BrowseSession", settings="tuilabel.sessions.browse:BrowseSettings",
        screen="tuilabel.tui.browse:BrowseScreen", labeler="tuilabel.simulate:ItemLabeler", curve=True,
    ),
    ModeSpec(
        "stream", "s", "an RBM plays a video of its samples",
        session="tuilabel.sessions.stream:StreamSession", settings="tuilabel.sessions.stream:StreamSettings",
        screen="tuilabel.tui.stream:StreamScreen", labeler="tuilabel.simulate:StreamWatcher",
        models=(
            ModelSpec("rbm", "the stream's RBM, trained without labels",
                      train="tuilabel.sessions.stream:train_rbm", evaluate="tuilabel.sessions.stream:evaluate"),
            ModelSpec("rbm-labels", "the RBM's label weights, offline from every stored stream frame",
                      train="tuilabel.sessions.stream:train_label_weights"),
        ),
        samples="stream frames",
    ),
    ModeSpec(
        "batch", "a", "a CNN pages through its most confusing",
        session="tuilabel.sessions.batch:BatchSession", settings="tuilabel.sessions.batch:BatchSettings",
        screen="tuilabel.tui.batch:BatchScreen", labeler="tuilabel.simulate:ItemLabeler",
        models=(
            ModelSpec("cnn", "the batch CNN on every human label, and the pool ranked by it",
                      train="tuilabel.sessions.batch:train_cnn", evaluate="tuilabel.sessions.batch:evaluate",
                      epochs_setting="epochs", confusion="batch CNN"),
        ),
        curve=True, measures_augment=True,
    ),
    ModeSpec(
        "clusters", "c", "label VAE cluster centres; labels spread",
        session="tuilabel.sessions.clusters:ClustersSession",
        settings="tuilabel.sessions.clusters:ClustersSettings",
        screen="tuilabel.tui.clusters:ClustersScreen", labeler="tuilabel.simulate:CentreJudge",
        models=(
            ModelSpec("vae", "the clusters mode's VAE and contrastive encoder, trained without labels",
                      train="tuilabel.sessions.clusters:train_vae", evaluate="tuilabel.sessions.clusters:evaluate",
                      epochs_setting="pretrain_epochs"),
            ModelSpec("clusters-cnn", "the clusters mode's CNN on the spread labels (its epochs train it)",
                      confusion="clusters CNN"),
        ),
        curve=True, samples="cluster centres", measures_augment=True,
    ),
    ModeSpec(
        "review", "r", "a second look where the model disagrees",
        session="tuilabel.sessions.review:ReviewSession", settings="tuilabel.sessions.review:ReviewSettings",
        screen="tuilabel.tui.review:ReviewScreen", labeler="tuilabel.simulate:Reviewer", curve=True,
    ),
)


def mode(name: str) -> ModeSpec:
    """The built mode called ``name``; a one-line error naming the modes otherwise."""
    spec = next((m for m in MODES if m.name == name), None)
    if spec is None:
        raise TuilabelError(f"no mode {name!r}; modes: {', '.join(m.name for m in MODES if m.built)}")
    if not spec.built:
        raise TuilabelError(f"the {name} mode is not built yet")
    return spec


def models() -> dict[str, tuple[ModeSpec, ModelSpec]]:
    """Every trainable or evaluable model by name, with the mode that owns it."""
    return {model.name: (m, model) for m in MODES for model in m.models}
