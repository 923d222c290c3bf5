"""Memory a long session gives back: after each model update, the C heap's free pages go back to the
system (glibc keeps what torch freed, so a session's resident memory climbs with every round though
nothing is kept: +250 MB over 95 batch rounds, back to +9 MB with this; `benchmarks/bench_soak.py`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return None


def give_back() -> None:
    """Return the heap's free pages to the system, where the C library can (a few milliseconds)."""
    trim = _trim()
    if trim is not None:
        trim(0)
