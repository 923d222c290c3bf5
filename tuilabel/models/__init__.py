"""Models with no UI imports: each usable from a notebook on its own."""

from __future__ import annotations

from .linear import SoftmaxRegression

__all__ = ["SoftmaxRegression"]
