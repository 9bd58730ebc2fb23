"""Journey versions in the store: refused silent edits, kept old versions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine

from journeys.config import definitions_dir
from journeys.errors import StoreError
from journeys.loader import journey_files, load_journey
from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    checksum,
    session_scope,
)
from journeys.store.registry import canonical_definition

if TYPE_CHECKING:
    from conftest import Peek

H = timedelta(hours=1)


def _v2(make_journey: Callable[..., Journey]) -> Journey:
    stages = [dict(s) for s in make_journey().model_dump(by_alias=True, mode="json")["stages"]]
    stages[0]["on_enter"] = [{"email": "welcome_v2"}]
    stages[1]["on_enter"] = [{"email": "thanks_v2"}]
    return make_journey(version=2, stages=stages)


def test_registering_again_is_a_no_op(
    engine: Engine, make_journey: Callable[..., Journey], peek: Peek
) -> None:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        assert registry.register(session, [make_journey()]) == [("onboarding", 1)]
    with session_scope(engine) as session:
        assert JourneyRegistry().register(session, [make_journey()]) == []
    [row] = peek.rows("journey_version")
    assert row["checksum"] == checksum(make_journey())
    assert row["definition"]["journey"] == "onboarding"


def test_a_changed_definition_without_a_new_version_is_refused(
    engine: Engine, make_journey: Callable[..., Journey], peek: Peek
) -> None:
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [make_journey()])
    edited = make_journey(name="Onboarding, reworded")
    with pytest.raises(StoreError, match="bump `version`"), session_scope(engine) as session:
        JourneyRegistry().register(session, [edited])
    with pytest.raises(StoreError, match="given twice"), session_scope(engine) as session:
        JourneyRegistry().register(
            session, [make_journey(version=3), edited.model_copy(update={"version": 3})]
        )
    assert [r["version"] for r in peek.rows("journey_version")] == [1]


def test_enrollments_keep_the_version_they_entered_with(
    engine: Engine,
    make_journey: Callable[..., Journey],
    make_event: Callable[..., IncomingEvent],
    peek: Peek,
    t0: Any,
) -> None:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [make_journey()])
        apply_events(session, registry, [make_event("account.created", "old", 0 * H)], t0 + H)

    # A new process knows only version 2; the old enrollment's version comes from the store.
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        assert registry.register(session, [_v2(make_journey)]) == [("onboarding", 2)]
    assert registry.latest("onboarding").version == 2
    with session_scope(engine) as session:
        apply_events(
            session,
            registry,
            [
                make_event("order.completed", "old", 2 * H),
                make_event("account.created", "new", 2 * H),
            ],
            t0 + 3 * H,
        )
    versions = {e["customer_id"]: e["version"] for e in peek.rows("enrollment")}
    ids = {c["external_id"]: c["id"] for c in peek.rows("customer")}
    assert versions == {ids["old"]: 1, ids["new"]: 2}
    templates = {(a["customer_id"], a["template"]) for a in peek.rows("action_run")}
    assert (ids["old"], "thanks") in templates  # version 1 still speaks for `old`
    assert (ids["new"], "welcome_v2") in templates
    assert [r["version"] for r in peek.rows("journey_version")] == [1, 2]


def test_the_latest_version_is_the_highest_stored(
    engine: Engine, make_journey: Callable[..., Journey]
) -> None:
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [_v2(make_journey)])
    stale = JourneyRegistry()
    with session_scope(engine) as session:
        stale.register(session, [make_journey()])
    assert stale.latest("onboarding").version == 2
    assert stale.keys == ["onboarding"]


def _journeys() -> list[Journey]:
    return [load_journey(p) for p in journey_files([definitions_dir()])]


def test_stored_definitions_read_back_identically(make_journey: Callable[..., Journey]) -> None:
    for journey in [make_journey(), *_journeys()]:
        again = Journey.model_validate(canonical_definition(journey))
        assert checksum(again) == checksum(journey), journey.journey
