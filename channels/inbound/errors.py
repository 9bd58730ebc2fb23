"""What a receiver answers to bad input: a status and a reason, never a stack trace."""

from __future__ import annotations

from typing import Any, ClassVar

from journeys.errors import JourneyflowError


class InboundError(JourneyflowError):
    """A request the receiver refuses; `status` is the HTTP status it answers with."""

    status = 400
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, reason: str, *, detail: Any = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.reason}
        if self.detail is not None:
            body["detail"] = self.detail
        return body


class BadRequest(InboundError):
    """The body cannot be read at all (not JSON, not a form, wrong content type)."""

    status = 400


class Unauthorized(InboundError):
    """Missing or wrong signature, or a timestamp outside the tolerance window."""

    status = 401


class UnknownSource(InboundError):
    status = 404


class TooLarge(InboundError):
    status = 413


class Unprocessable(InboundError):
    """Readable, but not a valid event: `detail` lists the fields and what is wrong."""

    status = 422


class Unavailable(InboundError):
    """The store cannot take the request now; the sender should try again later."""

    status = 503
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "5"}
