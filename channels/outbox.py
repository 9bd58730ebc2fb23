"""The outbox folder: the channel used when no provider keys are configured.

Each message becomes files under ``<dir>/<YYYY-MM-DD>/``: a real RFC 5322
multipart/alternative ``<message_id>.eml`` for email (any mail client opens it), a
``.txt`` for SMS, a ``.webhook.json`` for webhooks, plus ``<message_id>.json`` with
the metadata. Writes are atomic (temp file, fsync, rename), and an index by
idempotency key makes a repeated send a no-op, as a provider would treat it. The
index entry is created last, with link() so that of two racing writers exactly one
wins; a crash just before it can leave an unindexed copy, never a lost message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any

from channels.errors import ChannelConfigError, MessageError
from channels.message import (
    CHANNEL_KINDS,
    ChannelKind,
    OutboundMessage,
    SendResult,
    webhook_payload,
)
from channels.settings import ChannelSettings
from journeys.phone import InvalidPhoneNumber, normalize_e164

INDEX_DIR = ".index"
# RFC 5322 lines end in CRLF and may be 998 characters long. Folding at 78 would split
# the List-Unsubscribe URLs and, having no spaces to fold at, encode them as RFC 2047
# words that mail clients no longer recognise as links.
_EML_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=998)
_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP  # quoted-printable: the file stays readable as text
_SUFFIX = {"email": ".eml", "sms": ".txt", "webhook": ".webhook.json"}


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry itself is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(directory: Path, data: bytes, durable: bool = True) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    ``durable`` also waits for the disk (fsync); a demo or test run may skip that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _write_temp(path.parent, data, durable)
    os.replace(temp, path)
    if durable:
        _fsync_dir(path.parent)


def _part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _QP_UTF8)
    return part


def _header(value: str) -> str:
    # RFC 2047 only where needed: plain ASCII stays readable in the file.
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_email(message: OutboundMessage, sent_at: datetime) -> Message:
    """``message`` as an RFC 5322 message (multipart/alternative when it has both parts).

    Built with the MIME classes rather than ``EmailMessage``: the header registry of the
    newer API parses every header it is given and costs three times as much per message.
    """
    if message.text and message.html:
        mail: Message = MIMEMultipart("alternative")
        mail.attach(_part(message.text, "plain"))
        mail.attach(_part(message.html, "html"))
    else:
        mail = _part(message.text or message.html or "", "plain" if message.text else "html")
    sender = message.from_email or "journeyflow@localhost"
    name = message.from_name or parseaddr(sender)[0]
    mail["From"] = formataddr((name, parseaddr(sender)[1]), charset="utf-8")
    mail["To"] = message.to
    mail["Subject"] = _header(message.subject or "")
    mail["Date"] = format_datetime(sent_at)
    mail["Message-ID"] = f"<{message.message_id}@journeyflow.local>"
    if message.reply_to:
        mail["Reply-To"] = message.reply_to
    for key, value in message.headers.items():
        mail[key] = _header(value)
    mail["X-Journeyflow-Message-Id"] = message.message_id
    mail["X-Journeyflow-Idempotency-Key"] = message.idempotency_key
    if message.categories:
        mail["X-Journeyflow-Categories"] = _header(", ".join(message.categories))
    return mail


class OutboxChannel:
    """``Channel`` that writes messages to a folder instead of sending them."""

    name = "outbox"

    def __init__(
        self,
        directory: str | os.PathLike[str] = "var/outbox",
        *,
        kind: ChannelKind = "email",
        default_country: str | None = None,
        default_from_email: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        durable: bool = True,
    ) -> None:
        if kind not in CHANNEL_KINDS:
            raise ChannelConfigError(
                f"kind '{kind}' is not a channel kind; valid are: email, sms, webhook"
            )
        self.directory = Path(directory)
        self.kind: ChannelKind = kind
        self.default_country = default_country
        self.default_from_email = default_from_email
        self._now = now
        # Off only where losing the last messages in a power cut does not matter (demos).
        self.durable = durable

    @classmethod
    def from_settings(cls, settings: ChannelSettings, kind: ChannelKind) -> OutboxChannel:
        return cls(
            settings.outbox_dir,
            kind=kind,
            default_country=settings.sms_default_country,
            default_from_email=settings.email_from,
        )

    def _index_path(self, idempotency_key: str) -> Path:
        digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()
        return self.directory / INDEX_DIR / f"{digest}.json"

    def find(self, idempotency_key: str) -> dict[str, Any] | None:
        """The index entry of an already written message with this key, if any."""
        try:
            entry: dict[str, Any] = json.loads(self._index_path(idempotency_key).read_bytes())
        except FileNotFoundError:
            return None
        return entry

    def _render(self, message: OutboundMessage, sent_at: datetime) -> tuple[bytes, str]:
        """The message file's bytes and the recipient as it was written."""
        if message.channel == "email":
            if not message.from_email and self.default_from_email:
                message = _with_sender(message, self.default_from_email)
            # RFC 5322 lines end in CRLF; the SMTP policy writes them so.
            return build_email(message, sent_at).as_bytes(policy=_EML_POLICY), message.to
        if message.channel == "sms":
            to = normalize_e164(message.to, message.country or self.default_country)
            return (message.text or "").encode("utf-8"), to
        payload = webhook_payload(message, sent_at)
        text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
        return text.encode("utf-8"), message.to

    def send(self, message: OutboundMessage) -> SendResult:
        if message.channel != self.kind:
            raise MessageError(
                f"this outbox takes {self.kind} messages; got channel '{message.channel}'"
            )
        # No lock: the index link below lets exactly one writer of a key win, across
        # threads and processes alike, so writes of different messages overlap.
        existing = self.find(message.idempotency_key)
        if existing is not None:
            return self._duplicate(existing)
        sent_at = self._now()
        try:
            body, to = self._render(message, sent_at)
        except InvalidPhoneNumber as exc:
            return SendResult(
                "failed", reason=str(exc), error_code="invalid_phone_number", channel=self.name
            )
        day = self.directory / sent_at.strftime("%Y-%m-%d")
        body_path = day / f"{message.message_id}{_SUFFIX[message.channel]}"
        meta_path = day / f"{message.message_id}.json"
        meta = {
            "message_id": message.message_id,
            "idempotency_key": message.idempotency_key,
            "channel": message.channel,
            "to": to,
            "subject": message.subject,
            "journey": message.metadata.get("journey"),
            "stage": message.metadata.get("stage"),
            "action": message.metadata.get("action"),
            "customer": message.customer_id,
            "variant": message.metadata.get("variant"),
            "metadata": message.metadata,
            "custom_args": message.custom_args,
            "file": body_path.relative_to(self.directory).as_posix(),
            "sent_at": sent_at.isoformat(),
        }
        meta_bytes = json.dumps(meta, indent=2, ensure_ascii=False, default=str).encode()
        write_atomic(body_path, body, self.durable)
        claimed = self._claim(message.idempotency_key, meta_bytes, meta_path)
        if claimed is not None:
            # Another writer took the same key between our check and now.
            with contextlib.suppress(FileNotFoundError):
                body_path.unlink()
            return self._duplicate(claimed)
        return SendResult("sent", provider_message_id=message.message_id, channel=self.name)

    def _claim(self, idempotency_key: str, entry: bytes, meta_path: Path) -> dict[str, Any] | None:
        """Create the index entry and the metadata file (one file, two names).

        Returns the other writer's entry if the key was taken.
        """
        index = self._index_path(idempotency_key)
        index.parent.mkdir(parents=True, exist_ok=True)
        temp = _write_temp(index.parent, entry, self.durable)
        try:
            # link() never replaces an existing name, so exactly one writer wins.
            os.link(temp, index)
        except FileExistsError:
            temp.unlink()
            return self.find(idempotency_key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, meta_path)
        if self.durable:
            _fsync_dir(index.parent)
            _fsync_dir(meta_path.parent)
        return None

    def _duplicate(self, entry: dict[str, Any]) -> SendResult:
        return SendResult(
            "sent",
            provider_message_id=str(entry.get("message_id")),
            reason=f"already in the outbox as {entry.get('file')}; nothing written again",
            channel=self.name,
        )

    def close(self) -> None:
        """Nothing to release."""


def _with_sender(message: OutboundMessage, sender: str) -> OutboundMessage:
    return dataclasses.replace(message, from_email=sender)
