"""An import's fast row checks agree with the receivers' own rules, on any row.

The import checks a customer's profile without a pydantic model per row
(`check_profile`), a consent row likewise (`consent_row`), and reads a CSV file's
cells by column positions worked out once (`Columns.cells`). The reference is what
every other path uses: the row as a dict under its header (`Columns.fields`), then
`people.parse_profile` (the people API's rules) or the `ConsentRecord` model. For
garbage and plausible rows alike, both must accept the same values or refuse the row
naming the same field with the same words. A phone number is read by `to_e164` on
both paths; its plain path for digits and spaces is held to `phonenumbers` itself by
`tests/journeys/test_phone_plain.py`.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.import_check import Checked, CheckSpec, check_chunk
from flows.import_columns import Columns, Kind, RowError
from flows.import_file import cells_problem
from flows.import_records import row_of, to_consent, to_customer
from journeys.store.events import PROFILE_FIELDS
from journeys.store.people.import_rows import Refused
from journeys.store.people.profile_check import check_profile, profile_of
from journeys.store.people.profile_rules import (
    ProfileError,
    check_customer_id,
    parse_profile,
    refusal,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Plausible values next to broken ones: the fast checks must hand every doubt on.
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_PLAIN_PHONE = st.text(st.sampled_from("0123456789 +"), min_size=1, max_size=16)
_CELLS: dict[str, st.SearchStrategy[str]] = {
    "id": st.sampled_from(["c1", " c2 ", "", "x" * 300, "ä", "c\n3"]) | _TEXT,
    "email": st.sampled_from(["a@b.de", "a@b", "A@B.DE ", "@x.de", "ü@ä.de", "a" * 330 + "@b.de"])
    | _TEXT,
    "phone": st.sampled_from(
        [
            *("0151 23456789", "+49 30 901820", "0049 30 901820", "030 1", "+1 202 555 0143"),
            *("12", "phone", "+44 20 7946 0958", "(0)30 901820", "0151-2345678 ext. 9", "١٢٣"),
        ]
    )
    | _PLAIN_PHONE  # digits and spaces: `journeys.phone_plain`'s path
    | _TEXT,
    "country": st.sampled_from(["DE", "de", "AT", "US", "XX", "D", "DEU", "ÄÖ", " de"]) | _TEXT,
    "timezone": st.sampled_from(
        ["Europe/Berlin", "UTC", "Europe", "Mars/Base", "europe/berlin", "../etc", "Etc/GMT+1"]
    )
    | _TEXT,
    "locale": st.sampled_from(["de", "de-DE", "en-gb", "DE", "deu", "de_DE"]) | _TEXT,
    "first_name": st.sampled_from(["Anna", "", "x" * 101, " Max "]) | _TEXT,
    "attr.segment": st.sampled_from(["vip", "", "1"]) | _TEXT,
    "attributes": st.sampled_from(['{"a": 1}', "[1]", "{", '{"segment": "b2b"}', "null"]),
    "_note": _TEXT,
}
_CONSENT_CELLS: dict[str, st.SearchStrategy[str]] = {
    "customer_id": _CELLS["id"],
    "channel": st.sampled_from(["email", "sms", " email", "fax", ""]) | _TEXT,
    "status": st.sampled_from(["subscribed", "unsubscribed", "pending", "Subscribed"]) | _TEXT,
    "source": st.sampled_from(["shop", "", " crm ", "s" * 65]) | _TEXT,
    "at": st.sampled_from(
        [
            *("2026-03-01T10:15:00Z", "2026-03-01T10:15:00", "2026-03-01 10:15+01:00"),
            *("yesterday", "9999-12-31T23:59:00-01:00", "2026-02-30T00:00:00Z", ""),
        ]
    )
    | _TEXT,
    "ip": st.sampled_from(["192.0.2.1", "::1", " 10.0.0.1 ", "300.1.1.1", ""]) | _TEXT,
    "system": st.sampled_from(["Shopware 6", "", "s" * 129]) | _TEXT,
    "wording": _TEXT,
    "purpose": st.sampled_from(["marketing", "newsletter", "Marketing", ""]) | _TEXT,
    "confirmed": st.sampled_from(["true", "false", "yes", "True", ""]),
}


@st.composite
def files(draw: st.DrawFn, cells: dict[str, st.SearchStrategy[str]]) -> tuple[list[str], list]:
    names = draw(st.lists(st.sampled_from(sorted(cells)), min_size=1, unique=True))
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        row = [draw(cells[name]) for name in names]
        if draw(st.integers(0, 9)) == 0:  # a row with a cell too many or too few
            row = row[:-1] if draw(st.booleans()) else [*row, "extra"]
        rows.append(row)
    return names, rows


def reference(kind: Kind, header: list[str], cells: list[str]) -> Checked:
    """The row by the receivers' rules, one model per row, as the store checked it."""
    problem = cells_problem(header, cells)
    if problem is not None:
        return Refused(*problem)
    try:
        fields = Columns(kind).fields(dict(zip(header, cells, strict=True)), text=True)
        if kind == "consent":
            return tuple(row_of(to_consent(fields)))
        external_id, given_fields = to_customer(fields)
        check_customer_id(external_id)
        return external_id, profile_of(parse_profile(given_fields))
    except RowError as exc:
        return Refused(exc.field, exc.reason)
    except ProfileError as exc:
        return refusal(exc)


def fast(kind: Kind, header: list[str], rows: list[list[str]]) -> list[Checked]:
    """What the import makes of the rows; a profile left to the store (a phone number
    without a country: read in the stored one) is checked as the store checks it."""
    out: list[Checked] = []
    for result in check_chunk((CheckSpec(kind, (), tuple(header)), [list(r) for r in rows])):
        if isinstance(result, tuple) and isinstance(result[1], dict):
            try:
                check_customer_id(result[0])
                result = result[0], check_profile(result[1])
            except ProfileError as exc:
                result = refusal(exc)
        out.append(result)
    return out


@FAST
@given(files(_CELLS))
def test_customer_rows_are_checked_as_the_people_api_checks_them(file: Any) -> None:
    header, rows = file
    assert fast("customers", header, rows) == [reference("customers", header, r) for r in rows]


@FAST
@given(files(_CONSENT_CELLS))
def test_consent_rows_are_checked_as_the_consent_model_checks_them(file: Any) -> None:
    header, rows = file
    assert fast("consent", header, rows) == [reference("consent", header, r) for r in rows]


@FAST
@given(
    st.dictionaries(
        st.sampled_from(sorted(_CELLS)),
        st.none() | st.integers() | _TEXT | st.sampled_from(["0151 23456789", "Europe/Berlin"]),
    ),
    st.dictionaries(_TEXT, st.integers() | _TEXT, max_size=2) | st.lists(st.integers()),
)
def test_json_lines_profiles_agree_whatever_their_types(
    values: dict[str, Any], attributes: Any
) -> None:
    # Any key (an unknown one too, `segment`), any JSON type, attributes of any shape.
    fields = {k.removeprefix("attr."): v for k, v in values.items() if not k.startswith("_")}
    fields.pop("id", None)
    if fields.pop("attributes", None) is not None:
        fields["attributes"] = attributes
    try:
        expected: Any = profile_of(parse_profile(fields, "DE"))
    except ProfileError as exc:
        expected = refusal(exc)
    try:
        got: Any = check_profile(fields, "DE")
    except ProfileError as exc:
        got = refusal(exc)
    assert got == expected


def test_the_usual_rows_take_the_fast_path_and_read_the_number_in_the_row_country() -> None:
    header = ["id", "phone", "country", "timezone", "attr.segment"]
    rows = [["c1", "0151 23456789", "de", "Europe/Berlin", "vip"]]
    [(external_id, profile)] = fast("customers", header, rows)
    assert external_id == "c1"
    assert profile == reference("customers", header, rows[0])[1]
    values, attributes = profile
    given = dict(zip(PROFILE_FIELDS, values, strict=True))
    assert (given["phone"], given["country"], given["timezone"]) == (
        "+4915123456789",
        "DE",
        "Europe/Berlin",
    )
    assert attributes == {"segment": "vip"}
