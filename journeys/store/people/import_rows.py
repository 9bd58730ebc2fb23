"""The rows a bulk import hands the store, and what the store makes of each.

Plain values, cheap to build and to send between processes: an import checks its
rows in worker processes (`flows.import_check`) and the store writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple


@dataclass(frozen=True, slots=True)
class Refused:
    """A row the rules refuse: the field and why (for the rejects file)."""

    field: str
    reason: str


class ConsentRow(NamedTuple):
    customer_id: str  # the customer's external id
    channel: str
    status: str
    source: str
    at: datetime
    ip: str | None = None
    proof: tuple[tuple[str, str | None], ...] = ()  # (purpose|system|wording, value)
    confirmed: bool = False  # the source holds the double opt-in's confirmation


Outcome = Literal["created", "updated", "unchanged"]
ConsentOutcome = Literal["created", "updated", "unchanged", "late", "kept"] | Refused
UNKNOWN_CUSTOMER = Refused("customer_id", "no customer with this id (import the customers first)")

__all__ = ["UNKNOWN_CUSTOMER", "ConsentOutcome", "ConsentRow", "Outcome", "Refused"]
