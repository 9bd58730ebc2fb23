"""Inbound: the HTTP receiver for CRM events, Twilio and SendGrid callbacks, and links."""

from .app import create_app
from .config import (
    ReceiverConfig,
    ReceiverConfigError,
    load_receiver_config,
    parse_receiver_config,
)
from .errors import BadRequest, InboundError, TooLarge, Unauthorized, UnknownSource, Unprocessable
from .inbox import Inbox
from .request import RawRequest
from .sources import Source, build_sources

__all__ = [
    "BadRequest",
    "InboundError",
    "Inbox",
    "RawRequest",
    "ReceiverConfig",
    "ReceiverConfigError",
    "Source",
    "TooLarge",
    "Unauthorized",
    "UnknownSource",
    "Unprocessable",
    "build_sources",
    "create_app",
    "load_receiver_config",
    "parse_receiver_config",
]
