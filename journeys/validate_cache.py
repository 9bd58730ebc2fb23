"""Fully validated journeys kept by the bytes they were validated from.

The same process loads the same definitions again and again: a served process per
step, the CLI's commands, a test suite per module. Checking every template against
every context is most of that cost, so `load_journeys` keeps what it returned, keyed by
a digest of everything the check reads: the journey files, the folder's tracking plan,
every file of the templates folder, and JOURNEYFLOW_ENABLED_JOURNEYS (which journeys'
overlaps count). A change to any byte is another key; the
journeys themselves are frozen models, safe to hand out again.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import enabled_journeys
from .errors import JourneyError
from .loader import journey_files
from .model import Journey
from .tracking import plan_path

if TYPE_CHECKING:
    from .validate import Report

# A few sets at most (a team's folder, the shipped one, a test's): the oldest goes first.
_KEEP = 8
_kept: OrderedDict[str, tuple[Journey, ...]] = OrderedDict()


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
    report = validate()
    if not report.ok:
        raise JourneyError(report.problems)
    if key is not None:
        _kept[key] = tuple(report.journeys)
        while len(_kept) > _KEEP:
            _kept.popitem(last=False)
    return report.journeys
