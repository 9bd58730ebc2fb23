"""Where `diff` and `migrate` find the versions of a journey: the store's registry (what
ran: every version a process registered) first, else the journey's file, when the file
is at that version (a version about to be deployed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine

from journeys.config import definitions_dir, templates_dir
from journeys.errors import JourneyError, JourneyflowError, did_you_mean
from journeys.loader import journey_files, load_journey
from journeys.model import Journey
from journeys.store import JourneyRegistry, session_scope
from journeys.store.registry import stored_journey, stored_versions


class VersionsError(JourneyflowError):
    """A journey or one of its versions is neither in the store nor in the files."""


@dataclass(frozen=True)
class Found:
    journey: Journey
    source: str  # "store", or the file's path
    path: Path | None = None  # the file, when it came from one

    @property
    def from_file(self) -> bool:
        return self.path is not None


def journey_file(ref: str) -> tuple[str, Journey | None, Path | None]:
    """The journey's key, and its file's definition and path if there is one: `ref` is a
    path to a YAML file, or a key looked up in the journeys folder (files that do not
    load are passed over: `validate` names their problems)."""
    path = Path(ref)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long: no file, then
        is_file = False
    if ref.endswith((".yaml", ".yml")) or is_file:
        try:
            journey = load_journey(path)
        except FileNotFoundError:
            raise VersionsError(f"no such file: {ref}") from None
        except (JourneyError, OSError, ValueError) as exc:
            raise VersionsError(f"cannot read {ref}: {exc}") from None
        return journey.journey, journey, path
    for candidate in journey_files([definitions_dir()]):
        try:
            journey = load_journey(candidate)
        except (JourneyError, OSError):
            continue
        if journey.journey == ref:
            return ref, journey, candidate
    return ref, None, None


def find_version(
    conn: Connection, key: str, version: int, file: Journey | None, path: Path | None
) -> Found | None:
    stored = stored_journey(conn, key, version)
    if stored is not None:
        return Found(stored, "store")
    if file is not None and file.version == version:
        return Found(file, str(path), path)
    return None


def require_version(
    conn: Connection, key: str, version: int, file: Journey | None, path: Path | None
) -> Found:
    """The version, or VersionsError naming the versions there are."""
    found = find_version(conn, key, version, file, path)
    if found is not None:
        return found
    stored = stored_versions(conn, key)
    if not stored and file is None:
        raise VersionsError(
            f"unknown journey '{key}': not in the store and no file in {definitions_dir()}"
            + _known(conn, key)
        )
    there = [f"registered in the store: {', '.join(map(str, stored)) or 'none'}"]
    if file is not None:
        there.append(f"{path} is version {file.version}")
    raise VersionsError(f"journey '{key}' has no version {version} ({'; '.join(there)})")


def _known(conn: Connection, key: str) -> str:
    from sqlalchemy import distinct, select

    from journeys.store.tables import journey_version_t

    keys = list(conn.execute(select(distinct(journey_version_t.c.journey))).scalars())
    return did_you_mean(key, keys) if keys else ""


def register_file_version(engine: Engine, found: Found) -> None:
    """Validate a version that came from its file, with its templates, and register it,
    as every process does with the journeys it runs on its first run."""
    if found.path is None:
        return
    from journeys.validate import load_journeys

    journey = load_journeys([found.path], templates_dir())[0]
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [journey])
