"""The outbox's .eml bytes, written directly instead of through ``email.generator``.

The generator folds every header through ``email.header.Header`` and compiles a new
regular expression for every multipart boundary: most of the cost of an outbox write.
This module writes the headers ``build_email(...).as_bytes(policy=EML_POLICY)`` writes,
handing anything out of the ordinary (a header too long or not plain ASCII) to the same
policy's ``fold``. A part whose lines all fit the 998 octets of RFC 5322 is written
as it is, UTF-8 with ``Content-Transfer-Encoding: 8bit`` (RFC 2045, 6532): the most
readable form, and encoding it costs nothing. Any other part is quoted-printable,
through ``binascii`` (C) rather than ``email.quoprimime`` (pure Python). A test parses
both this and the MIME classes' quoted-printable message and finds the same message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import random
import re
import sys
from datetime import datetime
from email import policy
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from channels.message import Attachment, OutboundMessage

# RFC 5322 lines end in CRLF and may be 998 characters long. Folding at 78 would split
# the List-Unsubscribe URLs and, having no spaces to fold at, encode them as RFC 2047
# words that mail clients no longer recognise as links.
EML_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=998)
_NL = "\r\n"
# Values the policy's fold leaves exactly as they are: printable ASCII, single spaces.
_PLAIN = re.compile(r"^[\x21-\x7e]+(?: [\x21-\x7e]+)*$")
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
# Boundaries need no secrecy, only variety. An instance of our own leaves the random
# module's shared state to the application (and to its seeded tests).
_random = random.Random()


def _header(value: str) -> str:
    # RFC 2047 only where needed: plain ASCII stays readable in the file.
    return value if value.isascii() else _encoded(value)


@functools.lru_cache(maxsize=1024)
def _encoded(value: str) -> str:
    # Costly (quadratic in the length) and the same for every message of a campaign.
    return Header(value, "utf-8").encode()


def _fold(name: str, value: str) -> str:
    if len(name) + len(value) < 996 and _PLAIN.match(value):
        return f"{name}: {value}{_NL}"
    return _folded(name, value)


@functools.lru_cache(maxsize=1024)
def _folded(name: str, value: str) -> str:
    # What BytesGenerator does for any other header, 8-bit handling included.
    return EML_POLICY.fold_binary(name, value).decode("ascii", "surrogateescape")


# What 8bit allows (RFC 2045 2.8): lines of at most 998 octets, no NUL. Line breaks
# are made CRLF, so no CR stands alone.
_MAX_LINE = 998


def _encoded_body(text: str) -> tuple[str, bytes]:
    """The part's transfer encoding and its bytes, lines ending in CRLF."""
    # Line breaks are made "\n" first (a lone CR too, as the generator treats it).
    plain = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    if b"\x00" not in plain and max(map(len, plain.split(b"\n"))) <= _MAX_LINE:
        return "8bit", plain.replace(b"\n", b"\r\n")
    return "quoted-printable", binascii.b2a_qp(plain, istext=True).replace(b"\n", b"\r\n")


def _part(text: str, subtype: str) -> tuple[list[tuple[str, str]], bytes]:
    encoding, body = _encoded_body(text)
    # The MIME classes' order: set_payload() re-adds Content-Type after MIME-Version.
    headers = [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'text/{subtype}; charset="utf-8"'),
        ("Content-Transfer-Encoding", encoding),
    ]
    return headers, body


@functools.lru_cache(maxsize=256)
def _from(email: str | None, name: str | None) -> str:
    # Parsing the address is pure Python, and a campaign has one sender.
    sender = email or "journeyflow@localhost"
    return formataddr((name or parseaddr(sender)[0], parseaddr(sender)[1]), charset="utf-8")


def _boundary(body: bytes) -> str:
    # The generator's form; checked against the whole body rather than line starts,
    # which only ever picks a new one more often.
    while True:
        boundary = f"{'=' * 15}{_random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        if boundary.encode("ascii") not in body:
            return boundary


def _multipart(
    subtype: str, parts: list[tuple[list[tuple[str, str]], bytes]], boundary: str | None
) -> tuple[list[tuple[str, str]], bytes]:
    texts = [_head(headers) + b"\r\n" + body for headers, body in parts]
    boundary = boundary or _boundary(b"".join(texts))
    mark = boundary.encode("ascii")
    delimiter = b"\r\n--" + mark + b"\r\n"
    body = b"--%s\r\n%s\r\n--%s--\r\n" % (mark, delimiter.join(texts), mark)
    headers = [
        ("Content-Type", f'multipart/{subtype}; boundary="{boundary}"'),
        ("MIME-Version", "1.0"),
    ]
    return headers, body


def _attachment_part(attachment: Attachment) -> tuple[list[tuple[str, str]], bytes]:
    # Base64 in lines of 76 (RFC 2045): a calendar file keeps its own CRLFs intact.
    body = base64.encodebytes(attachment.content).replace(b"\n", b"\r\n")
    headers = [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'{attachment.content_type}; name="{attachment.filename}"'),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", f'attachment; filename="{attachment.filename}"'),
    ]
    return headers, body


def eml_bytes(message: OutboundMessage, sent_at: datetime, boundary: str | None = None) -> bytes:
    """``message`` as RFC 5322 bytes (multipart/alternative when it has both parts, inside
    multipart/mixed with its attachments when it has any)."""
    if message.text and message.html:
        parts = [_part(message.text, "plain"), _part(message.html, "html")]
        headers, body = _multipart("alternative", parts, boundary)
    else:
        subtype = "plain" if message.text else "html"
        headers, body = _part(message.text or message.html or "", subtype)
    if message.attachments:
        mixed = [(headers, body), *map(_attachment_part, message.attachments)]
        headers, body = _multipart("mixed", mixed, None)
    headers.append(("From", _from(message.from_email, message.from_name)))
    headers.append(("To", message.to))
    headers.append(("Subject", _header(message.subject or "")))
    headers.append(("Date", format_datetime(sent_at)))
    headers.append(("Message-ID", f"<{message.message_id}@journeyflow.local>"))
    if message.reply_to:
        headers.append(("Reply-To", message.reply_to))
    headers.extend((key, _header(value)) for key, value in message.headers.items())
    headers.append(("X-Journeyflow-Message-Id", message.message_id))
    headers.append(("X-Journeyflow-Idempotency-Key", message.idempotency_key))
    if message.categories:
        headers.append(("X-Journeyflow-Categories", _header(", ".join(message.categories))))
    return _head(headers) + b"\r\n" + body


def _head(headers: list[tuple[str, str]]) -> bytes:
    return "".join(_fold(k, v) for k, v in headers).encode("ascii", "surrogateescape")
