"""Atomic, durable file writes for the outbox, one message at a time or a chunk at once.

A file is durable once its data and the directory entry naming it are on disk. One
message at a time that takes five fsyncs (body, meta, three directories). A chunk
writes all its temporary files first and makes them durable together, then renames
them all and makes the names durable together: on Linux with one ``syncfs`` each, so
a chunk costs two flushes of the file system however many messages it holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry itself is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(directory: Path, data: bytes, durable: bool = True) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def write_new(directory: Path, data: bytes) -> Path:
    """A temporary file holding ``data``, not yet flushed; cheaper than mkstemp's retries."""
    while True:
        path = directory / f".tmp-{secrets.token_hex(8)}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        os.close(fd)
        return path


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    ``durable`` also waits for the disk (fsync); a demo or test run may skip that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = write_temp(path.parent, data, durable)
    os.replace(temp, path)
    if durable:
        fsync_dir(path.parent)


def _load_syncfs() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return getattr(libc, "syncfs", None)
    except OSError:
        return None


_SYNCFS = _load_syncfs()


def flush(directory: Path, files: Iterable[Path], directories: Iterable[Path]) -> None:
    """Make ``files`` (their data) and the entries of ``directories`` durable.

    All of them live on the file system of ``directory``.
    """
    if _SYNCFS is not None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:  # type: ignore[operator]
                return
        finally:
            os.close(fd)
    # No syncfs (or it failed): one fsync per file and per directory.
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for path in directories:
        fsync_dir(path)
