"""The receiver: a FastAPI application with one `POST /webhooks/{name}` per source.

Each configured source gets its own route, so the published OpenAPI description shows
its headers and body; any other name under /webhooks/ answers 404 listing the valid
ones. Every refusal is a JSON `{"error": reason}` with its status; nothing about a
request is logged but its route, status and duration (no secrets, no personal data).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from journeys.errors import did_you_mean

from .config import ReceiverConfig
from .errors import InboundError, UnknownSource
from .failures import refusal
from .inbox import Inbox
from .request import read_request
from .sources import Source, build_sources

if TYPE_CHECKING:
    from channels.links import LinkSigner

log = logging.getLogger("journeyflow.webhooks")

DESCRIPTION = """\
journeyflow's front door. Every accepted event is stored before the answer; a
duplicate (same source and id) is acknowledged and applied once.

Refusals: 401 bad or missing signature, or a timestamp outside the window; 400 a body
that cannot be read (or a request that failed in an unexpected way, which the service
logs); 422 an invalid event (the fields are named) or a value the store refuses; 404 an
unknown source; 413 a body over the size limit. No body gets a 5xx: a 503 (with
Retry-After) means the store is unavailable, and the same request later succeeds.
"""


def create_app(
    config: ReceiverConfig, inbox: Inbox, *, signer: LinkSigner | None = None
) -> FastAPI:
    """The service for `config`; with `signer`, also the customer-facing link pages."""
    # /docs from Swagger UI's files served by the app itself (FastAPI's default page
    # loads them from a CDN, and stays blank without internet access).
    app = FastAPIOffline(
        title="journeyflow webhooks",
        description=DESCRIPTION,
        version="1",
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs/assets",
    )
    sources = build_sources(config)
    app.state.sources = sources
    app.state.inbox = inbox

    @app.exception_handler(InboundError)
    async def _refused(request: Request, exc: InboundError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    for name, source in sources.items():
        app.add_api_route(
            f"/webhooks/{name}",
            _endpoint(source, inbox, config),
            methods=["POST"],
            summary=source.summary,
            description=source.description,
            openapi_extra=source.openapi_extra,
            tags=["webhooks"],
            name=f"webhook_{name}",
            response_model=None,
        )

    @app.post("/webhooks/{source}", tags=["webhooks"], include_in_schema=False)
    async def unknown_source(source: str) -> Response:
        if source in config.disabled:
            raise UnknownSource(
                f"source '{source}' is not enabled: set {', '.join(config.disabled[source])}"
            )
        raise UnknownSource(
            f"unknown source '{source}'{did_you_mean(source, list(sources))}",
            detail={"sources": sorted(sources)},
        )

    @app.get("/healthz", tags=["service"], summary="Liveness and the configured sources")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "sources": sorted(sources), "disabled": sorted(config.disabled)}

    from .api_auth import tokens_from_env
    from .api_people import include_people_api

    include_people_api(app, inbox, tokens_from_env(), max_bytes=config.max_body_bytes)

    if signer is not None:
        from .pages import register_pages

        register_pages(app, inbox, signer)

    app.add_middleware(_LogRequests)
    return app


def _endpoint(
    source: Source, inbox: Inbox, config: ReceiverConfig
) -> Callable[[Request], Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        try:
            raw = await read_request(
                request,
                max_bytes=config.max_body_bytes,
                public_url=config.public_url,
                now=inbox.now(),
            )
            return await source.receive(raw, inbox)
        except Exception as exc:  # never a 500: see failures.py for what each becomes
            raise refusal(source.name, exc) from None

    receive.__name__ = f"receive_{source.name.replace('-', '_').replace('.', '_')}"
    return receive


class _LogRequests:
    """Logs method, route template, status and duration of each request.

    A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` (`app.middleware("http")`)
    costs about a third of the receiver's CPU per webhook.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            # The route's template, so link tokens stay out of logs; FastAPI's own pages
            # (/openapi.json, /docs) set no route and carry nothing personal.
            route = scope.get("route")
            path = getattr(route, "path", None) or _fixed_path(scope.get("path", ""))
            log.info(
                "%s %s %d %.1f ms",
                scope["method"],
                path,
                status,
                (time.perf_counter() - started) * 1000,
            )


def _fixed_path(path: str) -> str:
    return path if path in ("/openapi.json", "/docs", "/docs/oauth2-redirect") else "?"
