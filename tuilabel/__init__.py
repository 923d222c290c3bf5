"""tuilabel: label images from the terminal with a model in the loop."""

from __future__ import annotations

__version__ = "0.1.0"
