"""Fewer passes of Python's cycle collector while an import runs.

An import makes and drops millions of small objects (a row's cells, its record, the
parameters the driver gets), freed by their reference counts: hardly any is part of
a reference cycle (a batch's session may be, not a row). The collector counts them
all the same: every 700 new containers it walks the youngest objects, and every few
hundred thousand the whole heap, every module and class of the libraries included.
Measured on 100,000 customers and their consent, that was seconds of the importing
process's time. While an import runs (any number at once, in threads), the young
objects are walked every `YOUNG` new containers instead, and what existed before the
first import started is left out of the full passes (`gc.freeze`); both are undone
when the last one ends. Cycles made meanwhile are still collected, later.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000

_lock = threading.Lock()
_running = 0
_before: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def rarer_collections() -> Iterator[None]:
    global _running, _before
    with _lock:
        if _running == 0:
            _before = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(YOUNG, _before[0]), *_before[1:])
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.set_threshold(*_before)
                gc.unfreeze()


__all__ = ["rarer_collections"]
