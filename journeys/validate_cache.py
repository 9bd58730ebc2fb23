"""Fully validated journeys kept by the bytes they were validated from.

The same definitions are loaded again and again: a served process per step, every
Prefect flow run (a process of its own, every minute), the CLI's commands, a test suite
per module. Checking every template against every context is most of that cost (about
a second and a half for the shipped journeys), so `load_journeys` keeps what it
returned, keyed by a digest of everything the check reads: the journey files, the
folder's tracking plan, every file of the templates folder, and
JOURNEYFLOW_ENABLED_JOURNEYS (which journeys' overlaps count). A change to any byte is
another key; the journeys themselves are frozen models, safe to hand out again.

Kept twice: in the process, and on disk for the processes after it (`cache_dir`: a
file per key, as JSON, the newest few). On disk the key also holds a digest of the
code that checked them (every module of this package, the libraries the check uses
and Python's version): an upgrade or an edited validator is another key, so a result
of older code is never taken for a check of the new one. A file that cannot be read
or is not valid journeys is ignored and checked again; a cache folder that cannot be
written costs only the check. A failed check is kept nowhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from .config import enabled_journeys
from .errors import JourneyError
from .loader import journey_files
from .model import Journey
from .tracking import plan_path

if TYPE_CHECKING:
    from .validate import Report

CACHE_ENV = "JOURNEYFLOW_CACHE_DIR"
# A few sets at most (a team's folder, the shipped one, a test's): the oldest goes first.
_KEEP = 8
_kept: OrderedDict[str, tuple[Journey, ...]] = OrderedDict()
# Files on disk: a few teams' folders and versions, each some tens of kilobytes.
_DISK_KEEP = 32
# What the check reads besides this package, by distribution name.
_LIBRARIES = ("jinja2", "pydantic", "pyyaml", "babel", "phonenumbers")


def inputs_digest(paths: Sequence[str | Path], templates: Path) -> str | None:
    """The digest of what validating `paths` against `templates` reads; None when a
    file cannot be read (the check itself then says why)."""
    digest = hashlib.sha256(repr(enabled_journeys()).encode("utf-8", "surrogateescape"))
    files = list(journey_files(paths))
    if paths:
        first = Path(paths[0])
        files.append(plan_path(first if first.is_dir() else first.parent))
    if templates.is_dir():
        files += sorted(p for p in templates.rglob("*") if p.is_file())
    try:
        for path in files:
            digest.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
            digest.update(path.read_bytes() if path.is_file() else b"\0missing\0")
    except OSError:
        return None
    return digest.hexdigest()


def kept(key: str | None, validate: Callable[[], Report]) -> list[Journey]:
    """The journeys validated under `key`, else those `validate()` found (kept when it
    found no problem); a JourneyError listing every problem when it found some."""
    if key is not None and key in _kept:
        _kept.move_to_end(key)
        return list(_kept[key])
    found = _read(key) if key is not None else None
    if found is None:
        report = validate()
        if not report.ok:
            raise JourneyError(report.problems)
        found = tuple(report.journeys)
        if key is not None:
            _write(key, found)
    if key is not None:
        _kept[key] = found
        while len(_kept) > _KEEP:
            _kept.popitem(last=False)
    return list(found)


def cache_dir() -> Path | None:
    """Where validated journeys are kept between processes: JOURNEYFLOW_CACHE_DIR
    (`off`: nowhere), else $XDG_CACHE_HOME/journeyflow, else ~/.cache/journeyflow."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no passwd entry (some containers): no cache
            return None
    return Path(base) / "journeyflow"


@functools.cache
def code_digest() -> str:
    """The digest of the code a check runs: this package's modules, the libraries it
    checks with, and Python's version."""
    digest = hashlib.sha256(sys.version.encode())
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for name in _LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"\0{name}={version}".encode())
    return digest.hexdigest()


def _file(folder: Path, key: str) -> Path:
    both = hashlib.sha256(f"{key}\0{code_digest()}".encode()).hexdigest()
    return folder / f"validated-{both}.json"


def _read(key: str) -> tuple[Journey, ...] | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        stored = json.loads(_file(folder, key).read_bytes())
        items = stored["journeys"]
        # A file damaged (or cut short) since it was written is no result.
        if not isinstance(items, list) or stored["sha256"] != _sha256(items):
            return None
        return tuple(Journey.model_validate(item) for item in items)
    # pydantic's ValidationError is a ValueError; a hostile file may nest too deep.
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None


def _write(key: str, journeys: tuple[Journey, ...]) -> None:
    folder = cache_dir()
    if folder is None:
        return
    items = [j.model_dump(mode="json", by_alias=True) for j in journeys]
    # Only what reads back as the very same journeys is written.
    try:
        same = all(Journey.model_validate(i) == j for i, j in zip(items, journeys, strict=True))
    except (ValueError, TypeError):
        same = False
    if not same:
        return
    partial: Path | None = None
    try:
        target = _file(folder, key)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        folder.mkdir(parents=True, exist_ok=True)
        stored = {"sha256": _sha256(items), "journeys": items}
        partial.write_text(json.dumps(stored), encoding="utf-8")
        os.replace(partial, target)  # whole or not at all, whoever reads it meanwhile
        _prune(folder)
    except OSError:  # a folder that cannot be written costs only the check
        if partial is not None:
            with suppress(OSError):
                partial.unlink(missing_ok=True)


def _sha256(items: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("validated-*.json"), key=lambda p: p.stat().st_mtime)
    for old in files[:-_DISK_KEEP]:
        old.unlink(missing_ok=True)
