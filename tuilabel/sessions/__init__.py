"""Headless labeling sessions, one module per mode, on one contract (`base.BaseSession`)."""

from __future__ import annotations

from .base import Action, BaseSession, CurvePoint, SimClock
from .settings import Settings

__all__ = ["Action", "BaseSession", "CurvePoint", "Settings", "SimClock"]
