"""When a consent record changes a customer's current consent: the rule, without I/O.

Written once, for every writer that takes consent from outside (the people API's
`give_consent`, the bulk import), in the order `record_consent` applies it:

- `same`: the record is the current consent (same status, same time): nothing to do,
  so a file imported twice changes nothing the second time;
- `late`: it is older than the current consent: history only, the newer state stands;
- `kept` (`consent_hold` says why): a `suppressed` address (a bounce, a spam report,
  an invalid number) is lifted by nothing a form or a file says, and a double opt-in
  still `pending` becomes `subscribed` only when the source declares it holds the
  confirmation; history only;
- `apply`: it becomes the current consent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

Verdict = Literal["apply", "same", "late", "kept"]

LATE = "older than the current consent"


def consent_hold(current: str | None, status: str, *, confirmed: bool) -> str | None:
    """Why `status` must not replace the `current` consent, or None when it may."""
    if current == "suppressed" and status != "suppressed":
        return "the address stays suppressed"
    if current == "pending" and status == "subscribed" and not confirmed:
        return "double opt-in pending; the source declares no confirmation"
    return None


def consent_outcome(
    current: str | None,
    current_at: datetime | None,
    status: str,
    at: datetime,
    *,
    confirmed: bool = False,
) -> tuple[Verdict, str | None]:
    """What a record of `status` at `at` does to the current consent (None: no record),
    and why it is not applied (for the history's detail)."""
    if current is None or current_at is None:
        return "apply", None
    if status == current and at == current_at:
        return "same", None
    if at < current_at:
        return "late", LATE
    hold = consent_hold(current, status, confirmed=confirmed)
    return ("kept", hold) if hold else ("apply", None)
