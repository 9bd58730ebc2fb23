"""An import's rows checked in worker processes, the results in file order.

The importing process reads the file and writes to the database; checking the rows
(mapping the columns, reading phone numbers, validating) is most of the work besides,
and it needs nothing but the rows. So a large file's rows go, a chunk at a time, to a
pool of worker processes on the machine's other cores, and the importing process takes
the results back in the order the chunks went out. While every worker has a chunk
queued, the importing process checks the next chunk itself rather than wait: no
core idles, and at most `ahead` chunks are out at once, so memory stays flat however
long the file. A small file (`start_after` chunks or fewer) is checked in the process
itself: starting workers would take longer than the checking.

The workers are forked from multiprocessing's fork server, which imported the
checking code once (`processes.clean_context`). Until the first worker has answered, the
importing process checks the chunks itself. Workers ignore Ctrl-C: the importing
process gets it, cancels what is queued and waits for the chunks being checked, and
the same on any error: no worker outlives the import.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

from .import_gc import YOUNG
from .processes import clean_context, main_left_out

K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")

# The module the workers run: imported once by the fork server, not by every worker.
CHECKING_MODULE = "flows.import_check"


def default_workers() -> int:
    """One worker per core but the importing process's own, at least one, at most four."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1))


class CheckPool(Generic[T, R]):
    """`check(chunk)` for every chunk, results in order; a context manager that stops
    its workers when the block ends, however it ends."""

    def __init__(
        self, check: Callable[[T], R], workers: int, *, start_after: int = 2, ahead: int = 0
    ) -> None:
        self.check = check
        self.workers = workers
        self.start_after = start_after
        self.ahead = ahead or 4 * workers
        self._executor: ProcessPoolExecutor | None = None
        self._starter: threading.Thread | None = None
        self._ready: list[Future[bool]] = []

    def __enter__(self) -> CheckPool[T, R]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def map(self, chunks: Iterable[tuple[K, T]]) -> Iterator[tuple[K, T, R]]:
        """Each chunk with its result, in the order of `chunks`: (what stays in this
        process, the chunk that is checked, its result)."""
        pending: deque[tuple[K, T, Future[R] | _Done[R]]] = deque()
        out = 0  # chunks with the workers
        for number, (kept, chunk) in enumerate(chunks):
            if number == self.start_after and self.workers > 0:
                self._start()
            if out < self.ahead and self._running():
                assert self._executor is not None
                pending.append((kept, chunk, self._executor.submit(self.check, chunk)))
                out += 1
            else:
                pending.append((kept, chunk, _Done(self.check(chunk))))
            # Hand back what is done; wait only when too much is out.
            while pending and (pending[0][2].done() or len(pending) > self.ahead + 2):
                kept, chunk, result = pending.popleft()
                out -= isinstance(result, Future)
                yield kept, chunk, result.result()
        while pending:
            kept, chunk, result = pending.popleft()
            yield kept, chunk, result.result()

    def _start(self) -> None:
        # Starting a worker waits for the fork server, which imports the checking code
        # first (a second or so): meanwhile this process goes on checking chunks itself.
        def start() -> None:
            executor = ProcessPoolExecutor(
                self.workers, mp_context=clean_context(CHECKING_MODULE), initializer=_start_worker
            )
            self._executor = executor
            try:
                # The workers start here, one per submit (and the fork server first).
                with main_left_out():
                    self._ready = [executor.submit(_ready) for _ in range(self.workers)]
            except Exception:  # no worker could start: this process checks every chunk
                self._ready = []

        self._starter = threading.Thread(target=start, name="import-workers", daemon=True)
        self._starter.start()

    def _running(self) -> bool:
        if self._starter is None or self._starter.is_alive():
            return False
        return any(future.done() for future in self._ready)


class _Done(Generic[R]):
    """A chunk checked in this process, in the queue beside those with the workers."""

    __slots__ = ("value",)

    def __init__(self, value: R) -> None:
        self.value = value

    def done(self) -> bool:
        return True

    def result(self) -> R:
        return self.value


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker checks rows and nothing else: it may keep the collector's rarer passes
    # (see `import_gc`) for its whole life.
    gc.freeze()
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])


def _ready() -> bool:
    return True


__all__ = ["CheckPool", "default_workers"]
