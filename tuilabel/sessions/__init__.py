"""Headless labeling sessions, one module per mode, on one contract (`base.BaseSession`).

The names below are imported on first use, so that reading the registry (`tuilabel --help`, the
start screen) does not load the models and torch with them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Action, BaseSession, CurvePoint, SimClock
    from .settings import Settings

__all__ = ["Action", "BaseSession", "CurvePoint", "Settings", "SimClock"]
_WHERE = {"Action": ".base", "BaseSession": ".base", "CurvePoint": ".base", "SimClock": ".base",
          "Settings": ".settings"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
