"""Mode settings, each declared once: type, default, range or choices, and a line of help.

A mode's settings are a dataclass of ``setting(...)`` fields that inherits `Settings`. The same
class is built from Python (``BatchSettings(strategy="margin")``), from ``--set KEY=VALUE`` on
`tuilabel label` and `tuilabel simulate` (`Settings.from_options`), and listed by
``--help-settings`` (`Settings.describe`). Every value is checked when the object is made, before
any work starts, and a wrong one is a `TuilabelError` that names the setting and what it accepts
(in the manner of scikit-learn's ``_parameter_constraints``).
"""

from __future__ import annotations

import dataclasses
import textwrap
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from ..errors import TuilabelError

S = TypeVar("S", bound="Settings")

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


LABELING = "while labeling"  # what a person chooses: the default group
MODEL_GROUP = "model"  # training hyper-parameters: what a benchmark or an expert tunes
GROUPS = (LABELING, MODEL_GROUP, "team")


def setting(
    default: Any,
    help: str,
    *,
    choices: Sequence[Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    group: str = LABELING,
) -> Any:
    """A declared setting: its default, a sentence of help, the values it accepts and its group
    (`LABELING`, what a person chooses, or `MODEL_GROUP`, a training hyper-parameter)."""
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None, "min": min, "max": max,
            "group": group}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class Settings:
    """Base of every mode's settings; subclasses are dataclasses of `setting` fields."""

    mode: ClassVar[str] = ""
    # named bundles of values (a seed's original behaviour): ``preset=NAME`` sets each value whose
    # setting was left at its default; a subclass with presets declares a ``preset`` setting
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        preset = getattr(self, "preset", "none")
        if preset in self.PRESETS:
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for key, value in self.PRESETS[preset].items():
                if getattr(self, key) == defaults[key]:
                    setattr(self, key, value)
        for f in dataclasses.fields(self):
            setattr(self, f.name, _check(f, hints[f.name], getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Checks across settings (a subclass adds its own); raise `TuilabelError`."""

    # -- from the command line ------------------------------------------------------------------

    @classmethod
    def from_options(cls: type[S], options: Mapping[str, Any] | Sequence[str] = (), **values: Any) -> S:
        """Settings from ``--set`` options (``{"k": "12"}`` or ``["k=12"]``) over ``values``."""
        if not isinstance(options, Mapping):
            options = dict(parse_option(text) for text in options)
        known = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        for key, raw in options.items():
            if key not in known:
                raise TuilabelError(f"unknown setting {key!r} for the {cls.mode} mode; it has: {', '.join(known)}")
            values[key] = _convert(key, hints[key], raw) if isinstance(raw, str) else raw
        return cls(**values)

    def changed(self) -> dict[str, Any]:
        """The settings that differ from their defaults (what a run records)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != f.default}

    def replace(self: S, **values: Any) -> S:
        return dataclasses.replace(self, **values)

    @classmethod
    def rows(cls) -> list[tuple[str, str, str, str, str]]:
        """Per setting, in groups (`GROUPS`): group, name, type and accepted values, default, help."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
            out.append((f.metadata.get("group", LABELING), f.name, f"{kind} {_accepts(f)}".strip(), repr(f.default),
                        f.metadata.get("help", "")))
        return sorted(out, key=lambda r: GROUPS.index(r[0]))

    @classmethod
    def describe(cls, width: int = 100) -> list[str]:
        """``--help-settings``: the settings under their groups' headings, each a line with its name,
        accepted values and default, then its help wrapped to ``width`` columns."""
        lines: list[str] = []
        group = None
        width = max(40, width)
        for g, name, kind, default, text in cls.rows():
            if g != group:
                group = g
                lines += ([""] if lines else []) + [{LABELING: "While labeling:", MODEL_GROUP: "Model (training hyper-"
                                                     "parameters):", "team": "Team:"}[g]]
            lines += textwrap.wrap(f"{name}  {kind}  default {default}", width, initial_indent="  ",
                                   subsequent_indent="        ", break_on_hyphens=False)
            lines += textwrap.wrap(text, width, initial_indent="      ", subsequent_indent="      ")
        return lines


@dataclasses.dataclass
class TeamSettings(Settings):
    """Settings of a mode that several annotators may run on one pool at once (batch, browse, review):
    concurrent sessions are handed different items (leases in the label store) unless overlap is asked."""

    overlap: int = setting(1, "annotators each item goes to (2 or more: independent opinions, for agreement)",
                           min=1, max=10, group="team")



def parse_option(text: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` to ``("KEY", "VALUE")``; anything else is a one-line error."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise TuilabelError(f"--set {text!r} must be KEY=VALUE")
    return key.strip(), value.strip()


def _accepts(f: dataclasses.Field) -> str:
    m = f.metadata
    if m.get("choices"):
        return "(" + " | ".join(str(c) for c in m["choices"]) + ")"
    lo, hi = m.get("min"), m.get("max")
    if lo is not None and hi is not None:
        return f"[{lo:g}, {hi:g}]"
    if lo is not None:
        return f">= {lo:g}"
    if hi is not None:
        return f"<= {hi:g}"
    return ""


def _convert(key: str, kind: Any, raw: str) -> Any:
    text = raw.strip()
    if kind is bool:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise TuilabelError(f"setting {key}={raw!r} is not a yes/no value: use true or false")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise TuilabelError(f"setting {key}={raw!r} is not {'an integer' if kind is int else 'a number'}") from None
    return text


def _check(f: dataclasses.Field, kind: Any, value: Any) -> Any:
    name = f.name
    if kind is bool:
        if not isinstance(value, bool):
            raise TuilabelError(f"setting {name}={value!r} must be true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TuilabelError(f"setting {name}={value!r} must be an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TuilabelError(f"setting {name}={value!r} must be a number")
        value = float(value)
    elif kind is str and not isinstance(value, str):
        raise TuilabelError(f"setting {name}={value!r} must be text")
    m = f.metadata
    if m.get("choices") is not None and value not in m["choices"]:
        raise TuilabelError(f"setting {name}={value!r} is not one of: {', '.join(map(str, m['choices']))}")
    if m.get("min") is not None and value < m["min"]:
        raise TuilabelError(f"setting {name}={value!r} must be at least {m['min']:g}")
    if m.get("max") is not None and value > m["max"]:
        raise TuilabelError(f"setting {name}={value!r} must be at most {m['max']:g}")
    return value
