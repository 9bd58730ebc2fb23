"""`journeyflow import`: files read as a stream, bad rows named by line and field in the
rejects file while the rest goes on, never a traceback, and a re-run changes nothing."""

from __future__ import annotations

import csv
import json
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_storm import postgres_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from flows.cli import app
from flows.import_columns import Columns, RowError
from flows.import_file import BadRow, Row, read_rows
from flows.import_records import to_customer
from flows.importing import import_file
from journeys.store import create_db_engine, create_schema
from journeys.store.tables import consent_t, customer_t

runner = CliRunner()
HEADER = "id,email,phone,country,timezone,attr.segment\n"


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated SQLite file for the property tests (each example uses fresh ids)."""
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'import.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The store the command imports into (JOURNEYFLOW_DATABASE_URL): a new SQLite file,
    or a new PostgreSQL database."""
    from flows import runtime

    runtime.forget()  # the store of another test's database
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", url)
        yield url
    else:
        with postgres_database("journeyflow_import") as url:
            monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", url)
            yield url
    runtime.forget()


def _count(engine: Engine, table: object, prefix: str) -> int:
    column = customer_t.c.external_id
    query = select(func.count()).select_from(customer_t).where(column.startswith(prefix))
    if table is consent_t:
        query = (
            select(func.count())
            .select_from(consent_t.join(customer_t))
            .where(column.startswith(prefix))
        )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# --- the reader ----------------------------------------------------------------------------


def test_bad_rows_are_named_by_their_first_line_and_the_rest_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"id,email,first_name\n"
        b"\n"
        b'k1,a@example.com,"Anna\nMaria"\n'  # a quoted field over two lines
        b'k2,b@example.com,"bro"ken\n'  # broken quoting
        b"k3,c@example.com\n"  # a field missing
        b"k4,\xff@example.com,Dora\n"  # not UTF-8
        b"k5,e@example.com,Eve\n"
    )
    rows = list(read_rows(path, "csv"))
    assert [(r.line, type(r).__name__) for r in rows] == [
        (3, "Row"),
        (5, "BadRow"),
        (6, "BadRow"),
        (7, "BadRow"),
        (8, "Row"),
    ]
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert [r.field for r in bad] == ["", "", "email"]
    assert "CSV" in bad[0].reason and "2 fields" in bad[1].reason and "UTF-8" in bad[2].reason
    assert isinstance(rows[0], Row) and rows[0].values["first_name"] == "Anna\nMaria"


def test_reading_is_a_stream_memory_stays_flat(tmp_path: Path) -> None:
    def peak(rows: int) -> tuple[int, int]:
        path = tmp_path / f"{rows}.csv"
        with path.open("w", encoding="utf-8") as out:
            out.write(HEADER)
            for n in range(rows):
                out.write(f"k{n},k{n}@example.com,0151 2345{n % 10000:04d},DE,Europe/Berlin,b2c\n")
        columns = Columns("customers")
        tracemalloc.start()
        count = 0
        for item in read_rows(path, "csv"):
            assert isinstance(item, Row)
            to_customer(columns.fields(item.values, text=True))
            count += 1
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, top

    small, small_peak = peak(5_000)
    large, large_peak = peak(50_000)
    assert (small, large) == (5_000, 50_000)
    # Ten times the rows, about the same memory: nothing grows with the file.
    assert large_peak < 2 * small_peak + 64_000, (small_peak, large_peak)


def test_columns_map_and_spread(tmp_path: Path) -> None:
    columns = Columns("customers", {"Kundennummer": "id", "Segment": "attr.segment"})
    fields = columns.fields(
        {"Kundennummer": "k1", "Segment": "vip", "attributes": '{"points": 3}', "_reason": "x"},
        text=True,
    )
    record = to_customer(fields)
    assert record.external_id == "k1"
    assert record.fields == {"attributes": {"points": 3, "segment": "vip"}}
    with pytest.raises(RowError, match="not JSON") as bad:
        to_customer(columns.fields({"Kundennummer": "k1", "attributes": "{"}, text=True))
    assert bad.value.field == "attributes"


# --- the command ---------------------------------------------------------------------------


def test_import_command_reports_rejects_and_a_rerun_changes_nothing(
    tmp_path: Path, database: str
) -> None:
    path = tmp_path / "kunden.csv"
    path.write_text(
        "Kundennummer,email,phone,country,timezone\n"
        "k1,anna@example.com,0151 23456789,DE,Europe/Berlin\n"
        "k2,bob@example.com,12,DE,Europe/Berlin\n"
        "k3,carl@example.com,,AT,Europe/Vienna\n",
        encoding="utf-8",
    )
    args = ["import", "customers", str(path), "--map", "Kundennummer=id"]

    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output  # a row was rejected
    assert "3 rows: 2 created, 0 updated, 0 unchanged, 1 rejected" in first.output
    assert f"{path}:3: phone: phone number '12' is not a valid number" in first.output
    rejects = tmp_path / "kunden.rejects.csv"
    with rejects.open(encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle))[1][:4] == ["3", "phone", rejects_reason(first), "k2"]

    second = runner.invoke(app, args)
    assert "3 rows: 0 created, 0 updated, 2 unchanged, 1 rejected" in second.output

    # The rejects file, corrected, imports as it is (its _ columns are ignored).
    rejects.write_text(
        rejects.read_text(encoding="utf-8").replace(",12,", ",0160 1234567,"), encoding="utf-8"
    )
    fixed = runner.invoke(app, ["import", "customers", str(rejects), "--map", "Kundennummer=id"])
    assert fixed.exit_code == 0, fixed.output
    assert "1 rows: 1 created" in fixed.output


def rejects_reason(result: object) -> str:
    line = next(x for x in str(getattr(result, "output", "")).splitlines() if ":3: phone: " in x)
    return line.split(":3: phone: ", 1)[1].strip()


def test_a_file_that_cannot_be_read_is_one_clear_error(tmp_path: Path, database: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Kundennummer,email\nk1,a@example.com\n", encoding="utf-8")
    unknown = runner.invoke(app, ["import", "customers", str(path)])
    assert unknown.exit_code == 2
    assert "column 'Kundennummer' is not a column of a customers import" in unknown.output
    assert "--map" in unknown.output and "Traceback" not in unknown.output
    missing = runner.invoke(app, ["import", "consent", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "cannot read the file" in missing.output
    odd = runner.invoke(app, ["import", "events", str(tmp_path / "c.xlsx")])
    assert odd.exit_code == 2 and "--format" in odd.output


def test_consent_jsonl_rejects_keep_the_row_as_json(tmp_path: Path, database: str) -> None:
    customers = tmp_path / "c.jsonl"
    customers.write_text('{"id": "k1", "email": "a@example.com"}\n', encoding="utf-8")
    assert runner.invoke(app, ["import", "customers", str(customers)]).exit_code == 0
    consent = tmp_path / "consent.jsonl"
    consent.write_text(
        '{"customer_id": "k1", "channel": "email", "status": "subscribed",'
        ' "at": "2026-01-05T10:00:00Z", "ip": "192.0.2.1", "system": "Shopware"}\n'
        '{"customer_id": "k1", "channel": "fax", "status": "subscribed",'
        ' "at": "2026-01-05T10:00:00Z"}\n'
        "not json\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", "consent", str(consent)])
    assert "3 rows: 1 created, 0 updated, 0 unchanged, 2 rejected" in result.output
    rejects = [
        json.loads(line)
        for line in (tmp_path / "consent.rejects.jsonl").read_text("utf-8").splitlines()
    ]
    assert [(r["_line"], r["_field"]) for r in rejects] == [(2, "channel"), (3, "")]
    assert rejects[0]["channel"] == "fax" and rejects[1]["_text"] == "not json"


# --- garbage -------------------------------------------------------------------------------

_GOOD_PHONES = ["0151 23456789", "+49 160 1234567", "0176 12345678"]
_GARBAGE_ROWS = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")),
    st.text(max_size=60).map(lambda t: t.replace("\n", " ").replace("\r", " ").encode()),
    st.sampled_from(
        [
            b"g-1,a@example.com,12,DE,Europe/Berlin,x",  # bad phone
            b"g-2,a@example.com,,DE,Mars/Olympus,x",  # bad time zone
            b"g-3,not an address,,DE,,",
            b'g-4,"unclosed,,,,',
            b'g-5,a@example.com,"0151 2"3,DE,,',
            b"g-6,a@example.com,,DEU,,",
            b"g-7,\xc3\x28@example.com,,DE,,",
            b"\x00,\x00,,,,",
            b",,,,,",
            b"g-8,a@example.com,,,Europe/Berlin," + b"x" * 2000,
            b'g-9,a@example.com,,DE,,,"extra"',
        ]
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    valid=st.lists(st.sampled_from(_GOOD_PHONES), max_size=8),
    garbage=st.lists(_GARBAGE_ROWS, max_size=10),
    order=st.randoms(use_true_random=False),
)
def test_garbage_rows_become_line_numbered_rejects_and_good_rows_are_stored_once(
    shared_engine: Engine,
    tmp_path: Path,
    valid: list[str],
    garbage: list[bytes],
    order: object,
) -> None:
    prefix = f"v-{uuid.uuid4().hex[:8]}-"
    good = [
        f"{prefix}{n},p{n}@example.com,{phone},DE,Europe/Berlin,b2c".encode()
        for n, phone in enumerate(valid)
    ]
    lines = good + garbage
    order.shuffle(lines)  # type: ignore[attr-defined]
    path = tmp_path / f"{prefix}.csv"
    path.write_bytes(HEADER.encode() + b"\n".join(lines) + b"\n")

    summary = import_file("customers", path, shared_engine)

    last_line = len(lines) + 1
    counted = summary.created + summary.updated + summary.unchanged + summary.rejected
    assert counted == summary.rows
    if summary.rejects_file is not None:
        with summary.rejects_file.open(encoding="utf-8", errors="replace", newline="") as f:
            rejected = list(csv.reader(f))[1:]
        assert len(rejected) == summary.rejected
        assert all(2 <= int(r[0]) <= last_line and r[2] for r in rejected)
    stored = _count(shared_engine, customer_t, prefix)
    # A good row can only be lost to a garbage line that opened a quote over it.
    assert stored <= len(good)
    if not any(b'"' in g for g in garbage):
        assert stored == len(good)
    again = import_file("customers", path, shared_engine)
    assert (again.created, again.updated) == (0, 0)
    assert _count(shared_engine, customer_t, prefix) == stored


_CONSENT_GARBAGE = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ")),
    st.fixed_dictionaries(
        {
            "customer_id": st.one_of(st.text(max_size=5), st.integers(), st.none()),
            "channel": st.one_of(st.sampled_from(["email", "sms", "fax"]), st.integers()),
            "status": st.one_of(st.sampled_from(["subscribed", "suppressed"]), st.text()),
            "at": st.one_of(
                st.sampled_from(["2026-01-01", "2026-13-01T00:00:00Z", "yesterday"]),
                st.floats(),
            ),
            "ip": st.one_of(st.none(), st.text(max_size=20)),
        }
    ).map(lambda d: json.dumps(d).encode()),
    st.sampled_from([b"[]", b"{", b'{"customer_id": "\\ud800"}', b'"x"', b"{}"]),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.lists(_CONSENT_GARBAGE, min_size=1, max_size=10), valid=st.booleans())
def test_consent_garbage_is_rejected_by_line_never_raised(
    shared_engine: Engine, tmp_path: Path, garbage: list[bytes], valid: bool
) -> None:
    prefix = f"v-{uuid.uuid4().hex[:8]}-"
    customers = tmp_path / f"{prefix}c.jsonl"
    customers.write_text(json.dumps({"id": f"{prefix}1"}) + "\n", encoding="utf-8")
    import_file("customers", customers, shared_engine)
    good = json.dumps(
        {
            "customer_id": f"{prefix}1",
            "channel": "email",
            "status": "subscribed",
            "at": "2026-01-05T10:00:00Z",
        }
    ).encode()
    path = tmp_path / f"{prefix}.jsonl"
    path.write_bytes(b"\n".join([*garbage, *([good] if valid else [])]) + b"\n")

    summary = import_file("consent", path, shared_engine)

    assert summary.rejected + summary.created + summary.updated + summary.unchanged == summary.rows
    assert summary.rejected >= len(garbage) - garbage.count(b"") - sum(
        1 for g in garbage if not g.strip()
    )
    assert all(":" in reason for reason in summary.first_rejects)
    assert _count(shared_engine, consent_t, prefix) == int(valid)


def test_import_events_command_stores_once_and_applies(tmp_path: Path, database: str) -> None:
    from flows import runtime

    runtime.forget()  # the store of another test's database
    path = tmp_path / "orders.csv"
    path.write_text(
        "external_id,type,customer_id,occurred_at,data.total,customer\n"
        'o-1,order.completed,k1,2026-03-01T10:00:00Z,99.5,"{""email"": ""a@example.com""}"\n'
        "o-2,order.completed,k1,last tuesday,10,\n",
        encoding="utf-8",
    )
    first = runner.invoke(app, ["import", "events", str(path)])
    assert "2 rows: 1 created, 0 updated, 0 unchanged, 1 rejected" in first.output, first.output
    assert f"{path}:3: occurred_at: " in first.output
    assert "applied: 1 events" in first.output
    again = runner.invoke(app, ["import", "events", str(path)])
    assert "2 rows: 0 created, 0 updated, 1 unchanged, 1 rejected" in again.output
    engine = create_db_engine(database)
    with engine.connect() as conn:
        assert conn.execute(select(customer_t.c.email)).scalars().all() == ["a@example.com"]
    engine.dispose()
    runtime.forget()
