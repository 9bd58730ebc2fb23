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
from journeys.store.people.import_rows import Refused
from journeys.store.people.profile_check import check_profile
from journeys.store.people.profile_rules import ProfileError, check_customer_id, refusal

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
    return _shared([check(row) for row in rows])


def _shared(results: list[Checked]) -> list[Checked]:
    """The results with equal strings made one object: a chunk is pickled to the
    importing process, and pickle sends an object it has sent once as a reference,
    so a country, time zone, status or consent wording repeated down the file is
    sent (and rebuilt there) once per chunk rather than once per row."""
    seen: dict[Any, Any] = {}
    # Only text is shared: 1, 1.0 and True are equal keys of a dict, not one value.
    # A profile's values and a consent row's first four are text (or None) by their
    # types, so those go through `setdefault` by `map`, without a call in Python.
    share = seen.setdefault

    def one(value: Any) -> Any:
        return share(value, value) if type(value) is str else value

    out: list[Checked] = []
    for result in results:
        if type(result) is tuple and len(result) == 2 and type(result[1]) is tuple:
            values, attributes = result[1]  # a customer's checked profile
            shared = {key: one(value) for key, value in attributes.items()}
            result = result[0], (tuple(map(share, values, values)), shared)
        elif type(result) is tuple and len(result) == 8:  # a consent row's values
            proof = tuple((name, one(value)) for name, value in result[6])
            text = result[:4]  # customer id, channel, status, source
            result = (*map(share, text, text), result[4], one(result[5]), proof, result[7])
        out.append(result)
    return out


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
