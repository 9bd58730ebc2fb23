"""The protocol every inbound source implements, and the sources built from a config."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from starlette.responses import Response

from .config import ReceiverConfig
from .inbox import Inbox
from .request import RawRequest

# kind -> "module:class"; a kind's module is imported only when a source uses it.
SOURCE_KINDS: dict[str, str] = {
    "standard_webhooks": "channels.inbound.source_standard:StandardWebhooksSource",
    "hubspot": "channels.inbound.source_hubspot:HubSpotSource",
    "twilio": "channels.inbound.source_twilio:TwilioSource",
    "sendgrid": "channels.inbound.source_sendgrid:SendGridSource",
}


class Source(Protocol):
    """One `POST /webhooks/{name}` endpoint: verify, parse, store, answer."""

    name: str
    summary: str
    description: str
    # The request body and headers for the OpenAPI description (FastAPI's openapi_extra).
    openapi_extra: dict[str, Any]

    async def receive(self, request: RawRequest, inbox: Inbox) -> Response:
        """Answer the request; raise `InboundError` for a 4xx with its reason."""
        ...


def build_sources(config: ReceiverConfig) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for name, source_config in config.sources.items():
        module, _, cls = SOURCE_KINDS[source_config.kind].partition(":")
        factory = getattr(importlib.import_module(module), cls)
        sources[name] = factory(name, source_config)
    return sources
