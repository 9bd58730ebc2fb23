"""Generic JSON events signed per Standard Webhooks: shops, CRMs, your own backend.

The body is one event or a JSON array of up to 1,000, in the shape of
`journeys.store.IncomingEvent` without `source` (the URL names it):

    {"external_id": "o-1001", "type": "order.completed", "customer_id": "c-42",
     "occurred_at": "2026-03-01T10:15:00Z", "data": {"total": 99.5},
     "customer": {"email": "anna@example.com"}}

A single event may leave out `external_id`: the `webhook-id` header is then its id,
so a redelivery of the same webhook is a duplicate. Duplicates are acknowledged 200
and stored (and applied) once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from channels.webhook_out import decode_secret
from journeys.store import IncomingEvent, store_events

from .config import StandardWebhooksConfig
from .errors import Unprocessable
from .event_plan import check_events
from .inbox import Inbox
from .json_body import load_json
from .openapi import signed_request
from .request import RawRequest
from .signatures import verify_standard_webhook

MAX_EVENTS = 1000

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "customer_id", "occurred_at"],
    "properties": {
        "external_id": {"type": "string", "description": "Unique per source; default webhook-id"},
        "type": {"type": "string", "example": "order.completed"},
        "customer_id": {"type": "string", "description": "The customer's external id"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "data": {"type": "object"},
        "customer": {"type": "object", "description": "Profile fields to update"},
    },
}


def parse_events(source: str, body: bytes, webhook_id: str) -> list[IncomingEvent]:
    """The events of a body (400 when it is not JSON, 422 naming each invalid field)."""
    payload = load_json(body)
    single = isinstance(payload, dict)
    items = [payload] if single else payload
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Unprocessable("expected an event object or an array of event objects")
    if not items or len(items) > MAX_EVENTS:
        raise Unprocessable(f"expected 1 to {MAX_EVENTS} events, got {len(items)}")
    events: list[IncomingEvent] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        given = item.get("source")
        if given is not None and given != source:
            problems.append({"loc": [index, "source"], "msg": f"must be '{source}' or left out"})
            continue
        fields = {**item, "source": source}
        if single:
            fields.setdefault("external_id", webhook_id)
        try:
            events.append(IncomingEvent.model_validate(fields))
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                loc = list(error["loc"]) if single else [index, *error["loc"]]
                problems.append({"loc": loc, "msg": error["msg"]})
    if problems:
        where = ", ".join(".".join(str(p) for p in problem["loc"]) for problem in problems[:5])
        raise Unprocessable(f"invalid event fields: {where}", detail=problems)
    return events


class StandardWebhooksSource:
    summary = "Receive JSON events signed per Standard Webhooks"

    def __init__(self, name: str, config: StandardWebhooksConfig) -> None:
        self.name = name
        self._keys = [decode_secret(s.get_secret_value()) for s in config.secrets]
        self._tolerance = timedelta(seconds=config.tolerance_seconds)
        self.description = (
            f"Events from '{name}'. Headers webhook-id, webhook-timestamp (±"
            f"{config.tolerance_seconds} s) and webhook-signature (v1, HMAC-SHA256) are "
            "required. 200 with counts; a duplicate (same external_id) is acknowledged "
            "and applied once."
        )
        self.openapi_extra = signed_request(
            ("webhook-id", "webhook-timestamp", "webhook-signature"),
            {
                "oneOf": [
                    EVENT_SCHEMA,
                    {"type": "array", "items": EVENT_SCHEMA, "maxItems": MAX_EVENTS},
                ]
            },
        )

    async def receive(self, request: RawRequest, inbox: Inbox) -> Response:
        webhook_id = verify_standard_webhook(
            self._keys, request.headers, request.body, inbox.now(), self._tolerance
        )
        events = parse_events(self.name, request.body, webhook_id)
        check_events(inbox.plan, self.name, events)
        stored = await inbox.run(lambda session, now: store_events(session, events, now))
        inbox.stored(stored.new)
        return JSONResponse(
            {"received": len(events), "new": stored.new, "duplicates": stored.duplicates}
        )
