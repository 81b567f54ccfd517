"""Starting a hub process quickly."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quick_start() -> Iterator[None]:
    """Around a process's import and building of the hub. Python's cycle collector made
    three full passes over every object the imports created while a hub started (0.23 s
    of a 1.4 s start on the machine that measured it): it is off meanwhile, and what
    start-up made, which lives as long as the process, is then frozen out of its later
    passes (`gc.freeze`) before it is turned back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
