"""Headless labeling sessions, one module per mode."""

from __future__ import annotations

from .base import Action, BaseSession, CurvePoint, SimClock

__all__ = ["Action", "BaseSession", "CurvePoint", "SimClock"]
