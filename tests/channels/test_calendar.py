"""The calendar file of an event email: read back with the library, times, updates,
cancellation, and hostile event data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.calendar import CalendarError, calendar_file
from journeys.templating.context import CompanyContext

BERLIN = ZoneInfo("Europe/Berlin")
COMPANY: CompanyContext = {
    "name": "Beispielhandel GmbH",
    "address": "Musterstraße 1, 10115 Berlin",
    "website": "https://www.beispielhandel.de",
    "support_email": "service@beispielhandel.de",
    "registered_office": None,
    "register_court": None,
    "register_number": None,
    "managing_directors": None,
    "vat_id": None,
    "privacy_url": None,
    "imprint_url": None,
}
SPEC = {
    "uid": "event.event_id",
    "starts_at": "event.starts_at",
    "ends_at": "event.ends_at",
    "duration": "1h",
    "title": "event.event_name",
    "location": "event.location",
}
CANCEL = {"uid": "event.event_id", "method": "cancel", "title": "event.event_name"}


def _event(occurred_at: str = "2026-03-01T10:00:00+00:00", **data: Any) -> dict[str, Any]:
    base = {"event_id": "e1", "event_name": "Laptop-Sprechstunde", "location": "Berlin"}
    return {"type": "registration.created", "occurred_at": occurred_at, "data": base | data}


def _build(spec: dict[str, Any], event: dict[str, Any], customer: str = "c1") -> bytes:
    found = calendar_file(
        spec,
        event=event,
        journey="event_registration",
        customer_id=customer,
        attendee="max@example.com",
        attendee_name="Max Muster",
        zone=BERLIN,
        subject="Ihre Anmeldung ist bestätigt",
        company=COMPANY,
        fallback_stamp=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert found is not None
    assert found.filename == "invite.ics"
    return found.content


def _vevent(content: bytes) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(content)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def test_the_entry_has_the_events_times_title_place_and_organizer() -> None:
    calendar, event = _vevent(
        _build(
            SPEC, _event(starts_at="2026-03-20T18:00:00+01:00", ends_at="2026-03-20T20:00:00+01:00")
        )
    )
    assert calendar["METHOD"] == "REQUEST"
    assert event.decoded("DTSTART") == datetime(2026, 3, 20, 17, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 3, 20, 19, 0, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Laptop-Sprechstunde"
    assert str(event["LOCATION"]) == "Berlin"
    assert str(event["ORGANIZER"]) == "mailto:service@beispielhandel.de"
    assert event["ORGANIZER"].params["CN"] == "Beispielhandel GmbH"
    assert str(event["ATTENDEE"]) == "mailto:max@example.com"
    assert event["UID"].endswith("@www.beispielhandel.de")
    assert "max" not in event["UID"] and "c1" not in event["UID"]


def test_a_time_without_offset_is_read_in_the_customers_zone_across_the_dst_change() -> None:
    # Berlin leaves summer time at 03:00 on 25 October 2026: 22:00 is UTC+2, 06:00 UTC+1.
    _, event = _vevent(
        _build(SPEC, _event(starts_at="2026-10-24T22:00:00", ends_at="2026-10-25T06:00:00"))
    )
    assert event.decoded("DTSTART") == datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 10, 25, 5, 0, tzinfo=UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=9)


def test_a_time_in_another_zone_keeps_its_instant_and_a_missing_end_takes_the_duration() -> None:
    _, event = _vevent(_build(SPEC, _event(starts_at="2026-07-01T09:30:00-04:00")))
    assert event.decoded("DTSTART") == datetime(2026, 7, 1, 13, 30, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 7, 1, 14, 30, tzinfo=UTC)


def test_a_moved_event_updates_the_same_entry_and_a_retry_is_the_same_bytes() -> None:
    created = _event(starts_at="2026-03-20T18:00:00+01:00")
    moved = _event("2026-03-02T08:00:00+00:00", starts_at="2026-03-27T18:00:00+01:00")
    first = _build(SPEC, created)
    assert _build(SPEC, created) == first  # a retried send is identical
    _, before = _vevent(first)
    _, after = _vevent(_build(SPEC, moved))
    assert after["UID"] == before["UID"]
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("DTSTART") == datetime(2026, 3, 27, 17, 0, tzinfo=UTC)
    _, other = _vevent(_build(SPEC, created, customer="c2"))
    assert other["UID"] != before["UID"]  # another customer's registration


def test_a_cancellation_removes_the_same_entry() -> None:
    _, created = _vevent(_build(SPEC, _event(starts_at="2026-03-20T18:00:00+01:00")))
    cancel = {
        "type": "registration.cancelled",
        "occurred_at": "2026-03-05T12:00:00Z",
        "data": {"event_id": "e1", "event_name": "Laptop-Sprechstunde"},
    }
    calendar, event = _vevent(_build(CANCEL, cancel))
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["UID"] == created["UID"]
    assert event["SEQUENCE"] > created["SEQUENCE"]


def test_without_the_registration_or_its_date_there_is_no_file() -> None:
    common = dict(
        journey="j",
        customer_id="c",
        attendee=None,
        attendee_name="",
        zone=BERLIN,
        subject="s",
        company=COMPANY,
        fallback_stamp=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert calendar_file(SPEC, event=None, **common) is None  # type: ignore[arg-type]
    no_date = _event()
    assert calendar_file(SPEC, event=no_date, **common) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"starts_at": "next tuesday"}, "event.starts_at is not an ISO 8601 date"),
        ({"starts_at": "2026-03-20T18:00:00Z", "ends_at": "2026-03-19T18:00:00Z"}, "is before"),
        ({"starts_at": "9999-12-31T23:30:00+00:00"}, "calendar"),
        ({"starts_at": "2026-03-20T18:00:00Z", "event_name": {"x": 1}}, "expected text"),
    ],
)
def test_garbage_is_a_clear_error(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(CalendarError, match=reason):
        _build(SPEC, _event(**data))


def test_line_breaks_cannot_add_lines_to_the_file() -> None:
    hostile = "Talk\r\nATTENDEE:mailto:evil@example.com\r\nX-INJECTED:1"
    content = _build(
        SPEC, _event(starts_at="2026-03-20T18:00:00Z", event_name=hostile, location="A\nB;C,D")
    )
    _, event = _vevent(content)
    assert b"\r\nX-INJECTED" not in content
    assert len(event.get("ATTENDEE") if isinstance(event.get("ATTENDEE"), list) else [1]) == 1
    assert str(event["SUMMARY"]) == "Talk ATTENDEE:mailto:evil@example.com X-INJECTED:1"
    assert str(event["LOCATION"]) == "A B;C,D"


_values = st.one_of(
    st.text(max_size=3000),
    st.integers(),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.datetimes().map(lambda d: d.isoformat()),
)


@settings(max_examples=300, deadline=None)
@given(
    starts_at=_values,
    ends_at=_values,
    name=_values,
    location=_values,
    uid=_values,
)
def test_any_event_data_is_a_file_that_reads_back_or_a_clear_error(
    starts_at: Any, ends_at: Any, name: Any, location: Any, uid: Any
) -> None:
    data = {
        "starts_at": starts_at,
        "ends_at": ends_at,
        "event_name": name,
        "location": location,
        "event_id": uid,
    }
    event = {"type": "registration.created", "occurred_at": "2026-10-01T10:00:00Z", "data": data}
    try:
        found = calendar_file(
            SPEC,
            event=event,
            journey="j",
            customer_id="c",
            attendee="a@example.com",
            attendee_name="A",
            zone=BERLIN,
            subject="s",
            company=COMPANY,
            fallback_stamp=datetime(2026, 1, 1, tzinfo=UTC),
        )
    except CalendarError as exc:
        assert str(exc).startswith("calendar ")
        return
    if found is None:
        return
    calendar, entry = _vevent(found.content)
    assert len(calendar.walk("VEVENT")) == 1
    assert len(str(entry["SUMMARY"])) <= 250
    assert "\n" not in str(entry["SUMMARY"]) and "\r" not in str(entry["SUMMARY"])
    # Every line of the file is a property of the entry, folded at 75 octets.
    for line in found.content.split(b"\r\n"):
        assert len(line) <= 75
