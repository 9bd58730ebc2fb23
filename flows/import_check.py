"""Checking an import's rows: from what the file holds to the records the store writes.

`check_rows` is what a worker process runs (`import_pool`), or the importing process
itself for a small file: for each row read, its record, or why it is refused. Nothing
here touches the database. A customer's profile is checked here by the people API's
rules (`check_profile`), except a phone number given without a country: that is read
in the country the store has for the customer, so the store checks that row.

Rows come and records go as plain values (lists, tuples, dicts), the cheapest there
are to send between processes: see `Raw` and `Checked`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from journeys.store import IncomingEvent
from journeys.store.import_rows import Refused
from journeys.store.importing import refusal
from journeys.store.people import ProfileError
from journeys.store.people import _check_id as check_customer_id
from journeys.store.profile_check import check_profile

from .import_columns import Columns, Kind, RowError
from .import_file import BadRow, Raw, cells_problem
from .import_records import consent_row, to_customer, to_event

# A row's record, or why it is refused. Customers: (external id, profile), the profile
# checked (`check_profile`) or as given; consent: a `ConsentRow`'s values; events: the
# `IncomingEvent`.
Checked = tuple[Any, ...] | IncomingEvent | Refused


@dataclass(frozen=True)
class CheckSpec:
    """What the rows of one file need to be checked; small, it goes with every chunk."""

    kind: Kind
    mapping: tuple[tuple[str, str], ...] = ()
    header: tuple[str, ...] = ()  # a CSV file's


Chunk = tuple[CheckSpec, list[Raw]]


def check_chunk(chunk: Chunk) -> list[Checked]:
    """Each row's record, or why it is refused, in the order of the chunk's rows."""
    spec, rows = chunk
    check = _checker(spec)
    return [check(row) for row in rows]


_checkers: dict[CheckSpec, Callable[[Raw], Checked]] = {}


def _checker(spec: CheckSpec) -> Callable[[Raw], Checked]:
    found = _checkers.get(spec)
    if found is None:
        if len(_checkers) > 16:
            _checkers.clear()
        found = _checkers[spec] = _make_checker(spec)
    return found


def _make_checker(spec: CheckSpec) -> Callable[[Raw], Checked]:
    columns = Columns(spec.kind, dict(spec.mapping))
    header = spec.header
    cells = columns.cells(header) if header else None
    record = _RECORDS[spec.kind]

    def check(row: Raw) -> Checked:
        if isinstance(row, BadRow):
            return Refused(row.field, row.reason)
        try:
            if isinstance(row, dict):
                return record(columns.fields(row, text=False))
            problem = cells_problem(header, row)
            if problem is not None:
                return Refused(*problem)
            assert cells is not None
            return record(cells(row))
        except RowError as exc:
            return Refused(exc.field, exc.reason)

    return check


def checked_customer(fields: dict[str, Any]) -> Checked:
    """The customer's (external id, checked profile), or why it is refused."""
    external_id, given = to_customer(fields)
    if fields.get("phone") is not None and fields.get("country") is None:
        return external_id, given  # read in the stored country: the store checks it
    try:
        check_customer_id(external_id)
        return external_id, check_profile(fields)
    except ProfileError as exc:
        return refusal(exc)


def _consent(fields: dict[str, Any]) -> Checked:
    return tuple(consent_row(fields))


_RECORDS: dict[Kind, Callable[[dict[str, Any]], Checked]] = {
    "customers": checked_customer,
    "consent": _consent,
    "events": to_event,
}
