"""What a failure inside a source becomes: a 4xx for the request, a 503 for the store.

Senders retry every 5xx, most for hours, so a request that fails the same way each time
must not get one: its retries would be a storm that never succeeds. The rule:

- the store is down, busy or out of connections (the same request later may succeed):
  503 with Retry-After, nothing was stored;
- a value the event model refused (pydantic) or the store refused (a database
  DataError, e.g. a character its text type cannot hold): 422 naming it;
- anything else is a failure of this request that no retry mends: 400 with the kind
  of error, logged at ERROR with where it happened (the operator's to look at), while
  the message itself stays out of the log, as it may quote personal data.
"""

from __future__ import annotations

import logging
import traceback

from pydantic import ValidationError
from sqlalchemy.exc import DataError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import ClientDisconnect

from .errors import BadRequest, InboundError, Unavailable, Unprocessable

log = logging.getLogger("journeyflow.webhooks")

# Connection lost or refused, server shutting down, locked (SQLite), pool exhausted.
OUTAGES = (OperationalError, InterfaceError, InternalError, PoolTimeout)


def refusal(source: str, exc: Exception) -> InboundError:
    """The answer to `exc`, raised while `source` handled a request."""
    if isinstance(exc, InboundError):
        return exc
    if isinstance(exc, ClientDisconnect):
        return BadRequest("the client went away before the body was read")  # nobody hears it
    if isinstance(exc, ValidationError):
        # A value the source's own checks let through and the event model refused (a
        # field too long for its column, say): the sender's fault, named.
        problems = [
            {"loc": list(e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        fields = ", ".join(".".join(map(str, p["loc"])) for p in problems[:5])
        return Unprocessable(f"invalid event fields: {fields}", detail=problems)
    if isinstance(exc, OUTAGES):
        log.warning("%s: the store is unavailable (%s)", source, type(exc).__name__)
        return Unavailable("the store is unavailable; try again later")
    if isinstance(exc, DataError):
        # The driver's first line names the value's problem, not the value.
        reason = str(exc.orig).splitlines()[0][:200] if exc.orig is not None else "DataError"
        return Unprocessable(f"the store cannot keep a value of this request: {reason}")
    log.error(
        "%s: a request failed with an unexpected %s at %s",
        source,
        type(exc).__name__,
        _where(exc),
    )
    return BadRequest(
        f"the request could not be processed (an unexpected {type(exc).__name__}); "
        "it was not accepted, and the service logged where it failed"
    )


def _where(exc: BaseException) -> str:
    """The innermost frames of `exc`'s traceback: file, line and function, no values."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames[::-1])
