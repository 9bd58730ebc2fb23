"""HubSpot app webhooks: batches of CRM events signed with v3 signatures.

HubSpot posts a JSON array of events, at least once and in no particular order:

    [{"eventId": 100, "subscriptionId": 7, "portalId": 62515, "appId": 54321,
      "occurredAt": 1764000000000, "subscriptionType": "contact.propertyChange",
      "attemptNumber": 0, "objectId": 123, "changeSource": "CRM_UI",
      "propertyName": "lifecyclestage", "propertyValue": "lead"}]

A contact's `lifecyclestage` change to a mapped value (named or a custom stage's
numeric id) becomes that journey event, `crm.lifecycle.<stage>` by default; a change of
a profile property (email, names, phone) becomes `crm.contact.updated` carrying the
profile update. Everything else (unmapped stages, other properties, other subscription
types) is stored for the record only and counted as ignored. The engine applies events
in `occurredAt` order and treats a change older than the customer's entry into their
current stage as stale, so late or reordered deliveries cannot move anyone back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session
from starlette.responses import JSONResponse, Response

from journeys.store import CustomerProfile, IncomingEvent, store_new_events
from journeys.types import EVENT_PATTERN

from .config import HubSpotConfig
from .errors import Unprocessable
from .hubspot_signature import SIGNATURE, TIMESTAMP, verify_hubspot_v3
from .inbox import Inbox
from .json_body import load_json
from .openapi import signed_request
from .request import RawRequest

MAX_EVENTS = 1000  # HubSpot sends at most 100; the body limit bounds the rest
PROFILE_EVENT = "crm.contact.updated"
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


class HubSpotEvent(BaseModel):
    """One element of the array, named as HubSpot names it (errors name these fields)."""

    # HubSpot adds fields over time; unknown ones are not an error.
    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: int = Field(alias="eventId", ge=0)
    subscription_id: int = Field(alias="subscriptionId")
    portal_id: int = Field(alias="portalId")
    occurred_at: int = Field(alias="occurredAt", ge=0, le=_MAX_MS, description="Unix ms")
    subscription_type: str = Field(alias="subscriptionType", min_length=1, max_length=100)
    object_id: int = Field(alias="objectId")
    object_type_id: str | None = Field(default=None, alias="objectTypeId")
    change_source: str | None = Field(default=None, alias="changeSource")
    property_name: str | None = Field(default=None, alias="propertyName")
    property_value: str | int | float | bool | None = Field(default=None, alias="propertyValue")

    @property
    def key(self) -> str:
        # HubSpot does not promise eventId is unique on its own; a redelivery repeats
        # all four, so together they identify the event.
        return f"{self.portal_id}-{self.subscription_id}-{self.object_id}-{self.event_id}"

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.occurred_at / 1000, UTC)

    def value(self) -> str | None:
        v = self.property_value
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

    def is_contact_change(self) -> bool:
        # Generic ("object.*") subscriptions name contacts by object type id 0-1.
        return self.subscription_type == "contact.propertyChange" or (
            self.subscription_type == "object.propertyChange" and self.object_type_id == "0-1"
        )


EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "eventId",
        "subscriptionId",
        "portalId",
        "occurredAt",
        "subscriptionType",
        "objectId",
    ],
    "properties": {
        "eventId": {"type": "integer"},
        "subscriptionId": {"type": "integer"},
        "portalId": {"type": "integer", "description": "The HubSpot account"},
        "appId": {"type": "integer"},
        "occurredAt": {"type": "integer", "description": "Unix time in milliseconds"},
        "subscriptionType": {"type": "string", "example": "contact.propertyChange"},
        "attemptNumber": {"type": "integer"},
        "objectId": {"type": "integer", "description": "The contact's id"},
        "changeSource": {"type": "string", "example": "CRM_UI"},
        "propertyName": {"type": "string", "example": "lifecyclestage"},
        "propertyValue": {"type": "string", "example": "marketingqualifiedlead"},
    },
}


def parse_hubspot(body: bytes) -> list[HubSpotEvent]:
    """The events of a body (400 when it is not JSON, 422 naming index and field)."""
    payload = load_json(body)
    if not isinstance(payload, list) or not all(isinstance(i, dict) for i in payload):
        raise Unprocessable("expected a JSON array of HubSpot event objects")
    if not payload or len(payload) > MAX_EVENTS:
        raise Unprocessable(f"expected 1 to {MAX_EVENTS} events, got {len(payload)}")
    events: list[HubSpotEvent] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(payload):
        try:
            events.append(HubSpotEvent.model_validate(item))
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                problems.append({"loc": [index, *error["loc"]], "msg": error["msg"]})
    if problems:
        raise _invalid(problems)
    return events


def _invalid(problems: list[dict[str, Any]]) -> Unprocessable:
    where = ", ".join(".".join(str(p) for p in problem["loc"]) for problem in problems[:5])
    return Unprocessable(f"invalid event fields: {where}", detail=problems)


def _record_type(subscription_type: str) -> str:
    """`contact.propertyChange` -> `hubspot.contact.property_change` (an event type)."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", subscription_type).lower()
    candidate = f"hubspot.{snake}"
    return candidate if re.fullmatch(EVENT_PATTERN, candidate) else "hubspot.event"


class HubSpotSource:
    summary = "Receive HubSpot CRM events (contact lifecycle stage and profile changes)"

    def __init__(self, name: str, config: HubSpotConfig) -> None:
        self.name = name
        self._secret = config.client_secret.get_secret_value().encode()
        self._tolerance = timedelta(seconds=config.tolerance_seconds)
        self._customer_id = config.customer_id
        self._stages = {k: v for k, v in config.lifecyclestage.items() if v is not None}
        self._profile = dict(config.profile)
        mapping = ", ".join(f"{k} → {v}" for k, v in sorted(self._stages.items()))
        self.description = (
            f"HubSpot webhooks for '{name}'. Headers {SIGNATURE} (base64 HMAC-SHA256 of "
            f"method, URL, body and timestamp with the app's client secret) and {TIMESTAMP} "
            f"(Unix ms, within {config.tolerance_seconds} s) are required. Contact "
            f"`lifecyclestage` changes become journey events: {mapping}. Changes of "
            f"{', '.join(sorted(self._profile))} update the customer's profile. Other events "
            "are stored and counted as ignored. 200 with counts; a redelivered event is "
            "acknowledged and applied once."
        )
        self.openapi_extra = signed_request(
            (SIGNATURE, TIMESTAMP),
            {"type": "array", "items": EVENT_SCHEMA, "maxItems": MAX_EVENTS},
        )

    def convert(self, event: HubSpotEvent) -> tuple[IncomingEvent, bool]:
        """The inbox event for a HubSpot event, and whether the engine should apply it."""
        data: dict[str, Any] = {
            "portal_id": event.portal_id,
            "object_id": event.object_id,
            "subscription_type": event.subscription_type,
            "change_source": event.change_source,
        }
        fields = {
            "source": self.name,
            "external_id": event.key,
            "customer_id": self._customer_id.format(
                objectId=event.object_id, portalId=event.portal_id
            ),
            "occurred_at": event.at,
        }
        value = event.value()
        if event.is_contact_change() and value:
            if event.property_name == "lifecyclestage" and value in self._stages:
                data["lifecyclestage"] = value
                return IncomingEvent(type=self._stages[value], data=data, **fields), True
            profile_field = self._profile.get(event.property_name or "")
            if profile_field is not None:
                try:
                    profile = CustomerProfile.model_validate({profile_field: value})
                except ValidationError:
                    profile = None  # e.g. an invalid phone number: kept for the record below
                if profile is not None:
                    data["property"] = event.property_name
                    return (
                        IncomingEvent(type=PROFILE_EVENT, data=data, customer=profile, **fields),
                        True,
                    )
        if event.property_name is not None:
            data["property"] = event.property_name
            data["value"] = value
        return IncomingEvent(type=_record_type(event.subscription_type), data=data, **fields), False

    async def receive(self, request: RawRequest, inbox: Inbox) -> Response:
        verify_hubspot_v3(
            self._secret,
            request.method,
            request.url,
            request.headers,
            request.body,
            inbox.now(),
            self._tolerance,
        )
        parsed = parse_hubspot(request.body)
        applied: list[IncomingEvent] = []
        recorded: list[IncomingEvent] = []
        problems: list[dict[str, Any]] = []
        for index, hubspot_event in enumerate(parsed):
            try:
                event, applies = self.convert(hubspot_event)
            except ValidationError as exc:  # e.g. a customer id over 255 characters
                for error in exc.errors(include_url=False, include_input=False):
                    problems.append({"loc": [index, *error["loc"]], "msg": error["msg"]})
                continue
            (applied if applies else recorded).append(event)
        if problems:
            raise _invalid(problems)

        def store(session: Session, now: datetime) -> tuple[int, int]:
            new_applied = store_new_events(session, applied, now)
            # Stored as processed: on the record and deduplicated, never seen by the engine.
            new_recorded = store_new_events(session, recorded, now, processed=True)
            return len(new_applied), len(new_recorded)

        new_applied, new_recorded = await inbox.run(store)
        inbox.stored(new_applied)
        new = new_applied + new_recorded
        return JSONResponse(
            {
                "received": len(parsed),
                "new": new,
                "duplicates": len(parsed) - new,
                "ignored": len(recorded),
            }
        )
