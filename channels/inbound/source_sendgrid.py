"""SendGrid's Event Webhook: what became of each mail, and addresses that must not get more.

SendGrid posts a JSON array of events, signed with ECDSA (P-256, SHA-256) over the
`X-Twilio-Email-Event-Webhook-Timestamp` header followed by the body; the SDK's
`EventWebhook` verifies it with the key from Settings > Mail Settings > Event Webhook.

Each event is stored once, by its `sg_event_id`: SendGrid retries a batch it got no
2xx for, and a retried batch may overlap one that did arrive. For the new events, in
the same transaction as storing them:

- the report goes to `message_event` and the action's delivery state, matched through
  the `idempotency_key` our mails carry in `custom_args` (SendGrid flattens those into
  the event), else through `sg_message_id`, whose part before the first '.' is the
  X-Message-Id the send stored;
- a hard bounce, a drop for a known bad address and a spam report suppress the address
  for every customer who has it; an unsubscribe unsubscribes it;
- an event about one of our actions waits in the inbox as `email.<what>` for that
  action's customer, so a journey can react to an open or a click. Other events (no
  matching action, a type SendGrid adds later) are stored for the record only.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from sqlmodel import Session
from starlette.responses import JSONResponse, Response

from journeys.store import IncomingEvent
from journeys.store.feedback.message_events import (
    MessageReport,
    find_actions,
    record_message_events,
    set_address_consent,
)
from journeys.store.state.ingest import store_new_events

from .config import ReceiverConfigError, SendGridConfig
from .errors import BadRequest, Unauthorized, Unprocessable
from .inbox import Inbox
from .json_body import load_json
from .openapi import signed_request
from .request import RawRequest
from .signatures import check_timestamp

log = logging.getLogger("journeyflow.webhooks.sendgrid")

SIGNATURE = EventWebhookHeader.SIGNATURE
TIMESTAMP = EventWebhookHeader.TIMESTAMP

# SendGrid event -> (message_event event, inbox event type). Anything else is kept for
# the record only.
EVENTS: dict[str, tuple[str, str]] = {
    "processed": ("queued", "email.processed"),
    "deferred": ("deferred", "email.deferred"),
    "delivered": ("delivered", "email.delivered"),
    "open": ("open", "email.opened"),
    "click": ("click", "email.clicked"),
    "bounce": ("bounce", "email.bounced"),
    "dropped": ("dropped", "email.dropped"),
    "spamreport": ("spamreport", "email.spam_reported"),
    "unsubscribe": ("unsubscribe", "email.unsubscribed"),
    "group_unsubscribe": ("group_unsubscribe", "email.group_unsubscribed"),
}
# What the recipient did reaches the engine (journeys may react to a click, and it is
# activity for `no_event_for`); what the provider did (processed, delivered, bounced, …)
# is kept as a record only, or every delivery report of a re-engagement mail would make
# the customer look active again.
ENGAGEMENT = frozenset({"open", "click", "spamreport", "unsubscribe", "group_unsubscribe"})
# Drop reasons that are about the address, not this one message ("Spam Content" or an
# exceeded quota are not).
DROPPED_CONSENT = {
    "bounced address": "suppressed",
    "invalid": "suppressed",
    "spam reporting address": "suppressed",
    "unsubscribed address": "unsubscribed",
}
# The placeholder customer of an event kept for the record only (the engine never
# reads it); the address itself stays out of the inbox.
UNMATCHED = "(unmatched)"
LAST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
CUSTOM_ARGS = ("message_id", "idempotency_key", "journey", "stage", "action", "variant")


class SendGridEvent(BaseModel):
    """One event of a batch; fields we do not use (useragent, ip, category, …) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=320)
    timestamp: int = Field(ge=0, le=LAST_TIMESTAMP)
    sg_event_id: str = Field(min_length=1, max_length=255)
    sg_message_id: str | None = Field(default=None, max_length=255)
    reason: str | None = None
    status: str | None = None
    type: str | None = None  # bounce: "bounce" (permanent) or "blocked" (temporary)
    url: str | None = None
    asm_group_id: int | None = None
    # Our custom_args, flattened into the event by SendGrid.
    message_id: str | None = None
    idempotency_key: str | None = None
    journey: str | None = None
    stage: str | None = None
    action: str | None = None
    variant: str | None = None

    @field_validator(*CUSTOM_ARGS, mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # A batch may also report mails sent by other systems, whose custom args can be
        # numbers; refusing one would make SendGrid retry the whole batch for a day.
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)

    @property
    def provider_message_id(self) -> str | None:
        return self.sg_message_id.split(".", 1)[0] if self.sg_message_id else None

    @property
    def blocked(self) -> bool:
        return self.event == "bounce" and (self.type or "").lower() == "blocked"

    @property
    def inbox_type(self) -> str:
        if self.blocked:
            return "email.blocked"
        known = EVENTS.get(self.event)
        return known[1] if known else "email.other"

    def consent(self) -> str | None:
        """The address's new email consent status, if this event changes it."""
        if self.event == "bounce":
            return None if self.blocked else "suppressed"
        if self.event == "dropped":
            return DROPPED_CONSENT.get((self.reason or "").strip().lower())
        if self.event == "spamreport":
            return "suppressed"
        if self.event in ("unsubscribe", "group_unsubscribe"):
            return "unsubscribed"
        return None

    def detail(self) -> dict[str, Any]:
        """What is kept about the event: no address, and a clicked URL without its query,
        which may carry link tokens and tracking ids."""
        url = None
        if self.url:
            parts = urlsplit(self.url)
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        fields = {
            "event": self.event,
            "sg_event_id": self.sg_event_id,
            "sg_message_id": self.sg_message_id,
            "reason": self.reason,
            "status": self.status,
            "type": self.type,
            "url": url,
            "asm_group_id": self.asm_group_id,
            "message_id": self.message_id,
            "journey": self.journey,
            "stage": self.stage,
            "action": self.action,
            "variant": self.variant,
        }
        return {k: v for k, v in fields.items() if v is not None}


def parse_events(body: bytes) -> list[SendGridEvent]:
    """The events of a body (400 when it is not JSON, 422 naming each invalid field)."""
    payload = load_json(body)
    if not isinstance(payload, list):
        raise Unprocessable(f"expected a JSON array of events, got {type(payload).__name__}")
    events: list[SendGridEvent] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            problems.append({"loc": [index], "msg": "expected an event object"})
            continue
        try:
            events.append(SendGridEvent.model_validate(item))
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                problems.append({"loc": [index, *error["loc"]], "msg": error["msg"]})
    if problems:
        where = ", ".join(".".join(str(p) for p in problem["loc"]) for problem in problems[:5])
        raise Unprocessable(f"invalid event fields: {where}", detail=problems)
    return events


def load_public_key(name: str, key: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER; PEM armour is tolerated)."""
    lines = [line.strip() for line in key.strip().splitlines()]
    compact = "".join(line for line in lines if line and not line.startswith("-----"))
    try:
        loaded = EventWebhook().convert_public_key_to_ecdsa(compact)
    except (ValueError, TypeError) as exc:
        loaded = exc
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise ReceiverConfigError(
            f"sources.{name}.public_key: not an ECDSA public key in base64 DER (copy the "
            "verification key from SendGrid's Settings > Mail Settings > Event Webhook): "
            f"{loaded if isinstance(loaded, Exception) else type(loaded).__name__}"
        )
    return loaded


def _unique(events: list[SendGridEvent]) -> list[SendGridEvent]:
    seen: dict[str, SendGridEvent] = {}
    for event in events:
        seen.setdefault(event.sg_event_id, event)
    return list(seen.values())


class SendGridSource:
    summary = "Receive SendGrid's Event Webhook (delivery, engagement, unsubscribes)"

    def __init__(self, name: str, config: SendGridConfig) -> None:
        self.name = name
        self._key = load_public_key(name, config.public_key.get_secret_value())
        self._verifier = EventWebhook()
        self._tolerance = timedelta(seconds=config.tolerance_seconds)
        self.description = (
            f"SendGrid's signed Event Webhook for '{name}'. Headers {SIGNATURE} (ECDSA) and "
            f"{TIMESTAMP} (±{config.tolerance_seconds} s) are required. Bounces, drops for "
            "a bad address and spam reports suppress the address, unsubscribes unsubscribe "
            "it; each event is applied once by its sg_event_id. 200 with counts."
        )
        self.openapi_extra = signed_request(
            (SIGNATURE, TIMESTAMP),
            {"type": "array", "items": SendGridEvent.model_json_schema()},
        )

    async def receive(self, request: RawRequest, inbox: Inbox) -> Response:
        self._verify(request, inbox.now())
        events = parse_events(request.body)
        counts = await inbox.run(lambda session, now: self._store(session, events, now))
        inbox.stored(counts["queued"])
        log.info(
            "%s: %d events, %d new, %d matched",
            self.name,
            counts["received"],
            counts["new"],
            counts["matched"],
        )
        return JSONResponse({k: v for k, v in counts.items() if k != "queued"})

    def _verify(self, request: RawRequest, now: datetime) -> None:
        signature = request.header(SIGNATURE)
        if not signature:
            raise Unauthorized(f"missing header {SIGNATURE}")
        timestamp = request.header(TIMESTAMP)
        check_timestamp(timestamp, now, self._tolerance, TIMESTAMP)
        assert timestamp is not None  # check_timestamp refused a missing one
        try:
            payload = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the body is not UTF-8 JSON") from None
        try:
            valid = self._verifier.verify_signature(payload, signature, timestamp, self._key)
        except ValueError:
            valid = False  # not base64, or not a DER signature at all
        if not valid:
            raise Unauthorized(
                f"{SIGNATURE} does not match the body and {TIMESTAMP} with the configured "
                "public_key"
            )

    def _store(
        self, session: Session, events: list[SendGridEvent], now: datetime
    ) -> dict[str, int]:
        unique = _unique(events)
        by_key, by_provider = find_actions(
            session.connection(),
            keys=(e.idempotency_key for e in unique if e.idempotency_key),
            provider_ids=(e.provider_message_id for e in unique if e.provider_message_id),
        )
        for_engine: list[IncomingEvent] = []
        for_record: list[IncomingEvent] = []
        action_ids: dict[str, int] = {}
        for event in unique:
            ref = by_key.get(event.idempotency_key or "") or by_provider.get(
                event.provider_message_id or ""
            )
            action_ids[event.sg_event_id] = ref.id if ref else 0
            incoming = IncomingEvent(
                source=self.name,
                external_id=event.sg_event_id,
                type=event.inbox_type,
                customer_id=ref.customer_external_id if ref else UNMATCHED,
                occurred_at=event.at,
                data=event.detail(),
            )
            engaged = event.event in ENGAGEMENT
            (for_engine if ref and engaged else for_record).append(incoming)
        queued = store_new_events(session, for_engine, now)
        recorded = store_new_events(session, for_record, now, processed=True)
        new_ids = {e.external_id for e in queued} | {e.external_id for e in recorded}
        # Rows are locked in one order by every request (actions by id, consent by
        # address), so concurrent batches about the same mails wait instead of deadlocking.
        new = sorted(
            (e for e in unique if e.sg_event_id in new_ids),
            key=lambda e: (action_ids[e.sg_event_id], e.timestamp),
        )
        reports = [
            MessageReport(
                provider="sendgrid",
                event=EVENTS[e.event][0],
                at=e.at,
                idempotency_key=e.idempotency_key,
                provider_message_id=e.provider_message_id,
                detail=e.detail(),
            )
            for e in new
            if e.event in EVENTS
        ]
        matched = record_message_events(session, reports, now)
        # Oldest first per address: within one batch the newest change is the one that stays.
        for event in sorted(new, key=lambda e: (e.email.strip().lower(), e.timestamp)):
            status = event.consent()
            if status is not None:
                set_address_consent(
                    session, "email", event.email, status, f"sendgrid_{event.event}", event.at
                )
        return {
            "received": len(events),
            "new": len(new),
            "duplicates": len(events) - len(new),
            "matched": sum(ref is not None for ref in matched),
            "queued": len(queued),
        }
