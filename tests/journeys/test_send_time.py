"""When an action falls due: offsets from a date in the data, past dates by a declared
rule, send windows by local time and weekday, exact across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from journeys.model import Action, MoveToAction, Settings, _Action
from journeys.send_time import due_time, next_slot

BERLIN = ZoneInfo("Europe/Berlin")
ENTERED = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)  # a Friday
CUSTOMER = {"timezone": "Europe/Berlin"}


def _action(**fields: Any) -> _Action:
    action = TypeAdapter(Action).validate_python({"email": "reminder", **fields})
    assert isinstance(action, _Action)
    return action


def _due(action: _Action, event: dict[str, Any], customer: dict[str, Any] = CUSTOMER) -> Any:
    return due_time(action, ENTERED, event, customer, Settings())


def test_a_day_before_the_events_start_in_its_own_offset() -> None:
    reminder = _action(before="1d", of="event.starts_at")
    due, skip = _due(reminder, {"starts_at": "2026-05-14T18:00:00+02:00"})
    assert (due, skip) == (datetime(2026, 5, 13, 16, 0, tzinfo=UTC), None)
    after = _action(after="2h", of="event.ends_at")
    assert _due(after, {"ends_at": "2026-05-14T20:00:00Z"})[0] == datetime(
        2026, 5, 14, 22, 0, tzinfo=UTC
    )


def test_a_date_without_time_or_offset_is_the_customers_local_time() -> None:
    reminder = _action(before="1d", of="event.starts_at")
    # 14 May, midnight in Berlin (CEST, UTC+2), one day earlier.
    assert _due(reminder, {"starts_at": "2026-05-14"})[0] == datetime(
        2026, 5, 12, 22, 0, tzinfo=UTC
    )
    tokyo = _due(reminder, {"starts_at": "2026-05-14T09:00"}, {"timezone": "Asia/Tokyo"})
    assert tokyo[0] == datetime(2026, 5, 13, 0, 0, tzinfo=UTC)


def test_a_passed_or_missing_date_is_skipped_with_the_reason_or_sent_at_once() -> None:
    reminder = _action(before="1d", of="event.starts_at")
    due, skip = _due(reminder, {"starts_at": "2026-05-01T12:00:00Z"})
    assert due == ENTERED and skip is not None and "before event.starts_at had passed" in skip
    now = _action(before="1d", of="event.starts_at", if_past="send_now")
    assert _due(now, {"starts_at": "2026-05-01T12:00:00Z"}) == (ENTERED, None)
    assert _due(reminder, {})[1] == "no date in event.starts_at"
    assert "not an ISO 8601" in str(_due(reminder, {"starts_at": "next friday"})[1])
    birthday = _action(of="customer.birthday")
    assert _due(birthday, {}, {"attributes": {"birthday": "2026-06-02"}})[0] == datetime(
        2026, 6, 1, 22, 0, tzinfo=UTC
    )


def test_a_send_window_defers_to_the_next_weekday_at_that_local_time() -> None:
    window = _action(at="10:00", on=["mon", "tue", "wed", "thu", "fri"])
    saturday = datetime(2026, 5, 2, 14, 0, tzinfo=UTC)
    assert due_time(window, saturday, {}, CUSTOMER, Settings()) == (
        datetime(2026, 5, 4, 8, 0, tzinfo=UTC),  # Monday 10:00 CEST
        None,
    )
    # A Friday at 09:00 in Berlin: that Friday at ten; at 11:00 (ENTERED): Monday.
    friday_nine = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
    assert due_time(window, friday_nine, {}, CUSTOMER, Settings())[0] == datetime(
        2026, 5, 1, 8, 0, tzinfo=UTC
    )
    assert _due(window, {})[0] == datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def test_a_day_before_counts_on_the_local_calendar_across_dst() -> None:
    reminder = _action(before="1d", of="event.starts_at")
    early = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    # Sunday 29 March 18:00 CEST (summer time began that night): Saturday 18:00 CET.
    due, _ = due_time(
        reminder, early, {"starts_at": "2026-03-29T18:00:00+02:00"}, CUSTOMER, Settings()
    )
    assert due == datetime(2026, 3, 28, 17, 0, tzinfo=UTC)
    # Two hours before is two hours, whatever the clocks do.
    sms = _action(before="2h", of="event.starts_at")
    event = {"starts_at": "2026-03-29T03:30:00+02:00"}
    due, _ = due_time(sms, early, event, CUSTOMER, Settings())
    assert due == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


def test_windows_across_dst_changes() -> None:
    # 29 March 2026: Berlin's clocks jump from 02:00 to 03:00; 02:30 means the jump.
    spring = next_slot(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), time(2, 30), None, BERLIN)
    assert spring == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # 25 October 2026: 02:30 happens twice; the first time counts.
    autumn = next_slot(datetime(2026, 10, 24, 23, 0, tzinfo=UTC), time(2, 30), None, BERLIN)
    assert autumn == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"before": "1d"}, "name it with 'of'"),
        ({"before": "1d", "after": "1h", "of": "event.starts_at"}, "not both"),
        ({"if_past": "send_now"}, "timed by a date"),
        ({"at": "25:00"}, "HH:MM"),
        ({"on": ["monday"]}, "mon"),
        ({"of": "starts_at"}, "event"),
    ],
)
def test_timing_mistakes_are_named(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        _action(**fields)
    with pytest.raises(ValidationError, match="move_to waits by 'after' only"):
        MoveToAction.model_validate({"move_to": "x", "at": "10:00"})


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.none() | st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    st.none() | st.sets(st.integers(0, 6), min_size=1),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_the_slot_is_the_first_instant_in_the_window(
    naive: datetime, at: time | None, days: set[int] | None, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    moment = naive.replace(tzinfo=UTC)
    slot = next_slot(moment, at, days, zone)
    local = slot.astimezone(zone)
    assert moment <= slot < moment + timedelta(days=8)
    if days is not None:
        assert local.weekday() in days
    if at is not None:
        # Exactly that wall time, unless the clocks skipped it that day (then the jump).
        just_before = (slot - timedelta(seconds=1)).astimezone(zone)
        skipped = just_before.utcoffset() != local.utcoffset()
        assert local.time() == at or skipped
    if at is None and days is not None and slot != moment:
        assert (
            local.time() == time(0)
            or (slot - timedelta(seconds=1)).astimezone(zone).utcoffset() != local.utcoffset()
        )
    if at is None and days is None:
        assert slot == moment


def test_the_next_birthday_at_nine_in_the_customers_zone() -> None:
    from journeys.send_time import next_anniversary

    customer = {"attributes": {"birthday": "1992-02-29"}}
    after = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    nine = time(9, 0)
    # 29 February: 28 February in a common year (or 1 March), 29 February in a leap year.
    assert next_anniversary(after, "customer.birthday", customer, nine, BERLIN) == datetime(
        2027, 2, 28, 8, 0, tzinfo=UTC
    )
    assert next_anniversary(after, "customer.birthday", customer, nine, BERLIN, "mar1") == datetime(
        2027, 3, 1, 8, 0, tzinfo=UTC
    )
    leap = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert next_anniversary(leap, "customer.birthday", customer, nine, BERLIN) == datetime(
        2028, 2, 29, 8, 0, tzinfo=UTC
    )
    # Strictly after: on the birthday at nine, the next one is a year later; summer time.
    summer = {"birthday": "1985-07-10"}
    on_it = datetime(2026, 7, 10, 7, 0, tzinfo=UTC)
    assert next_anniversary(on_it, "customer.birthday", summer, nine, BERLIN) == datetime(
        2027, 7, 10, 7, 0, tzinfo=UTC
    )
    assert next_anniversary(after, "customer.birthday", {}, nine, BERLIN) is None
    assert next_anniversary(after, "customer.birthday", {"birthday": "soon"}, nine, BERLIN) is None


def test_cron_runs_in_the_schedules_zone_across_dst() -> None:
    from journeys.send_time import next_run

    friday = datetime(2026, 3, 27, 11, 0, tzinfo=UTC)
    # Monday 30 March 09:00 is summer time in Berlin: 07:00 UTC; then a week later.
    first = next_run("0 9 * * MON", friday, BERLIN)
    assert first == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert next_run("0 9 * * MON", first, BERLIN) == datetime(2026, 4, 6, 7, 0, tzinfo=UTC)
    # 02:30 does not exist on 29 March: the run is at the jump (03:00 CEST).
    assert next_run("30 2 * * *", friday + timedelta(days=1), BERLIN) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("cron", ["61 * * * *", "0 9 * *", "every monday", "0 9 * * FUNDAY"])
def test_a_bad_schedule_is_named(cron: str) -> None:
    from journeys.model import ScheduleTrigger

    with pytest.raises(ValidationError, match="is not a cron schedule"):
        ScheduleTrigger.model_validate({"every": cron, "from": ["a"]})
