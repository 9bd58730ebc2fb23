"""The outbox folder: the channel used when no provider keys are configured.

Each message becomes files under ``<dir>/<YYYY-MM-DD>/``: a real RFC 5322
multipart/alternative ``<message_id>.eml`` for email (any mail client opens it), a
``.txt`` for SMS, a ``.webhook.json`` for webhooks, plus ``<message_id>.json`` with
the metadata (one top-level key per line, a nested mapping on its key's line). Writes
are atomic (temp file, fsync, rename), and an index by idempotency key makes a
repeated send a no-op, as a provider would treat it. The index entry is created last,
with link() so that of two racing writers exactly one wins; a crash just before it can
leave an unindexed copy, never a lost message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, NamedTuple

from channels.errors import ChannelConfigError, ChannelError, MessageError
from channels.message import (
    CHANNEL_KINDS,
    ChannelKind,
    OutboundMessage,
    SendResult,
    webhook_payload,
)
from channels.outbox_eml import eml_bytes
from channels.outbox_files import (
    dumps_indented,
    dumps_lines,
    flush,
    write_atomic,
    write_new_open,
)
from channels.settings import ChannelSettings
from journeys.phone import InvalidPhoneNumber, normalize_e164

__all__ = ["INDEX_DIR", "OutboxChannel", "build_email", "write_atomic"]

INDEX_DIR = ".index"
DEFAULT_BATCH_SIZE = 100
_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP  # quoted-printable: the file stays readable as text
_SUFFIX = {"email": ".eml", "sms": ".txt", "webhook": ".webhook.json"}


def _part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _QP_UTF8)
    return part


def _header(value: str) -> str:
    # RFC 2047 only where needed: plain ASCII stays readable in the file.
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_email(message: OutboundMessage, sent_at: datetime) -> Message:
    """``message`` as an RFC 5322 message (multipart/alternative when it has both parts,
    inside multipart/mixed with its attachments).

    The outbox writes the same bytes faster with ``channels.outbox_eml.eml_bytes``;
    this form is for callers that want a ``Message`` to inspect.
    """
    if message.text and message.html:
        mail: Message = MIMEMultipart("alternative")
        mail.attach(_part(message.text, "plain"))
        mail.attach(_part(message.html, "html"))
    else:
        mail = _part(message.text or message.html or "", "plain" if message.text else "html")
    if message.attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(mail)
        for attachment in message.attachments:
            main, _, sub = attachment.mime_type.partition("/")
            file = MIMEBase(main, sub)
            for param in attachment.content_type.split(";")[1:]:
                name, _, value = param.strip().partition("=")
                file.set_param(name, value)
            file.set_param("name", attachment.filename)
            file.set_payload(attachment.content)
            encoders.encode_base64(file)
            file.add_header("Content-Disposition", "attachment", filename=attachment.filename)
            mixed.attach(file)
        mail = mixed
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


class _Write(NamedTuple):
    # Plain string paths: pathlib objects for every file cost more than writing it.
    slot: int
    key: str
    message_id: str
    entry: str  # the index entry, whose link decides the key's one writer
    body: str
    meta: str
    body_temp: str
    meta_temp: str
    fds: tuple[int, ...]  # the temporary files, kept open to be synced when durable


class OutboxChannel:
    """``Channel`` that writes messages to a folder instead of sending them."""

    name = "outbox"
    # A key already written is reported, never written again (see `find`): a send whose
    # outcome was lost in a crash can simply be made again.
    idempotent = True

    def __init__(
        self,
        directory: str | os.PathLike[str] = "var/outbox",
        *,
        kind: ChannelKind = "email",
        default_country: str | None = None,
        default_from_email: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        durable: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if kind not in CHANNEL_KINDS:
            raise ChannelConfigError(
                f"kind '{kind}' is not a channel kind; valid are: email, sms, webhook"
            )
        self.directory = Path(directory)
        self._root = os.fspath(self.directory)
        self._index_dir = os.path.join(self._root, INDEX_DIR)
        self.kind: ChannelKind = kind
        self.default_country = default_country
        self.default_from_email = default_from_email
        self._now = now
        # Off only where losing the last messages in a power cut does not matter (demos).
        self.durable = durable
        if batch_size < 1:
            raise ChannelConfigError(f"batch_size must be >= 1, got {batch_size}")
        # What a dispatcher hands to one send_batch: the files of a chunk are synced
        # together, so larger chunks wait for the disk less often per message; after a
        # crash in the middle of a chunk, its messages are `unknown` (see `find`).
        self.batch_size = batch_size
        self._folders: set[str] = set()

    @classmethod
    def from_settings(cls, settings: ChannelSettings, kind: ChannelKind) -> OutboxChannel:
        return cls(
            settings.outbox_dir,
            kind=kind,
            default_country=settings.sms_default_country,
            default_from_email=settings.email_from,
        )

    def _index_path(self, idempotency_key: str) -> str:
        digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()
        return f"{self._index_dir}/{digest}.json"

    def find(self, idempotency_key: str) -> dict[str, Any] | None:
        """The index entry of an already written message with this key, if any."""
        return _read_entry(self._index_path(idempotency_key))

    def _render(self, message: OutboundMessage, sent_at: datetime) -> tuple[bytes, str]:
        """The message file's bytes and the recipient as it was written."""
        if message.channel == "email":
            if not message.from_email and self.default_from_email:
                message = _with_sender(message, self.default_from_email)
            return eml_bytes(message, sent_at), message.to
        if message.channel == "sms":
            to = normalize_e164(message.to, message.country or self.default_country)
            return (message.text or "").encode("utf-8"), to
        payload = webhook_payload(message, sent_at)
        text = dumps_indented(payload)
        return text.encode("utf-8"), message.to

    def send(self, message: OutboundMessage) -> SendResult:
        outcome = self.send_batch([message])[0]
        if isinstance(outcome, ChannelError):
            raise outcome
        return outcome

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendResult | ChannelError]:
        """Write a chunk of messages, durable together; results in input order.

        No lock: the index link lets exactly one writer of a key win, across threads
        and processes alike, so writes of different messages overlap.
        """
        results: list[SendResult | ChannelError | None] = [None] * len(messages)
        writes: list[_Write] = []
        folders: set[str] = set()  # whose new entries must become durable
        later: list[int] = []  # a key repeated in the chunk: written after the first
        keys: set[str] = set()
        opened: list[int] = []
        try:
            for slot, message in enumerate(messages):
                if message.idempotency_key in keys:
                    later.append(slot)
                    continue
                prepared = self._prepare(slot, message)
                if isinstance(prepared, _Write):
                    writes.append(prepared)
                    opened.extend(prepared.fds)
                    keys.add(message.idempotency_key)
                else:
                    results[slot] = prepared
            if opened:  # durable: the data of every file, before any name
                flush(opened)
                _close(opened)
            for write in list(writes):
                results[write.slot] = self._publish(write)
                folders.update((os.path.dirname(write.body), self._index_dir))
                writes.remove(write)
        finally:
            _close(opened)
            for write in writes:  # an error part-way: leave no temporary files behind
                for temp in (write.body_temp, write.meta_temp):
                    _unlink(temp)
        if self.durable and folders:
            flush([], folders)
        if later:
            again = self.send_batch([messages[slot] for slot in later])
            for slot, outcome in zip(later, again, strict=True):
                results[slot] = outcome
        return [r for r in results if r is not None]

    def _prepare(self, slot: int, message: OutboundMessage) -> _Write | SendResult | ChannelError:
        if message.channel != self.kind:
            return MessageError(
                f"this outbox takes {self.kind} messages; got channel '{message.channel}'"
            )
        key = message.idempotency_key
        index_path = self._index_path(key)
        existing = _read_entry(index_path)
        if existing is not None:
            return self._duplicate(existing)
        sent_at = self._now()
        try:
            body, to = self._render(message, sent_at)
        except InvalidPhoneNumber as exc:
            return SendResult(
                "failed", reason=str(exc), error_code="invalid_phone_number", channel=self.name
            )
        day_name = sent_at.date().isoformat()  # YYYY-MM-DD
        day = self._folder(f"{self._root}/{day_name}")
        file = f"{day_name}/{message.message_id}{_SUFFIX[message.channel]}"
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
            "file": file,
            "sent_at": sent_at.isoformat(),
        }
        # One top-level key per line, nested mappings on one line: see dumps_lines.
        meta_bytes = dumps_lines(meta).encode()
        index = self._folder(self._index_dir)
        body_temp, body_fd = write_new_open(day, body)
        try:
            meta_temp, meta_fd = write_new_open(index, meta_bytes)
        except BaseException:
            os.close(body_fd)
            _unlink(body_temp)
            raise
        fds: tuple[int, ...] = (body_fd, meta_fd)
        if not self.durable:  # nothing to sync: no reason to keep them open
            _close(list(fds))
            fds = ()
        body_path = f"{self._root}/{file}"
        meta_path = f"{day}/{message.message_id}.json"
        return _Write(
            slot,
            key,
            message.message_id,
            index_path,
            body_path,
            meta_path,
            body_temp,
            meta_temp,
            fds,
        )

    def _publish(self, write: _Write) -> SendResult:
        """Give the written files their names; the index entry decides who wrote the key.

        The index entry and the metadata file are one file with two names; link() never
        replaces an existing name, so of two writers of one key exactly one wins.
        """
        os.replace(write.body_temp, write.body)
        try:
            os.link(write.meta_temp, write.entry)
        except FileExistsError:
            # Another writer took the same key between our check and now.
            os.unlink(write.meta_temp)
            _unlink(write.body)
            claimed = _read_entry(write.entry)
            assert claimed is not None
            return self._duplicate(claimed)
        os.replace(write.meta_temp, write.meta)
        return SendResult("sent", provider_message_id=write.message_id, channel=self.name)

    def _folder(self, path: str) -> str:
        # Created once per channel, not looked up again for every message.
        if path not in self._folders:
            os.makedirs(path, exist_ok=True)
            self._folders.add(path)
        return path

    def _duplicate(self, entry: dict[str, Any]) -> SendResult:
        return SendResult(
            "sent",
            provider_message_id=str(entry.get("message_id")),
            reason=f"already in the outbox as {entry.get('file')}; nothing written again",
            channel=self.name,
        )

    def close(self) -> None:
        """Nothing to release."""


def _read_entry(index_path: str) -> dict[str, Any] | None:
    # One open that fails when the key was never written: no separate existence check.
    try:
        with open(index_path, "rb") as handle:
            entry: dict[str, Any] = json.loads(handle.read())
    except FileNotFoundError:
        return None
    return entry


def _close(fds: list[int]) -> None:
    # Emptied as closed: a second call (the cleanup after an error) closes nothing twice.
    while fds:
        os.close(fds.pop())


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _with_sender(message: OutboundMessage, sender: str) -> OutboundMessage:
    return dataclasses.replace(message, from_email=sender)
