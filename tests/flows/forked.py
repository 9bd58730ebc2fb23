"""Test processes forked from multiprocessing's fork server instead of fresh interpreters.

The process tests start dozens of dispatchers; a fresh interpreter spends a second of
CPU on the same imports each time. The fork server imports them once (`preload`) and
forks each process from there: a clean process, no thread and no connection of the
test's, killed and waited for like any other. A forked process talks over a pipe:
the lines a script run on its own would print, and the lines it would read.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection

from flows.processes import clean_context, main_left_out

Main = Callable[[list[str], Connection | None], None]


class Talk:
    """A process's side of the lines: over the pipe when forked, else stdout and stdin
    (the script run on its own)."""

    def __init__(self, link: Connection | None) -> None:
        self.link = link

    def say(self, line: str) -> None:
        if self.link is not None:
            self.link.send(line)
        else:
            print(line, flush=True)

    def wait(self) -> None:
        """Until the test says go."""
        if self.link is not None:
            self.link.recv()
        else:
            sys.stdin.readline()


def preload(*modules: str) -> None:
    """Ask for `modules` in the fork server. Called when the tests are collected, so
    whichever test of the process starts the fork server first, they are imported there."""
    clean_context(*modules)


def _run(main: Main, argv: list[str], environ: dict[str, str], link: Connection) -> None:
    # The starting test's environment: the fork server's is that of whichever test
    # started it.
    os.environ.clear()
    os.environ.update(environ)
    try:
        main(argv, link)
    except BaseException:
        link.send("error: " + traceback.format_exc())
        raise SystemExit(1) from None


class Forked:
    """`main(argv, link)` in a process forked from the fork server."""

    def __init__(self, main: Main, argv: list[str]) -> None:
        context = clean_context()
        self.link, theirs = context.Pipe()
        with main_left_out():
            self.process = context.Process(
                target=_run, args=(main, argv, dict(os.environ), theirs), daemon=True
            )
            self.process.start()
        theirs.close()

    def send(self, line: str) -> None:
        self.link.send(line)

    def next(self, timeout: float) -> str | None:
        """Its next line; None once it has closed its end or said nothing in time."""
        try:
            return str(self.link.recv()) if self.link.poll(timeout) else None
        except (EOFError, OSError):
            return None

    def running(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.join()
        self.link.close()

    def finish(self, timeout: float) -> str:
        """Its last line, once it has ended (within `timeout` seconds in all); it must end
        with exit code 0. Every line may take the time left: under load, the work
        between two lines can take many seconds."""
        deadline = time.monotonic() + timeout
        last = ""
        while (line := self.next(max(0.0, deadline - time.monotonic()))) is not None:
            last = line
        self.process.join(60)
        assert self.process.exitcode == 0, f"process failed ({self.process.exitcode}): {last}"
        return last
