"""Twilio: inbound SMS (STOP, START, HELP and other texts) and message status callbacks.

Both arrive as form posts signed with `X-Twilio-Signature` (HMAC-SHA1 over the URL
Twilio called and the sorted form fields, keyed with the account's auth token),
checked with the SDK's `RequestValidator`. The signature has no timestamp: a replay is
caught by the inbox instead, where the MessageSid (inbound) or MessageSid:MessageStatus
(callbacks) is unique, so a redelivered STOP changes nothing and adds no history.

An inbound keyword changes SMS consent in the transaction that stores the message, so
a STOP blocks the next send the moment Twilio has its answer. Messages from a known
number go to the engine (one event per customer sharing the number); those from an
unknown number are kept for the record under a hash of the number. Status callbacks
are recorded, never processed: a delivery report is not something the customer did,
and as an event it would restart the journeys' inactivity timers.

Message bodies and phone numbers are personal data and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlmodel import Session
from starlette.responses import Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from journeys.phone import InvalidPhoneNumber, to_e164
from journeys.store import IncomingEvent
from journeys.store.feedback.message_events import (
    CustomerRef,
    MessageReport,
    customers_by_phone,
    find_actions,
    record_message_events,
    set_address_consent,
)
from journeys.store.people.consent import set_consent
from journeys.store.state.ingest import store_new_events

from .config import TwilioConfig
from .errors import BadRequest, Unauthorized, Unprocessable
from .inbox import Inbox
from .openapi import signed_request
from .request import RawRequest
from .twilio_keywords import (
    ERROR_CONSENT,
    EVENT_TYPES,
    KEYWORD_CONSENT,
    STATUS_EVENTS,
    Keyword,
    Keywords,
    localized,
)

log = logging.getLogger("journeyflow.webhooks.twilio")

SIGNATURE_HEADER = "X-Twilio-Signature"
_FORM_FIELDS = {
    "MessageSid": "The message (SM…); with MessageStatus, the one reported on",
    "From": "The sender (inbound) or our number (callback)",
    "To": "Our number (inbound) or the recipient (callback)",
    "Body": "The text of an inbound message",
    "MessageStatus": "A status callback: queued, sent, delivered, undelivered, failed, …",
    "ErrorCode": "Why a message failed, e.g. 21610 (the recipient replied STOP)",
    "OptOutType": "Advanced Opt-Out: STOP, START or HELP, a keyword Twilio answered itself",
}


@dataclass(frozen=True, slots=True)
class _Inbound:
    new: int  # events the engine will see
    locale: str | None


class TwilioSource:
    summary = "Receive Twilio inbound SMS and message status callbacks"

    def __init__(self, name: str, config: TwilioConfig) -> None:
        self.name = name
        token = config.auth_token.get_secret_value()
        self._validator = RequestValidator(token)
        self._number_key = token.encode()
        self._keyword = Keywords(config.stop_words, config.start_words, config.help_words)
        self._replies: dict[Keyword, dict[str, str]] = {
            "help": dict(config.help_text),
            "opt_out": dict(config.stop_text),
            "opt_in": dict(config.start_text),
        }
        self.description = (
            f"Twilio posts to '{name}' for inbound SMS (the number's messaging webhook) and "
            "status callbacks (the status_callback URL the SMS channel sets). The header "
            f"{SIGNATURE_HEADER} is required. A whole message STOP, STOPALL, UNSUBSCRIBE, "
            "CANCEL, END, QUIT, REVOKE or OPTOUT (any case) unsubscribes the number from "
            "SMS, START, YES or UNSTOP subscribes it again, HELP or INFO is answered with "
            "the help text; more words are configurable (by default STOPP and ABMELDEN, "
            "HILFE). With Advanced Opt-Out, Twilio has answered a keyword itself (OptOutType): "
            "the answer is empty TwiML, the consent change is applied. Answers TwiML; a "
            "redelivery is acknowledged and applied once."
        )
        self.openapi_extra: dict[str, Any] = signed_request(
            (SIGNATURE_HEADER,),
            {
                "type": "object",
                "required": ["MessageSid"],
                "properties": {
                    field: {"type": "string", "description": text}
                    for field, text in _FORM_FIELDS.items()
                },
            },
            content_type="application/x-www-form-urlencoded",
            query=("idempotency_key", "message_id"),
        )

    async def receive(self, request: RawRequest, inbox: Inbox) -> Response:
        form = self._verified_form(request)
        if "Body" in form:
            return await self._inbound(form, inbox)
        if "MessageStatus" in form:
            return await self._status(form, request.url, inbox)
        raise Unprocessable(
            "expected the field Body (an inbound message) or MessageStatus (a status callback)",
            detail=[
                {"loc": ["Body"], "msg": "missing"},
                {"loc": ["MessageStatus"], "msg": "missing"},
            ],
        )

    def _verified_form(self, request: RawRequest) -> dict[str, str]:
        form = request.form()
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise Unauthorized(f"missing header {SIGNATURE_HEADER}")
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        if len(pairs) != len(form):
            # Twilio sends each field once; a repeated one would be read differently here
            # than the signature covers it.
            counts = Counter(name for name, _ in pairs)
            repeated = sorted(name for name, n in counts.items() if n > 1)
            raise BadRequest(f"form fields appear more than once: {', '.join(repeated)}")
        if not self._validator.validate(request.url, form, signature):
            raise Unauthorized(
                f"{SIGNATURE_HEADER} does not match: check the auth token, and that "
                "public_url gives the URL as configured at Twilio"
            )
        return form

    # --- inbound messages --------------------------------------------------------------

    async def _inbound(self, form: dict[str, str], inbox: Inbox) -> Response:
        sid = _required(form, "MessageSid", _MAX_SID)
        sender = _required(form, "From", _MAX_ADDRESS)
        body = form["Body"]
        # Advanced Opt-Out: Twilio names the keyword class it recognised (its own list,
        # custom words included) and has already answered the customer itself.
        opted = _OPT_OUT_TYPES.get(form.get("OptOutType", "").strip().upper())
        word = opted or self._keyword(body)
        try:
            phone: str | None = to_e164(sender)
        except InvalidPhoneNumber:
            phone = None  # a short code or a channel address: no customer has it

        def work(session: Session, now: datetime) -> _Inbound:
            customers = customers_by_phone(session.connection(), phone) if phone else []
            events = self._inbound_events(sid, sender, phone, word, body, form, customers, now)
            new = store_new_events(session, events, now, processed=not customers)
            new_ids = {event.external_id for event in new}
            consent = KEYWORD_CONSENT.get(word) if word is not None else None
            if consent is not None:
                for customer, event in zip(customers, events, strict=False):
                    if event.external_id in new_ids:
                        set_consent(session, customer.id, "sms", consent, "sms_keyword", now)
            locale = next((c.locale for c in customers if c.locale), None)
            return _Inbound(len(new) if customers else 0, locale)

        outcome = await inbox.run(work)
        inbox.stored(outcome.new)
        log.info("%s: %s, %d new event(s)", self.name, EVENT_TYPES[word], outcome.new)
        reply = None if word is None else localized(self._replies[word], outcome.locale)
        return _twiml(None if opted else reply)

    def _inbound_events(
        self,
        sid: str,
        sender: str,
        phone: str | None,
        word: Keyword | None,
        body: str,
        form: dict[str, str],
        customers: list[CustomerRef],
        now: datetime,
    ) -> list[IncomingEvent]:
        data: dict[str, Any] = {"to": form.get("To", ""), "num_media": form.get("NumMedia", "0")}
        if word is not None:
            data["keyword"] = body.strip().upper()
        if not customers:
            # For the record only: whose number it was stays out of the store.
            return [
                self._event(sid, EVENT_TYPES[word], self._number_id(phone or sender), data, now)
            ]
        if word is None:
            data["body"] = body  # the engine may act on a reply; the store keeps it, logs don't
        # The first customer (the oldest) keeps the plain sid, so adding a customer to a
        # shared number later does not make a redelivery look new for the others.
        return [
            self._event(
                sid if n == 0 else f"{sid}:{n + 1}", EVENT_TYPES[word], c.external_id, data, now
            )
            for n, c in enumerate(customers)
        ]

    def _event(
        self, external_id: str, type: str, customer_id: str, data: dict[str, Any], now: datetime
    ) -> IncomingEvent:
        return IncomingEvent(
            source=self.name,
            external_id=external_id,
            type=type,
            customer_id=customer_id,
            occurred_at=now,
            data=data,
        )

    def _number_id(self, number: str) -> str:
        """Stands in for a customer id where none is known, without keeping the number
        (keyed: a plain hash of a phone number is undone by trying every number)."""
        mac = hmac.new(self._number_key, number.encode(), hashlib.sha256)
        return "sms:" + mac.hexdigest()[:20]

    # --- status callbacks --------------------------------------------------------------

    async def _status(self, form: dict[str, str], url: str, inbox: Inbox) -> Response:
        sid = _required(form, "MessageSid", _MAX_SID)
        status = _required(form, "MessageStatus", _MAX_STATUS).strip().lower()
        if not status.replace("_", "").isalpha() or not status.isascii():
            raise Unprocessable(
                f"MessageStatus '{status[:40]}' is not a status; valid are: "
                + ", ".join(STATUS_EVENTS),
                detail=[{"loc": ["MessageStatus"], "msg": "not a status"}],
            )
        # The SMS channel put these into the callback URL; the signature covers them.
        query = dict(parse_qsl(urlsplit(url).query))
        key = query.get("idempotency_key") or None
        message_id = query.get("message_id") or None
        error_code = form.get("ErrorCode") or None
        event_name = STATUS_EVENTS.get(status)
        try:
            phone: str | None = to_e164(form.get("To", ""))
        except InvalidPhoneNumber:
            phone = None
        detail: dict[str, Any] = {"status": status}
        if error_code:
            detail["error_code"] = error_code
        if message_id:
            detail["message_id"] = message_id

        def work(session: Session, now: datetime) -> bool:
            by_key, by_sid = find_actions(
                session.connection(), keys=[key] if key else [], provider_ids=[sid]
            )
            ref = by_key.get(key or "") or by_sid.get(sid)
            customer = ref.customer_external_id if ref else self._number_id(phone or "")
            event = self._event(f"{sid}:{status}", f"sms.{status}", customer, detail, now)
            if not store_new_events(session, [event], now, processed=True):
                return False
            if event_name is not None:
                report = MessageReport(
                    provider="twilio",
                    event=event_name,
                    at=now,
                    idempotency_key=key,
                    provider_message_id=sid,
                    detail=detail,
                )
                record_message_events(session, [report], now)
            consent = ERROR_CONSENT.get(error_code or "")
            if consent is not None and phone is not None:
                source = f"twilio_error_{error_code}"
                set_address_consent(session, "sms", phone, consent, source, now)
            return True

        new = await inbox.run(work)
        log.info("%s: status %s%s", self.name, status, "" if new else " (duplicate)")
        return _twiml(None)


# Twilio's sids are 34 characters, its statuses a word; an address (a number, a short
# code, a channel address such as whatsapp:+49…) stays well under 64. Longer values are
# refused here, with the field's name, before they reach a column of bounded length.
_MAX_SID = 64
_MAX_STATUS = 32
_MAX_ADDRESS = 128
_OPT_OUT_TYPES: dict[str, Keyword] = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}


def _required(form: dict[str, str], field: str, max_length: int) -> str:
    value = form.get(field, "").strip()
    if not value:
        raise Unprocessable(
            f"the form field {field} is missing or empty",
            detail=[{"loc": [field], "msg": "required"}],
        )
    if len(value) > max_length:
        raise Unprocessable(
            f"the form field {field} has {len(value)} characters; at most {max_length}",
            detail=[{"loc": [field], "msg": f"longer than {max_length} characters"}],
        )
    return value


def _twiml(reply: str | None) -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), media_type="text/xml")
