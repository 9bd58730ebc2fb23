"""Worker processes started clean: from multiprocessing's fork server, without the
program's main module.

A fork of a busy process could inherit a database connection's socket, the state of
an SQLite lock it does not hold, or a lock another thread held. So workers are
forked from the fork server: a clean process that imported the module the workers
run once (`preload`), with no thread and no connection of the process that starts
them. Where there is no fork server (not on Linux), they are spawned.
"""

from __future__ import annotations

import multiprocessing
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import ForkServerContext, SpawnContext

# Every module asked for so far: a process has one fork server, started by the first
# kind of worker it runs, and each later kind should find its own module imported too.
_PRELOAD: list[str] = []


def clean_context(*preload: str) -> ForkServerContext | SpawnContext:
    """The context to start workers from; its fork server first imports `preload`
    (and what earlier calls asked for)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        _PRELOAD.extend(m for m in preload if m not in _PRELOAD)
        # Takes effect when this process starts its fork server, the first time.
        context.set_forkserver_preload(list(_PRELOAD))
        return context
    return multiprocessing.get_context("spawn")


@contextmanager
def main_left_out() -> Iterator[None]:
    """While workers start, `__main__` is an empty module.

    multiprocessing makes each new process import the program's main module again
    (as `__mp_main__`), so that what was defined there can be unpickled: for
    `journeyflow import` that is the whole command line, a second of every worker's
    start, before its first chunk. The workers need nothing of it (they run the
    preloaded module), so they are not told of it. Only the starting thread swaps
    the module, for the few milliseconds the starts take; nothing of this package
    reads `__main__`."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main
