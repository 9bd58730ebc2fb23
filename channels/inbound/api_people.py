"""The people API under /api/v1: customers, consent, journeys by hand, events, GDPR.

Bearer tokens (`api_auth`); every write is one transaction through the inbox's group
commit, so a refused request leaves nothing half-written. Bodies are read bounded
(size, depth, number size) and every refusal is a 4xx naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session
from starlette.responses import JSONResponse, Response

from channels.outbox_erase import erase_outbox_files
from channels.settings import ChannelSettings
from journeys.engine_manual import ManualRefused
from journeys.store import store_events, store_new_events
from journeys.store.events import UTCTime
from journeys.store.people.erased import ErasedCustomer
from journeys.store.people.erasure import erase_customer
from journeys.store.people.profile_rules import ProfileError
from journeys.store.people.profiles import (
    customer_id_of,
    customer_updated,
    give_consent,
    upsert_customer,
)
from journeys.store.people.view import customer_export, customer_view
from journeys.store.state.manual import apply_manual

from .api_auth import ApiToken, TokenCheck
from .errors import InboundError, Unavailable, Unprocessable
from .event_plan import check_events
from .failures import refusal
from .inbox import Inbox
from .json_body import load_json
from .request import read_request
from .source_standard import EVENT_SCHEMA, parse_events

T = TypeVar("T")
PREFIX = "/api/v1"
API_SOURCE = "api"
# A consent's time may run a little ahead of ours (clocks differ), not more.
CLOCK_SLACK = timedelta(minutes=5)


class NotFound(InboundError):
    status = 404


class Conflict(InboundError):
    status = 409


class Gone(InboundError):
    status = 410


class ConsentIn(BaseModel):
    """Consent a source holds, with its proof."""

    model_config = ConfigDict(extra="forbid")
    channel: Literal["email", "sms"]
    status: Literal["subscribed", "unsubscribed", "pending", "suppressed"]
    purpose: Literal["marketing"] = "marketing"
    source: str = Field(min_length=1, max_length=64, description="shop, crm, paper_form, …")
    # In UTC at once: a time past year 9999 in UTC is an invalid field here, not an
    # overflow where the store converts it.
    at: UTCTime = Field(description="When the customer gave or withdrew it")
    ip: str | None = Field(default=None, max_length=64)
    system: str | None = Field(default=None, max_length=128)
    wording: str | None = Field(
        default=None, max_length=10_000, description="The wording shown, or its version"
    )
    confirmed: bool = Field(
        default=False, description="The source holds the double opt-in confirmation"
    )


class JourneyCommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["enrol", "move", "exit"]
    stage: str | None = Field(default=None, max_length=64)


def include_people_api(
    app: FastAPI, inbox: Inbox, tokens: list[ApiToken], *, max_bytes: int
) -> None:
    """Add the people API to the receiver's app (the journeys: `app.state.registry`)."""
    read, write = TokenCheck(tokens, "read"), TokenCheck(tokens, "write")
    router = APIRouter(prefix=PREFIX, tags=["people"])

    async def body(request: Request) -> Any:
        raw = await read_request(request, max_bytes=max_bytes, public_url=None, now=inbox.now())
        return load_json(raw.body)

    async def run(work: Callable[[Session, datetime], T]) -> T:
        try:
            return await inbox.run(work)
        except ProfileError as exc:
            raise Unprocessable(str(exc), detail={"field": exc.field}) from None
        except ErasedCustomer as exc:
            raise Gone(str(exc)) from None
        except ManualRefused as exc:
            raise Conflict(str(exc)) from None
        except Exception as exc:  # an outage is a 503, anything else never a 500
            raise refusal("people API", exc) from None

    @router.put("/customers/{customer_id}", summary="Create or update a customer's profile")
    async def put_customer(
        customer_id: str, request: Request, token: str = Depends(write)
    ) -> Response:
        fields = await body(request)
        if not isinstance(fields, dict):
            raise Unprocessable("the body is an object of profile fields")

        def work(session: Session, now: datetime) -> tuple[int, str]:
            cid, outcome = upsert_customer(session, customer_id, fields, now)
            if outcome != "unchanged":
                # In the customer's history, for journeys that react to profile changes.
                event = customer_updated(customer_id, fields, now, f"api:{token}", API_SOURCE)
                store_new_events(session, [event], now)
            return cid, outcome

        _, outcome = await run(work)
        if outcome != "unchanged":
            inbox.stored(1)
        status = 201 if outcome == "created" else 200
        return JSONResponse({"id": customer_id, "result": outcome}, status_code=status)

    @router.post("/customers/{customer_id}/consent", summary="Record consent with its proof")
    async def post_consent(
        customer_id: str, request: Request, token: str = Depends(write)
    ) -> Response:
        given = await body(request)
        items = given if isinstance(given, list) else [given]
        if not items or len(items) > 10:
            raise Unprocessable("expected a consent object or an array of 1 to 10")
        consents = [
            _model(ConsentIn, item, [n] if isinstance(given, list) else [])
            for n, item in enumerate(items)
        ]

        def work(session: Session, now: datetime) -> list[dict[str, str]]:
            cid = _known(session, customer_id)
            done = []
            for c in consents:
                if c.at > now + CLOCK_SLACK:
                    raise ProfileError("at", "lies in the future")
                status = give_consent(
                    session,
                    cid,
                    c.channel,
                    c.status,
                    source=c.source,
                    at=c.at,
                    ip=c.ip,
                    system=c.system or f"api:{token}",
                    wording=c.wording,
                    purpose=c.purpose,
                    confirmed=c.confirmed,
                )
                done.append({"channel": c.channel, "status": status})
            return done

        return JSONResponse({"id": customer_id, "consent": await run(work)})

    @router.get(
        "/customers/{customer_id}", summary="A customer: profile, consent, journeys, messages"
    )
    async def get_customer(customer_id: str, token: str = Depends(read)) -> Response:
        view = await run(lambda session, now: customer_view(session, customer_id))
        if view is None:
            raise NotFound(f"no customer '{customer_id}'")
        return JSONResponse(view)

    @router.get("/customers/{customer_id}/export", summary="Every stored fact (GDPR Art. 15, 20)")
    async def export_customer(customer_id: str, token: str = Depends(read)) -> Response:
        document = await run(lambda session, now: customer_export(session, customer_id, now))
        if document is None:
            raise NotFound(f"no customer '{customer_id}'")
        return JSONResponse(document)

    @router.delete("/customers/{customer_id}", summary="Erase a customer (GDPR Art. 17)")
    async def delete_customer(customer_id: str, token: str = Depends(write)) -> Response:
        done = await run(lambda session, now: erase_customer(session, customer_id, now))
        if done is None:
            raise NotFound(f"no customer '{customer_id}'")
        files = erase_outbox_files(ChannelSettings.from_env().outbox_dir, done.message_keys)
        return JSONResponse(
            {"erased": True, "cancelled": done.cancelled, "outbox_files": files, "rows": done.rows}
        )

    @router.post(
        "/customers/{customer_id}/journeys/{journey}",
        summary="Enrol, move to a stage, or exit by hand",
    )
    async def journey_command(
        customer_id: str, journey: str, request: Request, token: str = Depends(write)
    ) -> Response:
        command = _model(JourneyCommandIn, await body(request), [])
        registry = getattr(request.app.state, "registry", None)
        if registry is None:
            raise Unavailable("the journeys are not loaded in this service")

        def work(session: Session, now: datetime) -> Any:
            _known(session, customer_id)
            return apply_manual(
                session,
                registry,
                customer_id,
                journey,
                command.action,
                cause=f"api:{token}",
                now=now,
                stage=command.stage,
            )

        result = await run(work)
        if result.actions_scheduled:
            inbox.stored(1)  # wakes the pump, which sends what fell due
        return JSONResponse(
            {
                "transitions": result.transitions,
                "actions_scheduled": result.actions_scheduled,
                "enrolled": result.enrolled,
                "ended": result.ended,
            }
        )

    @router.post(
        "/events",
        summary="Events in the signed-webhook format, with a token instead of a signature",
        openapi_extra={"requestBody": {"content": {"application/json": {"schema": EVENT_SCHEMA}}}},
    )
    async def post_events(request: Request, token: str = Depends(write)) -> Response:
        raw = await read_request(request, max_bytes=max_bytes, public_url=None, now=inbox.now())
        events = parse_events(API_SOURCE, raw.body, request.headers.get("idempotency-key", ""))
        check_events(inbox.plan, API_SOURCE, events)
        stored = await run(lambda session, now: store_events(session, events, now))
        inbox.stored(stored.new)
        return JSONResponse(
            {"received": len(events), "new": stored.new, "duplicates": stored.duplicates}
        )

    app.include_router(router)


def _known(session: Session, customer_id: str) -> int:
    cid = customer_id_of(session, customer_id)
    if cid is None:
        raise NotFound(f"no customer '{customer_id}'")
    return cid


M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], value: Any, at: list[Any]) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = [
            {"loc": [*at, *e["loc"]], "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        fields = ", ".join(".".join(map(str, p["loc"])) or "body" for p in problems[:5])
        raise Unprocessable(f"invalid fields: {fields}", detail=problems) from None
