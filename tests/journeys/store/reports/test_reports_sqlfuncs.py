"""The expressions SQLite and PostgreSQL spell differently give the same values on both,
and the values their definitions (written out in Python here) say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from journeys.store.reports.sqlfuncs import check_json_key, epoch_seconds, json_cents, json_text
from journeys.store.tables import inbound_event_t

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Scalars a JSON event may carry: strings, integers of any size, amounts to the cent,
# other floats, booleans, null, and what is no scalar at all.
amounts = st.decimals(min_value=-(10**14), max_value=10**14, places=2).map(float)
values = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
    st.integers(-(10**20), 10**20),
    amounts,
    st.sampled_from([True, False, None, 5.0, [1], {"a": 1}, "5", "-0", " 5"]),
)


def expected_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if type(value) is int and abs(value) < 10**18:
        return str(value)
    return None


def expected_cents(value: Any) -> int | None:
    if type(value) not in (int, float) or abs(value) > 10**13:
        return None
    cents = Decimal(repr(value)) * 100
    # Half away from zero, as ROUND does in both databases.
    return int(cents.copy_abs().quantize(Decimal(1), ROUND_HALF_UP)) * (1 if cents >= 0 else -1)


def read(engine: Engine, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    t = inbound_event_t
    with engine.begin() as conn:
        conn.execute(t.delete())
        conn.execute(t.insert(), rows)
        query = select(
            json_text(t.c.payload, "k"),
            json_cents(t.c.payload, "k"),
            epoch_seconds(t.c.occurred_at),
        ).order_by(t.c.id)
        return [tuple(r) for r in conn.execute(query)]


def rows_of(docs: list[Any], moments: list[datetime]) -> list[dict[str, Any]]:
    return [
        {
            "source": "test",
            "external_id": str(i),
            "type": "x",
            "customer_id": "c",
            "occurred_at": moments[i % len(moments)],
            "payload": {"k": value} if value is not ... else {},
            "received_at": moments[0],
        }
        for i, value in enumerate(docs)
    ]


@SETTINGS
@given(
    st.lists(st.one_of(values, st.just(...)), min_size=1, max_size=20),
    st.lists(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
            lambda d: d.replace(tzinfo=UTC)
        ),
        min_size=1,
        max_size=5,
    ),
)
# SQLite's date functions round a fraction of .9995 s up to the next second.
@example(docs=[...], moments=[datetime(2000, 1, 1, 0, 0, 0, 999500, tzinfo=UTC)])
def test_the_same_on_both_stores_and_as_defined(
    stores: list[Engine], docs: list[Any], moments: list[datetime]
) -> None:
    results = [read(engine, rows_of(docs, moments)) for engine in stores]
    for other in results[1:]:
        assert other == results[0]
    for i, (text, cents, seconds) in enumerate(results[0]):
        value = docs[i]
        assert text == (None if value is ... else expected_text(value)), value
        assert cents == (None if value is ... else expected_cents(value)), value
        # Whole seconds by integer arithmetic: a float timestamp rounds in far years.
        since = moments[i % len(moments)] - datetime(1970, 1, 1, tzinfo=UTC)
        assert seconds == since // timedelta(seconds=1)


def test_edges_of_integers_and_seconds(stores: list[Engine]) -> None:
    docs = [2**63 - 1, -(2**63), 10**18 - 1, 10**18, 10**13, 10**13 + 1, 12.345, -0.005]
    moment = datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    for engine in stores:
        got = read(engine, rows_of(docs, [moment]))
        assert [t for t, _, _ in got] == [expected_text(d) for d in docs]
        assert [c for _, c, _ in got][:6] == [None, None, None, None, 10**15, None]
        assert {s for _, _, s in got} == {-1}  # floor, also before 1970


@pytest.mark.parametrize("key", ["", "a-b", "a'b", "1a", "x" * 65, None])
def test_a_key_that_could_leave_the_statement_is_refused(key: Any) -> None:
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        check_json_key(key)
