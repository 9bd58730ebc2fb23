"""The event registration's emails carry their calendar file, built from the event."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import icalendar
from test_render import JOURNEYS, NOW, claimed, render, renderer

from channels import SendResult
from journeys import Journey

REGISTERED = {
    "type": "registration.created",
    "occurred_at": "2026-03-01T10:00:00+00:00",
    "data": {
        "event_id": "e1",
        "event_name": "Laptop-Sprechstunde",
        "starts_at": "2026-03-20T18:00:00",
        "location": "Filiale Berlin-Mitte",
    },
}


def _entry(content: bytes) -> icalendar.Event:
    [entry] = icalendar.Calendar.from_ical(content).walk("VEVENT")
    return entry


def test_the_confirmation_carries_the_registrations_calendar_entry() -> None:
    action = replace(
        claimed("event_registration", "registered", "registration_confirmation"),
        event=REGISTERED,
    )
    message = render(action)

    [invite] = message.attachments
    assert (invite.filename, invite.mime_type) == ("invite.ics", "text/calendar")
    entry = _entry(invite.content)
    # 18:00 in Berlin (the customer's zone) in March is 17:00 UTC; an hour by default.
    assert entry.decoded("DTSTART") == datetime(2026, 3, 20, 17, 0, tzinfo=UTC)
    assert entry.decoded("DTEND") == datetime(2026, 3, 20, 18, 0, tzinfo=UTC)
    assert str(entry["SUMMARY"]) == "Laptop-Sprechstunde"
    assert str(entry["LOCATION"]) == "Filiale Berlin-Mitte"
    assert str(entry["ATTENDEE"]) == "mailto:max.mustermann@example.com"
    assert render(action).attachments == message.attachments  # a retry: the same bytes


def test_the_change_and_the_cancellation_name_the_same_entry() -> None:
    created = render(
        replace(
            claimed("event_registration", "registered", "registration_confirmation"),
            event=REGISTERED,
        )
    )
    moved_event = {
        **REGISTERED,
        "type": "registration.updated",
        "occurred_at": "2026-03-02T10:00:00+00:00",
        "data": {**REGISTERED["data"], "starts_at": "2026-03-27T18:00:00"},  # type: ignore[dict-item]
    }
    moved = render(
        replace(
            claimed("event_registration", "registered", "registration_changed"),
            event=moved_event,
        )
    )
    cancel_event = {
        "type": "registration.cancelled",
        "occurred_at": "2026-03-03T10:00:00+00:00",
        "data": {"event_id": "e1", "event_name": "Laptop-Sprechstunde"},
    }
    cancelled = render(
        replace(
            claimed("event_registration", "cancelled", "registration_cancelled"),
            event=cancel_event,
        )
    )
    first, second, third = (_entry(m.attachments[0].content) for m in (created, moved, cancelled))
    assert first["UID"] == second["UID"] == third["UID"]
    assert first["SEQUENCE"] < second["SEQUENCE"] < third["SEQUENCE"]
    assert second.decoded("DTSTART") == datetime(2026, 3, 27, 17, 0, tzinfo=UTC)
    assert cancelled.attachments[0].content_type.startswith("text/calendar; method=CANCEL")


def test_a_date_that_is_no_date_fails_the_message_with_the_reason() -> None:
    broken = {**REGISTERED, "data": {**REGISTERED["data"], "ends_at": "bald"}}  # type: ignore[dict-item]
    action = replace(
        claimed("event_registration", "registered", "registration_confirmation"), event=broken
    )
    result = renderer().render(action, _journey(), None, NOW)
    assert isinstance(result, SendResult)
    assert result.status == "failed" and result.error_code == "attachment_error"
    assert "event.ends_at is not an ISO 8601 date or time: 'bald'" in (result.reason or "")


def _journey() -> Journey:
    return JOURNEYS["event_registration"]
