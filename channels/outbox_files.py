"""Atomic, durable file writes for the outbox, one message at a time or a chunk at once.

A file is durable once its data and the directory entry naming it are on disk. One
message at a time that takes five fsyncs one after the other (body, meta, three
directories). A chunk writes all its temporary files first and makes their data
durable at once (one ``syncfs`` on Linux, else fsyncs side by side), then renames them
all and fsyncs the few directories: two waits for the disk per chunk however many
messages it holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeAlias

StrPath: TypeAlias = str | os.PathLike[str]


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


def write_new(directory: str, data: bytes) -> str:
    """A temporary file holding ``data``, not yet flushed; cheaper than mkstemp's retries.

    Paths are plain strings: a pathlib object per file costs more than the write.
    """
    path, fd = write_new_open(directory, data)
    os.close(fd)
    return path


# Temporary names: a random prefix per process and a counter, rather than fresh random
# bytes (a system call) per file. O_EXCL still refuses a name that exists.
_temp_prefix = ""
_temp_counter = itertools.count()


def _new_temp_prefix() -> None:
    global _temp_prefix
    _temp_prefix = f".tmp-{secrets.token_hex(6)}-"


_new_temp_prefix()


def write_new_open(directory: str, data: bytes) -> tuple[str, int]:
    """``write_new``, the file left open: ``flush`` syncs the descriptor itself instead
    of opening the file again by its name. The caller closes it."""
    while True:
        path = f"{directory}/{_temp_prefix}{next(_temp_counter)}"
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
        return path, fd


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    ``durable`` also waits for the disk (fsync); a demo or test run may skip that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = write_temp(path.parent, data, durable)
    os.replace(temp, path)
    if durable:
        fsync_dir(path.parent)


_FSYNC_THREADS = 16
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _after_fork() -> None:
    # A forked child has none of the parent's threads: it must start its own. Nor may
    # it name its temporary files as the parent goes on naming its own.
    global _pool
    _pool = None
    _new_temp_prefix()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _same_device(descriptors: Sequence[int]) -> bool:
    return len({os.fstat(fd).st_dev for fd in descriptors}) == 1


def _fsync_path(path: StrPath | int) -> None:
    if isinstance(path, int):  # a descriptor still open
        os.fsync(path)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return call


_syncfs = _load_syncfs()
# From this many files on, one syncfs beats an fsync each: every fsync ends in a cache
# flush of its own, where syncfs writes all of them and flushes the disk's cache once.
SYNCFS_FROM = 8


def syncfs(fd: int) -> bool:
    """Write out everything dirty on the file system holding ``fd``; False if unavailable.

    It errs on the side of more: other files' dirty data on that file system is written
    too. Linux reports write-back errors from syncfs since 5.8.
    """
    if _syncfs is None:
        return False
    if _syncfs(fd) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return True


def flush(files: Sequence[StrPath | int], directories: Iterable[StrPath] = ()) -> None:
    """Make ``files`` (their data; paths or open descriptors) and the entries of
    ``directories`` durable.

    Many open files on one file system are written with one ``syncfs``. Otherwise the
    fsyncs run side by side: the file system commits them together, where one after
    the other each would wait for a commit of its own.
    """
    global _pool
    paths = [*files, *directories]
    descriptors = [path for path in paths if isinstance(path, int)]
    many = len(descriptors) == len(paths) >= SYNCFS_FROM
    if many and _same_device(descriptors) and syncfs(descriptors[0]):
        return
    if len(paths) <= 1:
        for path in paths:
            _fsync_path(path)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_FSYNC_THREADS, thread_name_prefix="fsync")
    for _ in _pool.map(_fsync_path, paths):
        pass


_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def _plain_json(value: Any, indent: str) -> str | None:
    """``value`` as ``json.dumps(indent=2, ensure_ascii=False)`` writes it, or None
    for anything but dicts with string keys, lists, strings, ints, floats, bools, None.

    json's encoder with an indent is pure Python and costs more than the rest of a
    metadata file; this does the same for the simple values metadata holds.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return _encode_str(value)
    inner = indent + "  "
    if type(value) is dict:
        if not value:
            return "{}"
        items = []
        for key, item in value.items():
            if type(key) is not str:
                return None
            text = _plain_json(item, inner)
            if text is None:
                return None
            items.append(f"{inner}{_encode_str(key)}: {text}")
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if type(value) is list:
        if not value:
            return "[]"
        parts = [_plain_json(item, inner) for item in value]
        if any(part is None for part in parts):
            return None
        return "[\n" + ",\n".join(f"{inner}{part}" for part in parts) + "\n" + indent + "]"
    return None


_encode_any = json.JSONEncoder(ensure_ascii=False, default=str).encode
# The C function behind the encoder's strings, without its Python method in between.
_encode_key: Callable[[str], str] = getattr(json.encoder, "c_encode_basestring", None) or (
    json.encoder.encode_basestring
)


def dumps_lines(value: dict[str, Any]) -> str:
    """A dict as JSON with one top-level key per line, nested values on that line.

    Still easy to read, and the C encoder writes every value: a quarter of the cost of
    ``dumps_indented``, whose nesting only pure Python can write.
    """
    if not value:
        return "{}"
    lines = ",\n".join(f"  {_encode_key(k)}: {_encode_any(v)}" for k, v in value.items())
    return f"{{\n{lines}\n}}"


def dumps_indented(value: Any) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False, default=str)``, faster."""
    text = _plain_json(value, "")
    if text is None:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text
