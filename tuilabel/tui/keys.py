"""The person's own keys: ``[keys]`` in the workspace's tuilabel.toml maps a binding's id to keys.

Every binding of the screens has an id named for what it does (``undo``, ``unsure``, ``page``,
``class-3`` for the key of class 3, ...), the same in every mode, so that one line remaps it
everywhere::

    [keys]
    undo = "u"
    class-0 = "a"
    class-1 = "s"

Checked before the app starts, with one line naming tuilabel.toml for an unknown id, a key Textual
does not know, or two actions of one screen on the same key; applied through Textual's keymap, so
the footer shows the person's keys, and the ``?`` help lists them.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Iterable, Sequence
from typing import Any

from textual.binding import Binding, BindingType
from textual.keys import Keys, _character_to_key

_CALL = re.compile(r"^(\w+)\((.*)\)$")


def binding_id(action: str) -> str:
    """A binding's id from its action: ``session('undo')`` -> ``undo``, ``session('confidence',
    'high')`` -> ``confidence-high``, ``app.quit`` -> ``quit``, ``open_mode('batch')`` ->
    ``open_mode-batch``."""
    action = action.removeprefix("app.")
    m = _CALL.match(action)
    if not m:
        return action
    args = [a.strip().strip("'\"") for a in m.group(2).split(",") if a.strip()]
    return "-".join(args if m.group(1) == "session" else [m.group(1), *args])


def with_ids(bindings: Iterable[Binding]) -> list[BindingType]:
    """``bindings`` with an id each (its own, else one from its action)."""
    return [b if b.id else dataclasses.replace(b, id=binding_id(b.action)) for b in bindings]


_MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_NAMES = frozenset({k.value for k in Keys} | {_character_to_key(c) for c in string.punctuation} | {"space"})


def _known_key(key: str) -> bool:
    *modifiers, base = key.strip().split("+")
    if not base or any(m not in _MODIFIERS for m in modifiers):
        return False
    if len(base) == 1:
        return base in string.printable and not base.isspace()
    return base in _NAMES


def normalise(key: str) -> str:
    """A key as Textual names it (``?`` -> ``question_mark``)."""
    key = key.strip()
    return _character_to_key(key) if len(key) == 1 and not key.isalnum() else key


def check_keymap(keys: Any, screens: Sequence[tuple[str, Sequence[Binding]]], where: Any) -> dict[str, str]:
    """``[keys]`` checked against the bindings of ``screens`` (name, bindings): the keymap to apply."""
    from ..errors import TuilabelError

    if not isinstance(keys, dict):
        raise TuilabelError("[keys] must be a table of action = \"key\" lines", where)
    known = sorted({b.id for _, bindings in screens for b in bindings if b.id and not b.system})
    keymap: dict[str, str] = {}
    for action, value in keys.items():
        if action not in known:
            raise TuilabelError(f"[keys] {action}: no such action; the actions are {', '.join(known)}", where)
        if not isinstance(value, str) or not all(_known_key(k) for k in value.split(",")):
            raise TuilabelError(f"[keys] {action} = {value!r}: not a key (a letter, a digit, a name such as "
                                "f5, space, enter, or ctrl+x; several comma-separated)", where)
        keymap[action] = ",".join(normalise(k) for k in value.split(","))
    for screen, bindings in screens:
        owner: dict[str, str] = {}
        for b in bindings:
            if b.system or not b.id:
                continue
            for key in keymap.get(b.id, b.key).split(","):
                key = normalise(key)
                if owner.setdefault(key, b.id) != b.id:
                    raise TuilabelError(f"[keys]: {key!r} would do two things on the {screen} screen "
                                        f"({owner[key]} and {b.id})", where)
    return keymap


def shown_keys(binding: Binding, keymap: dict[str, str], display: Any) -> str:
    """The keys a person presses for ``binding`` as the help lists them (their own where remapped)."""
    if binding.id and binding.id in keymap:
        return ", ".join(display(Binding(k, "")) for k in keymap[binding.id].split(","))
    return binding.key_display or ", ".join(display(Binding(k, "")) for k in binding.key.split(","))
