"""tuilabel: label images from the terminal with a model in the loop."""

from __future__ import annotations

import os

# oneDNN keeps every convolution it has compiled, up to 1,024 of them: the last batch of each round
# has a new size, so a long batch session grew by ~0.45 MB a round until that cap (hundreds of MB).
# 256 keeps what a round reuses (the same seconds a round: 37.8 against 39.7 on 2 cores) at a quarter
# of the memory; read when torch first convolves, so setting it here, before any model, is enough.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "256")

__version__ = "0.1.0"
