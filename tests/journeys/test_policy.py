"""The send policy: consent, quiet hours in the customer's zone, frequency caps.

Scenarios with real time zones and DST days, then properties over random inputs,
checked against small independent oracles (the wall clock, a count of sends).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.errors import JourneyflowError
from journeys.model import Settings
from journeys.policy import (
    CHANNELS,
    CONSENT_STATUSES,
    Allow,
    Decision,
    Defer,
    PolicyError,
    Skip,
    decide_send,
    next_allowed,
)

S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
QUIET = Settings(timezone="Europe/Berlin", quiet_hours="21:00-08:00")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def decide(now: datetime, **changes: Any) -> Decision:
    args: dict[str, Any] = {
        "channel": "email",
        "marketing": True,
        "consent": "subscribed",
        "customer_tz": "Europe/Berlin",
        "settings": QUIET,
        "now": now,
        "recent_sends": (),
    }
    return decide_send(**{**args, **changes})


# --- consent -------------------------------------------------------------------------------

NOON = utc(2026, 3, 2, 12)  # 13:00 in Berlin, 07:00 in New York


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ("subscribed", Allow()),
        (None, Skip("no consent")),
        ("pending", Skip("no consent")),
        ("unsubscribed", Skip("unsubscribed")),
        ("suppressed", Skip("suppressed")),
    ],
)
def test_marketing_needs_a_subscription(channel: str, consent: str | None, expected: Any) -> None:
    assert decide(NOON, channel=channel, consent=consent) == expected


@pytest.mark.parametrize(
    ("channel", "consent"),
    [
        *((channel, c) for channel in ("email", "sms") for c in (None, "pending", "subscribed")),
        ("email", "unsubscribed"),
    ],
)
def test_transactional_ignores_marketing_consent(channel: str, consent: str | None) -> None:
    assert decide(NOON, channel=channel, marketing=False, consent=consent) == Allow()


def test_an_sms_stop_blocks_even_transactional_sms() -> None:
    decision = decide(NOON, channel="sms", marketing=False, consent="unsubscribed")
    assert decision == Skip("unsubscribed")


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_suppressed_address_gets_not_even_transactional_messages(channel: str) -> None:
    decision = decide(NOON, channel=channel, marketing=False, consent="suppressed")
    assert decision == Skip("suppressed")


@pytest.mark.parametrize("consent", [None, *CONSENT_STATUSES])
def test_webhooks_need_no_consent(consent: str | None) -> None:
    assert decide(NOON, channel="webhook", consent=consent) == Allow()


def test_consent_is_decided_before_time() -> None:
    night = utc(2026, 3, 2, 23)  # inside quiet hours in Berlin
    assert decide(night, consent="unsubscribed") == Skip("unsubscribed")


def test_unknown_channel_status_or_naive_time_are_errors_naming_valid_values() -> None:
    with pytest.raises(PolicyError, match=r"unknown channel 'mail'.*email, sms, webhook"):
        decide(NOON, channel="mail")
    with pytest.raises(PolicyError, match=r"'subscribd'.*did you mean 'subscribed'"):
        decide(NOON, consent="subscribd")
    with pytest.raises(JourneyflowError, match="naive datetime for 'now'"):
        decide(datetime(2026, 3, 2, 12))
    capped = Settings(frequency_cap={"email": "1/1d"})
    with pytest.raises(PolicyError, match="naive datetime for 'recent_sends'"):
        decide(NOON, settings=capped, recent_sends=[datetime(2026, 3, 2, 11)])


# --- quiet hours ---------------------------------------------------------------------------


def test_the_same_instant_is_night_in_berlin_and_afternoon_in_new_york() -> None:
    evening = utc(2026, 3, 2, 21, 30)  # 22:30 CET, 16:30 EST
    assert decide(evening, customer_tz="Europe/Berlin") == Defer(utc(2026, 3, 3, 7), "quiet hours")
    assert decide(evening, customer_tz="America/New_York") == Allow()
    # 07:00 EST, 13:00 CET
    assert decide(NOON, customer_tz="America/New_York") == Defer(utc(2026, 3, 2, 13), "quiet hours")
    assert decide(NOON, customer_tz="Europe/Berlin") == Allow()


def test_between_the_two_dst_starts_new_york_is_five_hours_behind() -> None:
    # 2026-03-10: New York is on EDT (since 03-08), Berlin still on CET (until 03-29).
    assert decide(utc(2026, 3, 10, 11, 30), customer_tz="America/New_York") == Defer(
        utc(2026, 3, 10, 12), "quiet hours"
    )
    assert decide(utc(2026, 3, 10, 12), customer_tz="America/New_York") == Allow()


@pytest.mark.parametrize("customer_tz", [None, "Mars/Olympus_Mons"])
def test_without_a_usable_zone_of_their_own_the_journeys_zone_applies(
    customer_tz: str | None,
) -> None:
    tokyo = Settings(timezone="Asia/Tokyo", quiet_hours="21:00-08:00")
    # 13:00 UTC is 22:00 in Tokyo: quiet until 08:00 JST, 23:00 UTC.
    decision = decide(utc(2026, 3, 2, 13), customer_tz=customer_tz, settings=tokyo)
    assert decision == Defer(utc(2026, 3, 2, 23), "quiet hours")


def test_a_window_past_midnight_ends_the_next_morning() -> None:
    end = utc(2026, 3, 3, 7)  # 08:00 CET
    assert decide(utc(2026, 3, 2, 19, 59, 59)) == Allow()  # 20:59:59
    assert decide(utc(2026, 3, 2, 20)) == Defer(end, "quiet hours")  # 21:00 sharp
    assert decide(utc(2026, 3, 2, 22, 59)) == Defer(end, "quiet hours")  # 23:59
    assert decide(utc(2026, 3, 3, 2)) == Defer(end, "quiet hours")  # 03:00
    assert decide(end) == Allow()  # the end is outside


def test_a_window_within_one_day() -> None:
    lunch = Settings(timezone="Europe/Berlin", quiet_hours="12:00-14:00")
    assert decide(utc(2026, 3, 2, 11, 15), settings=lunch) == Defer(
        utc(2026, 3, 2, 13), "quiet hours"
    )
    assert decide(utc(2026, 3, 2, 10, 59), settings=lunch) == Allow()
    assert decide(utc(2026, 3, 2, 22), settings=lunch) == Allow()


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # The night of 2026-03-29: 02:00 CET becomes 03:00 CEST; 08:00 CEST is 06:00 UTC.
        (utc(2026, 3, 28, 21), utc(2026, 3, 29, 6)),
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 6)),
        # The night of 2026-10-25: 03:00 CEST becomes 02:00 CET; 08:00 CET is 07:00 UTC.
        (utc(2026, 10, 24, 20), utc(2026, 10, 25, 7)),
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 7)),
        (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 7)),
    ],
)
def test_quiet_hours_end_on_the_local_clock_across_dst_changes_in_berlin(
    now: datetime, until: datetime
) -> None:
    assert decide(now) == Defer(until, "quiet hours")


def test_an_end_the_clocks_skip_ends_the_window_when_they_jump() -> None:
    short = Settings(quiet_hours="22:00-02:30")  # 02:30 does not exist on 2026-03-29
    # 03:00 CEST, the first instant past 02:30 local, is 01:00 UTC.
    decision = decide(utc(2026, 3, 28, 22), settings=short)
    assert decision == Defer(utc(2026, 3, 29, 1), "quiet hours")
    assert decide(utc(2026, 3, 29, 1), settings=short) == Allow()
    assert decide(utc(2026, 3, 29, 0, 59, 59), settings=short) != Allow()


def test_an_hour_that_repeats_is_quiet_both_times() -> None:
    early = Settings(quiet_hours="01:00-02:30")  # 02:00-03:00 happens twice on 2026-10-25
    first_end, second_end = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    assert decide(utc(2026, 10, 24, 23, 30), settings=early) == Defer(first_end, "quiet hours")
    assert decide(utc(2026, 10, 25, 0, 45), settings=early) == Allow()  # 02:45 CEST
    assert decide(utc(2026, 10, 25, 1), settings=early) == Defer(second_end, "quiet hours")


def test_a_clock_set_back_can_leave_the_window_before_its_end() -> None:
    ny = {"customer_tz": "America/New_York", "settings": Settings(quiet_hours="01:15-02:00")}
    # 2026-11-01: at 02:00 EDT (06:00 UTC) the clocks go back to 01:00 EST, outside
    # 01:15-02:00 until it is 01:15 again (06:15 UTC), which is quiet up to 02:00 EST.
    assert decide(utc(2026, 11, 1, 5, 15), **ny) == Defer(utc(2026, 11, 1, 6), "quiet hours")
    assert decide(utc(2026, 11, 1, 6), **ny) == Allow()
    assert decide(utc(2026, 11, 1, 6, 15), **ny) == Defer(utc(2026, 11, 1, 7), "quiet hours")


def test_new_york_dst_days() -> None:
    ny = {"customer_tz": "America/New_York"}
    # 2026-03-08 02:00 EST → 03:00 EDT: 08:00 EDT is 12:00 UTC (13:00 the day before).
    assert decide(utc(2026, 3, 8, 3), **ny) == Defer(utc(2026, 3, 8, 12), "quiet hours")
    # 2026-11-01 02:00 EDT → 01:00 EST: 08:00 EST is 13:00 UTC.
    assert decide(utc(2026, 11, 1, 3), **ny) == Defer(utc(2026, 11, 1, 13), "quiet hours")


@pytest.mark.parametrize(("channel", "marketing"), [("email", False), ("sms", False)])
def test_transactional_messages_go_out_in_quiet_hours(channel: str, marketing: bool) -> None:
    assert decide(utc(2026, 3, 2, 23), channel=channel, marketing=marketing) == Allow()


def test_webhooks_ignore_quiet_hours() -> None:
    assert decide(utc(2026, 3, 2, 23), channel="webhook") == Allow()


def test_a_window_that_starts_where_it_ends_is_empty() -> None:
    empty = Settings(quiet_hours=(time(21), time(21)))
    assert decide(utc(2026, 3, 2, 20), settings=empty) == Allow()


# --- frequency caps ------------------------------------------------------------------------

CAPPED = Settings(
    quiet_hours="21:00-08:00", frequency_cap={"email": "2/1d", "sms": "1/7d", "webhook": "1/1h"}
)


def test_at_the_cap_wait_until_the_oldest_counted_send_leaves_the_window() -> None:
    sends = [NOON - 20 * H, NOON - 5 * H]
    assert decide(NOON, settings=CAPPED, recent_sends=sends[1:]) == Allow()
    decision = decide(NOON, settings=CAPPED, recent_sends=sends)
    assert decision == Defer(NOON + 4 * H, "frequency cap")
    assert decide(NOON + 4 * H, settings=CAPPED, recent_sends=sends) == Allow()


def test_a_send_leaves_the_window_exactly_one_window_later() -> None:
    sends = [NOON - D, NOON - H]
    assert decide(NOON, settings=CAPPED, recent_sends=sends) == Allow()
    sends = [NOON - D + timedelta(microseconds=1), NOON - H]
    assert decide(NOON, settings=CAPPED, recent_sends=sends) != Allow()


def test_sends_in_the_hour_a_clock_is_set_back_count_in_the_order_they_happened() -> None:
    # New York's clock goes back at 06:00 UTC on 1 November 2026: 05:00:01 UTC reads
    # 01:00:01 EDT, and the later 06:00 UTC reads 01:00 EST. The oldest send leaves first.
    hourly = Settings(frequency_cap={"email": "1/1h"})
    now = utc(2026, 11, 1, 6)
    sends = [now, now - H + timedelta(seconds=1)]
    new_york = ZoneInfo("America/New_York")
    for given_as in (sends, [s.astimezone(new_york) for s in sends]):
        decision = decide(now, settings=hourly, recent_sends=given_as)
        assert decision == Defer(now + H, "frequency cap")


def test_over_the_cap_wait_until_enough_sends_have_left() -> None:
    # Five sends in the week against 3/7d (a cap lowered later): three must leave.
    weekly = Settings(frequency_cap={"email": "3/7d"})
    sends = [NOON - k * D for k in (6, 5, 4, 2, 1)]
    assert decide(NOON, settings=weekly, recent_sends=sends) == Defer(
        NOON - 4 * D + 7 * D, "frequency cap"
    )


def test_a_cap_deferral_lands_outside_quiet_hours() -> None:
    # The oldest send leaves at 22:00 Berlin time: the message waits for 08:00.
    sends = [utc(2026, 3, 1, 21), utc(2026, 3, 2, 10)]
    decision = decide(NOON, settings=CAPPED, recent_sends=sends)
    assert decision == Defer(utc(2026, 3, 3, 7), "frequency cap")


def test_caps_are_per_channel() -> None:
    sms_only = Settings(frequency_cap={"sms": "1/7d"})
    assert decide(NOON, settings=sms_only, recent_sends=[NOON - H] * 9) == Allow()
    assert decide(NOON, channel="sms", settings=sms_only, recent_sends=[NOON - H]) == Defer(
        NOON - H + 7 * D, "frequency cap"
    )


def test_transactional_messages_are_not_capped() -> None:
    many = [NOON - k * H for k in range(1, 10)]
    decision = decide(NOON, marketing=False, settings=CAPPED, recent_sends=many)
    assert decision == Allow()


def test_webhooks_are_capped_when_a_cap_is_set() -> None:
    decision = decide(NOON, channel="webhook", settings=CAPPED, recent_sends=[NOON - 30 * 60 * S])
    assert decision == Defer(NOON + 30 * 60 * S, "frequency cap")


def test_send_times_in_any_zone_and_order_come_out_as_utc() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    sends = [(NOON - 5 * H).astimezone(berlin), NOON - 20 * H]
    decision = decide(NOON.astimezone(berlin), settings=CAPPED, recent_sends=sends)
    assert isinstance(decision, Defer)
    assert decision.until == NOON + 4 * H and decision.until.tzinfo is UTC


def test_next_allowed_is_now_or_the_deferral() -> None:
    args: dict[str, Any] = {
        "channel": "email",
        "marketing": True,
        "customer_tz": "Europe/Berlin",
        "settings": CAPPED,
    }
    assert next_allowed(**args, now=NOON, recent_sends=()) == NOON
    night = utc(2026, 3, 2, 23)
    assert next_allowed(**args, now=night, recent_sends=()) == utc(2026, 3, 3, 7)


# --- properties ----------------------------------------------------------------------------

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "America/St_Johns",  # UTC-3:30 / -2:30
    "Asia/Kolkata",
    "UTC",
]


def transitions(zone_name: str, year: int = 2026) -> list[datetime]:
    """The instants the zone's UTC offset changes in `year`, found by scanning and bisecting
    (independent of the code under test)."""
    zone = ZoneInfo(zone_name)
    found = []
    t = utc(year, 1, 1)
    while t.year == year:
        lo, hi = t, t + H
        if lo.astimezone(zone).utcoffset() != hi.astimezone(zone).utcoffset():
            while hi - lo > S:
                mid = lo + (hi - lo) // S // 2 * S
                same = mid.astimezone(zone).utcoffset() == lo.astimezone(zone).utcoffset()
                lo, hi = (mid, hi) if same else (lo, mid)
            found.append(hi)
        t += H
    return found


DST = {name: transitions(name) for name in ZONES if transitions(name)}
seconds = st.timedeltas(-8 * D, 2 * H).map(lambda d: d // S * S)
clocks = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))
# Typical windows, windows ending in the hours DST skips or repeats, and any at all.
TYPICAL = ["21:00-08:00", "20:00-09:00", "00:00-06:00", "12:00-14:00", "22:00-02:30"]
TYPICAL += ["01:00-02:30", "23:30-02:15", "02:00-03:00", "01:45-02:45", "18:00-17:59"]
windows = st.one_of(
    st.none(),
    st.sampled_from(TYPICAL).map(lambda w: (time.fromisoformat(w[:5]), time.fromisoformat(w[6:]))),
    st.tuples(clocks, clocks),
)
caps = st.one_of(
    st.none(),
    st.tuples(st.integers(1, 4), st.sampled_from([H, 90 * 60 * S, D, 7 * D])),
)


def effective_zone(case: dict[str, Any]) -> ZoneInfo:
    name = case["customer_tz"] if case["customer_tz"] in ZONES else case["settings"].timezone
    return ZoneInfo(name)


@st.composite
def situations(draw: st.DrawFn) -> dict[str, Any]:
    """Any message at any time: anywhere in three years, or close to a DST change."""
    zone_name = draw(st.sampled_from(ZONES))
    if zone_name in DST and draw(st.booleans()):
        now = draw(st.sampled_from(DST[zone_name])) + draw(st.timedeltas(-2 * D, D)) // S * S
    else:
        now = draw(
            st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
        )
    channel = draw(st.sampled_from(CHANNELS))
    cap = draw(caps)
    case: dict[str, Any] = {
        "channel": channel,
        # Weighted towards what passes consent, so the temporal rules get exercised.
        "marketing": draw(st.sampled_from([True, True, False])),
        "consent": draw(st.sampled_from(["subscribed"] * 4 + [None, *CONSENT_STATUSES])),
        "customer_tz": draw(st.sampled_from([zone_name] * 3 + [None, "Not/A_Zone"])),
        "settings": Settings(
            timezone=draw(st.sampled_from(ZONES)),
            quiet_hours=draw(windows),
            frequency_cap={channel: cap} if cap else {},
        ),
        "now": now,
        "recent_sends": [],
    }
    window = case["settings"].quiet_hours
    edge = draw(st.sampled_from([None, None, 0, 1]))
    if window is not None and edge is not None:
        # Exactly at the window's start or end on the customer's clock that day.
        zone = effective_zone(case)
        local = datetime.combine(now.astimezone(zone).date(), window[edge], zone)
        case["now"] = local.astimezone(UTC)
    # Sends anywhere in the last days, within the cap's window, or exactly one window ago.
    near = st.one_of(st.timedeltas(-cap[1], H), st.just(-cap[1])) if cap else seconds
    offsets = st.one_of(seconds, near)
    sends = draw(st.lists(offsets, max_size=7))
    case["recent_sends"] = [case["now"] + o for o in sends]
    return case


@st.composite
def dst_nights(draw: st.DrawFn) -> dict[str, Any]:
    """A marketing email near a DST change, the window ending close to the skipped or
    repeated wall-clock hour."""
    zone_name = draw(st.sampled_from(sorted(DST)))
    change = draw(st.sampled_from(DST[zone_name]))
    zone = ZoneInfo(zone_name)
    before = (change - S).astimezone(zone) + S  # wall time the clocks leave
    end = (before + draw(st.integers(-6, 6)) * 15 * 60 * S).time()
    start = draw(st.one_of(clocks, st.integers(1, 8).map(lambda k: (before - k * H).time())))
    return {
        "channel": draw(st.sampled_from(["email", "sms"])),
        "marketing": True,
        "consent": "subscribed",
        "customer_tz": zone_name,
        "settings": Settings(timezone="UTC", quiet_hours=(start, end)),
        "now": change + draw(st.timedeltas(-8 * H, 3 * H)) // S * S,
        "recent_sends": [],
    }


def quiet_at(moment: datetime, case: dict[str, Any]) -> bool:
    """The oracle: is it quiet on the customer's wall clock (where quiet hours apply)?"""
    window = case["settings"].quiet_hours
    if not case["marketing"] or case["channel"] == "webhook" or window is None:
        return False
    clock = moment.astimezone(effective_zone(case)).time()
    start, end = window
    return bool((start <= clock < end) if start <= end else (clock >= start or clock < end))


def capped_at(moment: datetime, case: dict[str, Any]) -> bool:
    """The oracle: are there already COUNT sends less than WINDOW old at `moment`?"""
    cap = case["settings"].frequency_cap.get(case["channel"])
    if cap is None or (case["channel"] != "webhook" and not case["marketing"]):
        return False
    count, window = cap
    return bool(sum(1 for s in case["recent_sends"] if moment - s < window) >= count)


def temporal_ok(moment: datetime, case: dict[str, Any]) -> bool:
    return not quiet_at(moment, case) and not capped_at(moment, case)


def check_allow(case: dict[str, Any]) -> None:
    decision = decide_send(**case)
    if not isinstance(decision, Allow):
        return
    if case["channel"] != "webhook":
        assert case["consent"] != "suppressed"
        if case["marketing"]:
            assert case["consent"] == "subscribed"  # (a)
    assert not quiet_at(case["now"], case)  # (b)
    assert not capped_at(case["now"], case)  # (c)


def check_defer(case: dict[str, Any], fraction: float) -> None:
    decision = decide_send(**case)
    if not isinstance(decision, Defer):
        assert isinstance(decision, Skip) or temporal_ok(case["now"], case)
        return
    now, until = case["now"], decision.until
    assert until > now and until.tzinfo is UTC  # (d)
    assert temporal_ok(until, case)
    assert decide_send(**{**case, "now": until}) == Allow()
    # Nothing earlier would have done: not just before, nor anywhere in between.
    assert not temporal_ok(until - timedelta(microseconds=1), case)
    between = now + (until - now) * fraction
    if between < until:
        assert not isinstance(decide_send(**{**case, "now": between}), Allow)
    # Quiet hours and DST changes fall on whole minutes: none in the last day before
    # `until` may be allowed already.
    minute = max(now, until - 26 * H).replace(second=0, microsecond=0) + M
    while minute < until:
        assert not temporal_ok(minute, case), minute
        minute += M
    assert decision.reason == ("frequency cap" if capped_at(now, case) else "quiet hours")


PROPERTIES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
fractions = st.floats(0, 1, exclude_min=True, exclude_max=True)


@PROPERTIES
@given(situations())
def test_property_allow_only_with_consent_outside_quiet_hours_under_the_cap(
    case: dict[str, Any],
) -> None:
    check_allow(case)


@PROPERTIES
@given(situations(), fractions)
def test_property_a_deferral_is_the_earliest_allowed_instant(
    case: dict[str, Any], fraction: float
) -> None:
    check_defer(case, fraction)


@PROPERTIES
@given(dst_nights(), fractions)
def test_property_quiet_hours_hold_through_dst_changes(
    case: dict[str, Any], fraction: float
) -> None:
    check_allow(case)
    check_defer(case, fraction)


@PROPERTIES
@given(situations(), st.timedeltas(-30 * D, 30 * D))
def test_property_a_skip_is_about_consent_never_about_time(
    case: dict[str, Any], shift: timedelta
) -> None:
    decision = decide_send(**case)
    shifted = decide_send(**{**case, "now": case["now"] + shift, "recent_sends": []})
    assert isinstance(decision, Skip) == isinstance(shifted, Skip)
    if isinstance(decision, Skip):
        assert decision == shifted
        assert case["channel"] != "webhook" and case["consent"] != "subscribed"


@PROPERTIES
@given(situations(), st.sampled_from(ZONES), st.randoms())
def test_property_deterministic_whatever_the_order_or_zone_of_the_inputs(
    case: dict[str, Any], zone: str, rnd: random.Random
) -> None:
    decision = decide_send(**case)
    assert decide_send(**case) == decision
    sends = list(case["recent_sends"])
    rnd.shuffle(sends)
    elsewhere = ZoneInfo(zone)
    same = {
        **case,
        "now": case["now"].astimezone(elsewhere),
        "recent_sends": [s.astimezone(elsewhere) for s in sends],
    }
    assert decide_send(**same) == decision
