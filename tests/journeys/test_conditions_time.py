"""Time in conditions: `now`, durations, dates read from the data, and the moment time
alone makes a condition true."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journeys.condition_time import next_true
from journeys.conditions import compile_condition
from journeys.errors import ConditionSyntaxError

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def holds(source: str, customer: dict[str, Any], now: datetime = NOW) -> bool:
    return compile_condition(source).evaluate({"customer": customer, "now": now, "event": {}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-01T10:00:00Z", True),
        ("2026-02-01", True),  # a date alone is midnight UTC
        ("2026-05-01T10:00:00+02:00", False),
        (datetime(2026, 1, 1, tzinfo=UTC), True),
        (date(2026, 5, 30), False),
        (None, False),  # no date on record
        ("soon", False),  # not a date
        (42, False),
    ],
)
def test_a_date_is_compared_with_now_minus_a_duration(value: object, expected: bool) -> None:
    assert holds("customer.last_order_at < now - 90d", {"last_order_at": value}) is expected


def test_durations_add_and_subtract_on_either_side() -> None:
    customer = {"signup_at": "2026-05-20T12:00:00Z"}
    assert holds("customer.signup_at + 10d < now", customer)
    assert not holds("customer.signup_at + 1w5d < now", customer)
    assert holds("now-12d <= customer.signup_at", customer)
    assert holds("now - 1d12h > customer.signup_at", customer)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("now - 3", "expected a duration such as 90d after '-'"),
        ("customer.x < now + 'a'", "expected a duration such as 90d after '+'"),
        ("12h1d < now", "malformed duration '12h1d'"),
        ("x == - 2", "write -2 for a negative number"),
    ],
)
def test_bad_time_expressions_are_syntax_errors(source: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=re.escape(message)):
        compile_condition(source)


def test_now_is_not_a_path_into_the_data() -> None:
    assert compile_condition("customer.last_order_at < now - 1d").paths == {
        ("customer", "last_order_at")
    }


def test_next_true_names_the_moment_time_makes_the_condition_true() -> None:
    condition = compile_condition("customer.last_order_at < now - 90d and customer.n >= 3")
    scope = {"customer": {"last_order_at": "2026-05-01T00:00:00Z", "n": 3}}
    due = next_true(condition, scope, NOW)
    assert due == datetime(2026, 7, 30, tzinfo=UTC) + timedelta(microseconds=1)
    assert not condition.evaluate({**scope, "now": due - timedelta(microseconds=1)})
    assert condition.evaluate({**scope, "now": due})
    # Only a change can make it true: no moment.
    assert next_true(condition, {"customer": {**scope["customer"], "n": 2}}, NOW) is None
    # A window that has closed never opens again.
    window = compile_condition("customer.last_order_at > now - 7d")
    assert next_true(window, scope, NOW) is None


DATES = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.text(max_size=30),
    st.integers(),
)
TIMED = st.sampled_from(
    [
        "customer.d < now - 90d",
        "customer.d + 1d >= now",
        "not (customer.d > now - 1w)",
        "customer.d < now - 1d and customer.e > now + 2h",
        "customer.d < now or customer.e == now",
        "now - 5m in customer.d",
        "customer.d != now",
    ]
)


@given(TIMED, DATES, DATES, st.datetimes(timezones=st.just(UTC)))
def test_time_conditions_never_fail_and_next_true_is_right(
    source: str, d: object, e: object, now: datetime
) -> None:
    condition = compile_condition(source)
    scope: dict[str, Any] = {"customer": {"d": d, "e": e}}
    assert isinstance(condition.evaluate({**scope, "now": now}), bool)
    due = next_true(condition, scope, now)
    if due is not None:
        assert due > now and condition.evaluate({**scope, "now": due})


@given(st.text(alphabet=st.sampled_from(list("now+-dhmsw0123456789 .<>=()cu'")), max_size=30))
def test_garbage_with_time_parses_or_fails_cleanly(source: str) -> None:
    try:
        condition = compile_condition(source)
    except ConditionSyntaxError as error:
        assert 0 <= error.position <= len(source)
    else:
        scope = {"customer": {"d": "2026-01-01"}, "now": NOW}
        assert isinstance(condition.evaluate(scope), bool)
        next_true(condition, scope, NOW)
