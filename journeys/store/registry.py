"""The journeys the store knows: every registered version, and the latest per key.

Enrollments are decided by the version they entered with; new enrollments use the
latest. A definition that changed without a new `version` is refused, because the
store cannot tell an edit from a mistake and in-flight customers would silently
follow different rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, tuple_
from sqlmodel import Session

from ..errors import StoreError, UnknownJourneyError
from ..model import Journey
from .sql import insert
from .tables import journey_version_t


def canonical_definition(journey: Journey) -> dict[str, Any]:
    # Whether a journey runs is operations, not behaviour: switching it on or off is no
    # new version (and definitions stored before the field existed keep their checksum).
    result: dict[str, Any] = journey.model_dump(mode="json", by_alias=True, exclude={"enabled"})
    # An action that uses none of the fields added since (an A/B test block, timing by
    # a date or a send window, attachments) dumps as it did before they existed, so the definitions
    # stored then keep their checksum.
    for stage in result["stages"]:
        for action in stage["on_enter"]:
            for name, default in _ADDED_LATER.items():
                if name in action and action[name] == default:
                    del action[name]
    return result


_ADDED_LATER: dict[str, Any] = {
    "ab_test": None,
    "before": None,
    "of": None,
    "if_past": "skip",
    "at": None,
    "on": None,
    "attach": None,
}


def checksum(journey: Journey) -> str:
    """sha256 of the canonical JSON of the definition (sorted keys, no whitespace)."""
    text = json.dumps(
        canonical_definition(journey), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


class JourneyRegistry:
    """Journeys by key and version, as registered in the store.

    `keys` are the journeys this process runs (the ones passed to `register`); older
    versions of them are read from the store on demand, when an enrollment needs one.
    """

    def __init__(self) -> None:
        self._versions: dict[tuple[str, int], Journey] = {}
        self._latest: dict[str, Journey] = {}

    @property
    def keys(self) -> list[str]:
        return sorted(self._latest)

    def latest(self, key: str) -> Journey:
        try:
            return self._latest[key]
        except KeyError:
            raise UnknownJourneyError(key, self._latest) from None

    def get(self, key: str, version: int) -> Journey:
        journey = self._versions.get((key, version))
        if journey is None:
            raise StoreError(
                f"journey '{key}' version {version} is not loaded; call load_versions first"
            )
        return journey

    def __contains__(self, key: object) -> bool:
        return key in self._latest

    def register(self, session: Session, journeys: Iterable[Journey]) -> list[tuple[str, int]]:
        """Store every journey's definition under its key and version; returns the new ones.

        Raises StoreError when a key and version is already stored with another definition.
        """
        conn = session.connection()
        given: dict[tuple[str, int], tuple[Journey, str]] = {}
        for journey in journeys:
            key = (journey.journey, journey.version)
            digest = checksum(journey)
            if key in given and given[key][1] != digest:
                raise StoreError(
                    f"journey '{key[0]}' version {key[1]} is given twice with different "
                    "definitions; give each change its own version"
                )
            given[key] = (journey, digest)
        if not given:
            return []
        stored = {
            (row.journey, row.version): row.checksum
            for row in conn.execute(
                select(
                    journey_version_t.c.journey,
                    journey_version_t.c.version,
                    journey_version_t.c.checksum,
                ).where(journey_version_t.c.journey.in_(sorted({k for k, _ in given})))
            )
        }
        changed = [k for k, (_, digest) in given.items() if k in stored and stored[k] != digest]
        if changed:
            names = ", ".join(f"'{k}' version {v}" for k, v in sorted(changed))
            raise StoreError(
                f"journey {names} changed since it was registered, but its version did not; "
                "bump `version` in the definition (customers already enrolled keep the old one)"
            )
        now = datetime.now(UTC)
        new = [k for k in given if k not in stored]
        if new:
            # Another process may register the same version at the same moment.
            conn.execute(
                insert(conn, journey_version_t).on_conflict_do_nothing(
                    index_elements=["journey", "version"]
                ),
                [
                    {
                        "journey": k[0],
                        "version": k[1],
                        "checksum": given[k][1],
                        "definition": canonical_definition(given[k][0]),
                        "registered_at": now,
                    }
                    for k in sorted(new)
                ],
            )
        for key, (journey, _) in given.items():
            self._versions[key] = journey
        self._refresh_latest(conn, {k for k, _ in given})
        return sorted(new)

    def _refresh_latest(self, conn: Connection, keys: set[str]) -> None:
        """The latest version per key is the highest one stored, whoever registered it."""
        rows = conn.execute(
            select(journey_version_t.c.journey, journey_version_t.c.version).where(
                journey_version_t.c.journey.in_(sorted(keys))
            )
        ).all()
        highest: dict[str, int] = {}
        for key, version in rows:
            highest[key] = max(version, highest.get(key, 0))
        self.load_versions(conn, set(highest.items()))
        for key, version in highest.items():
            self._latest[key] = self._versions[(key, version)]

    def load_versions(self, conn: Connection, wanted: Iterable[tuple[str, int]]) -> None:
        """Read the definitions of these versions from the store, if not loaded yet."""
        missing = {k for k in wanted if k not in self._versions}
        if not missing:
            return
        rows = conn.execute(
            select(
                journey_version_t.c.journey,
                journey_version_t.c.version,
                journey_version_t.c.definition,
            ).where(
                tuple_(journey_version_t.c.journey, journey_version_t.c.version).in_(
                    sorted(missing)
                )
            )
        ).all()
        for key, version, definition in rows:
            self._versions[(key, version)] = Journey.model_validate(definition)
        still = missing - set(self._versions)
        if still:
            names = ", ".join(f"'{k}' version {v}" for k, v in sorted(still))
            raise StoreError(f"journey {names} is not registered in the store")


def stored_versions(conn: Connection, key: str) -> list[int]:
    """The versions of journey `key` registered in the store, oldest first."""
    t = journey_version_t.c
    return [
        v for (v,) in conn.execute(select(t.version).where(t.journey == key).order_by(t.version))
    ]


def stored_journey(conn: Connection, key: str, version: int) -> Journey | None:
    """The definition registered under this key and version, or None."""
    t = journey_version_t.c
    definition = conn.execute(
        select(t.definition).where(t.journey == key, t.version == version)
    ).scalar_one_or_none()
    return None if definition is None else Journey.model_validate(definition)
