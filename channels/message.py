"""The message every channel sends and the result every channel returns.

An ``OutboundMessage`` is provider-neutral: the SendGrid, Twilio, outbox and webhook
channels each translate it. It is validated when built, so a channel only meets
messages that make sense, and its ``custom_args`` always carry the ``message_id``
and ``idempotency_key`` so that provider events (SendGrid's event webhook, Twilio's
status callback) can be matched back to the action that caused them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from channels.errors import MessageError
from journeys.errors import did_you_mean

ChannelKind = Literal["email", "sms", "webhook"]
SendStatus = Literal["sent", "failed", "unknown"]
CHANNEL_KINDS: tuple[str, ...] = get_args(ChannelKind)
SEND_STATUSES: tuple[str, ...] = get_args(SendStatus)

# Metadata keys copied into custom_args so that provider events carry them back.
TRACKED_METADATA = ("journey", "stage", "action", "customer_id", "variant")

# Headers the message's own fields produce; setting them again would contradict those
# fields, and SendGrid refuses most of them anyway.
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "To",
        "From",
        "Subject",
        "Reply-To",
        "Cc",
        "Bcc",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
        "Date",
        "Message-ID",
        "Received",
        "DKIM-Signature",
        "x-sg-id",
        "x-sg-eid",
    )
)
MAX_ATTACHMENT_BYTES = 1_000_000  # far above a calendar file, far below providers' limits
MAX_CATEGORIES = 10  # SendGrid's limit, kept for every channel so the outbox agrees
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # travels in headers and URLs
_CTL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _blank(value: str | None) -> bool:
    # Not value.strip(): that copies a whole email body only to test it.
    return not value or value.isspace()


def _require_text(name: str, value: str | None, kind: str) -> None:
    if value is None or _blank(value):
        raise MessageError(f"{name} is required for a {kind} message and may not be empty")


_FILENAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # safe in headers and paths
_CONTENT_TYPE_RE = re.compile(r"^[a-z]+/[a-z0-9.+-]+(; ?[a-z-]+=[A-Za-z0-9-]+)*$")


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email; built from stored data, so a retry sends the same bytes."""

    filename: str
    content_type: str  # e.g. 'text/calendar; method=REQUEST'
    content: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.filename, str) or not _FILENAME_RE.match(self.filename):
            raise MessageError(
                f"attachment filename {self.filename!r} must be 1-100 letters, digits, "
                "'.', '_' or '-'"
            )
        if not isinstance(self.content_type, str) or not _CONTENT_TYPE_RE.match(self.content_type):
            raise MessageError(f"attachment content type {self.content_type!r} is not valid")
        if not isinstance(self.content, bytes) or not self.content:
            raise MessageError(f"attachment {self.filename} has no content")
        if len(self.content) > MAX_ATTACHMENT_BYTES:
            raise MessageError(
                f"attachment {self.filename} has {len(self.content)} bytes; "
                f"at most {MAX_ATTACHMENT_BYTES} are allowed"
            )

    @property
    def mime_type(self) -> str:
        """The type without its parameters, e.g. 'text/calendar'."""
        return self.content_type.split(";")[0]


@dataclass(frozen=True)
class OutboundMessage:
    """One message to one recipient on one channel kind.

    ``metadata`` carries journey, stage, action, customer_id, variant and, for SMS,
    the customer's ``country`` (ISO 3166 alpha-2) used to read national numbers.
    The mapping fields are copied on construction; treat them as read-only.
    """

    _: KW_ONLY
    idempotency_key: str
    channel: ChannelKind
    to: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    from_number: str | None = None
    messaging_service_sid: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    categories: Sequence[str] = ()
    custom_args: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    status_callback: str | None = None
    attachments: Sequence[Attachment] = ()
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if self.channel not in CHANNEL_KINDS:
            raise MessageError(
                f"channel '{self.channel}' is not a channel kind"
                f"{did_you_mean(str(self.channel), CHANNEL_KINDS)}"
            )
        if not isinstance(self.idempotency_key, str) or not _KEY_RE.match(self.idempotency_key):
            raise MessageError(
                f"idempotency_key {self.idempotency_key!r} is invalid; it must be 1-200 "
                "printable ASCII characters without spaces"
            )
        try:
            uuid.UUID(self.message_id)
        except (ValueError, AttributeError, TypeError):
            raise MessageError(f"message_id {self.message_id!r} is not a UUID") from None
        _require_text("to", self.to, self.channel)
        if self.attachments and self.channel != "email":
            raise MessageError(f"only email messages carry attachments, not {self.channel}")
        if self.channel == "email":
            _require_text("subject", self.subject, "email")
            if _blank(self.text) and _blank(self.html):
                raise MessageError("an email message needs text or html content; both are empty")
        elif self.channel == "sms":
            _require_text("text", self.text, "sms")
        elif not self.to.startswith(("https://", "http://")):
            raise MessageError(f"to {self.to!r} must be an http(s) URL for a webhook message")
        object.__setattr__(self, "headers", self._checked_headers())
        object.__setattr__(self, "categories", self._checked_categories())
        object.__setattr__(self, "custom_args", self._checked_custom_args())
        object.__setattr__(self, "metadata", dict(self.metadata))
        object.__setattr__(self, "attachments", self._checked_attachments())

    def _checked_attachments(self) -> tuple[Attachment, ...]:
        attachments = tuple(self.attachments)
        names = [a.filename for a in attachments if isinstance(a, Attachment)]
        if len(names) != len(attachments):
            raise MessageError("attachments must be Attachment objects")
        if len(set(names)) != len(names):
            raise MessageError(f"attachment filenames must differ: {', '.join(names)}")
        return attachments

    def _checked_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        by_lower: dict[str, str] = {}  # the first value of each name, case-insensitively
        for name, value in self.headers.items():
            if not isinstance(value, str) or _CTL_RE.search(name) or _CTL_RE.search(value):
                raise MessageError(f"header '{name}' must be a single-line string")
            lower = name.lower()
            if lower in RESERVED_HEADERS:
                raise MessageError(
                    f"header '{name}' is set from the message's own fields and may not be "
                    f"given in headers; reserved are: {', '.join(sorted(RESERVED_HEADERS))}"
                )
            headers[name] = value
            by_lower.setdefault(lower, value)
        post = by_lower.get("list-unsubscribe-post")
        unsub = by_lower.get("list-unsubscribe", "")
        if post is not None and "<https://" not in unsub:
            # RFC 8058: one-click unsubscribe is only valid next to an https URI.
            raise MessageError(
                "header 'List-Unsubscribe-Post' needs a 'List-Unsubscribe' header with an "
                "<https://…> URI (RFC 8058)"
            )
        return headers

    def _checked_categories(self) -> tuple[str, ...]:
        if isinstance(self.categories, str):
            raise MessageError("categories must be a list of strings, not one string")
        unique = tuple(dict.fromkeys(self.categories))
        for category in unique:
            if not isinstance(category, str) or not category or len(category) > 255:
                raise MessageError(f"category {category!r} must be a string of 1-255 characters")
        if len(unique) > MAX_CATEGORIES:
            raise MessageError(
                f"categories has {len(unique)} entries; at most {MAX_CATEGORIES} are allowed"
            )
        return unique

    def _checked_custom_args(self) -> dict[str, str]:
        args: dict[str, str] = {}
        for key, value in self.custom_args.items():
            if not isinstance(value, str):
                raise MessageError(
                    f"custom_args '{key}' must be a string (providers only carry strings), "
                    f"got {type(value).__name__}"
                )
            args[key] = value
        for key in TRACKED_METADATA:
            tracked = self.metadata.get(key)
            if tracked is not None and key not in args:
                args[key] = str(tracked)
        for key, own in (
            ("message_id", self.message_id),
            ("idempotency_key", self.idempotency_key),
        ):
            if args.get(key, own) != own:
                raise MessageError(
                    f"custom_args '{key}' is {args[key]!r} but the message's {key} is {own!r}; "
                    "leave it out, it is filled in"
                )
            args[key] = own
        return args

    @property
    def customer_id(self) -> str | None:
        value = self.metadata.get("customer_id")
        return None if value is None else str(value)

    @property
    def country(self) -> str | None:
        value = self.metadata.get("country")
        return None if value is None else str(value).upper()

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class SendResult:
    """What became of one message. Retryable failures are raised, never returned."""

    status: SendStatus
    _: KW_ONLY
    provider_message_id: str | None = None
    reason: str | None = None
    error_code: str | None = None
    http_status: int | None = None
    # (channel kind, new consent state) when the provider reports a consent change,
    # e.g. ("sms", "unsubscribed") for Twilio's 21610 (recipient replied STOP).
    consent_change: tuple[str, str] | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        if self.status not in SEND_STATUSES:
            raise MessageError(
                f"status '{self.status}' is not a send status"
                f"{did_you_mean(str(self.status), SEND_STATUSES)}"
            )

    @property
    def ok(self) -> bool:
        return self.status == "sent"


def webhook_payload(message: OutboundMessage, sent_at: datetime) -> dict[str, Any]:
    """A message as a webhook body (also what the outbox writes for webhooks), in the
    ``type``/``timestamp``/``data`` shape that Standard Webhooks recommends."""
    data: dict[str, Any] = {
        "message_id": message.message_id,
        "idempotency_key": message.idempotency_key,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "metadata": dict(message.metadata),
        "custom_args": dict(message.custom_args),
    }
    return {
        "type": str(message.metadata.get("action") or "journeyflow.message"),
        "timestamp": sent_at.isoformat(),
        "data": {k: v for k, v in data.items() if v is not None},
    }
