"""The incoming event format (JSON lines), validated before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from journeys.store import IncomingEvent, to_e164

LINE = (
    '{"source": "shop", "external_id": "o-1001", "type": "order.completed",'
    ' "customer_id": "c-42", "occurred_at": "2026-03-01T10:15:00+01:00",'
    ' "data": {"total": 99.5},'
    ' "customer": {"email": "anna@example.com", "phone": "0151 2345 6789", "country": "de"}}'
)


def test_a_json_line_becomes_an_event_in_utc() -> None:
    event = IncomingEvent.model_validate_json(LINE)
    assert event.occurred_at == datetime(2026, 3, 1, 9, 15, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert event.customer is not None
    assert (event.customer.phone, event.customer.country) == ("+4915123456789", "DE")
    engine_event = event.to_engine()
    assert (engine_event.id, engine_event.type, engine_event.data) == (
        "shop:o-1001",
        "order.completed",
        {"total": 99.5},
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"occurred_at": "2026-03-01T10:15:00"}, "timezone"),
        ({"occurred_at": "9999-12-31T23:30:00-01:00"}, "outside the years 1 to 9999 in UTC"),
        ({"occurred_at": "0001-01-01T00:30:00+01:00"}, "outside the years 1 to 9999 in UTC"),
        ({"type": "Order Completed"}, "pattern"),
        ({"colour": "red"}, "Extra inputs"),
        ({"customer": {"phone": "12345"}}, "phone number .12345. cannot be read"),
        ({"customer": {"email": "not-an-address"}}, "pattern"),
        ({"customer": {"timezone": "Europe/Berln"}}, "Europe/Berlin"),
    ],
)
def test_bad_events_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    data = IncomingEvent.model_validate_json(LINE).model_dump(mode="json")
    with pytest.raises(ValidationError, match=message):
        IncomingEvent.model_validate({**data, **change})


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("+49 (151) 2345-6789", None, "+4915123456789"),
        ("0049 151 23456789", None, "+4915123456789"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("0664 1234567", "AT", "+436641234567"),
        ("06 1234 5678", "IT", "+390612345678"),  # Italy keeps the 0
        ("(415) 555-2671", "US", "+14155552671"),
        ("1 415 555 2671", "US", "+14155552671"),
    ],
)
def test_phone_numbers_become_e164(raw: str, country: str | None, e164: str) -> None:
    assert to_e164(raw, country) == e164
