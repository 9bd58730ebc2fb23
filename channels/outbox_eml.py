"""The outbox's .eml bytes, written directly instead of through ``email.generator``.

The generator folds every header through ``email.header.Header`` and compiles a new
regular expression for every multipart boundary: most of the cost of an outbox write.
This module writes the headers ``build_email(...).as_bytes(policy=EML_POLICY)`` writes,
handing anything out of the ordinary (a header too long or not plain ASCII) to the same
policy's ``fold``, and encodes the parts quoted-printable with ``binascii`` (C) rather
than ``email.quoprimime`` (pure Python, half the cost of a message). The soft line
breaks fall in other places than the MIME classes put them; a test parses both and
finds the same message.
"""

from __future__ import annotations

import binascii
import functools
import random
import re
import sys
from datetime import datetime
from email import policy
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from channels.message import OutboundMessage

# RFC 5322 lines end in CRLF and may be 998 characters long. Folding at 78 would split
# the List-Unsubscribe URLs and, having no spaces to fold at, encode them as RFC 2047
# words that mail clients no longer recognise as links.
EML_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=998)
_NL = "\r\n"
# Values the policy's fold leaves exactly as they are: printable ASCII, single spaces.
_PLAIN = re.compile(r"^[\x21-\x7e]+(?: [\x21-\x7e]+)*$")
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


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


def _quoted_printable(text: str) -> str:
    # Quoted-printable keeps the file readable as text. Line breaks are made "\n" first
    # (a lone CR too, as the generator treats it) so none is encoded as =0D.
    plain = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(plain, istext=True).decode("ascii").replace("\n", _NL)


def _part(text: str, subtype: str) -> tuple[list[tuple[str, str]], str]:
    # The MIME classes' order: set_payload() re-adds Content-Type after MIME-Version.
    headers = [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'text/{subtype}; charset="utf-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]
    return headers, _quoted_printable(text)


@functools.lru_cache(maxsize=256)
def _from(email: str | None, name: str | None) -> str:
    # Parsing the address is pure Python, and a campaign has one sender.
    sender = email or "journeyflow@localhost"
    return formataddr((name or parseaddr(sender)[0], parseaddr(sender)[1]), charset="utf-8")


def _boundary(text: str) -> str:
    # The generator's form; checked against the whole body rather than line starts,
    # which only ever picks a new one more often.
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        if boundary not in text:
            return boundary


def eml_bytes(message: OutboundMessage, sent_at: datetime, boundary: str | None = None) -> bytes:
    """``message`` as RFC 5322 bytes (multipart/alternative when it has both parts)."""
    if message.text and message.html:
        parts = [_part(message.text, "plain"), _part(message.html, "html")]
        texts = ["".join(_fold(k, v) for k, v in headers) + _NL + body for headers, body in parts]
        boundary = boundary or _boundary("".join(texts))
        delimiter = f"{_NL}--{boundary}{_NL}"
        body = f"--{boundary}{_NL}{delimiter.join(texts)}{_NL}--{boundary}--{_NL}"
        headers = [
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            ("MIME-Version", "1.0"),
        ]
    else:
        subtype = "plain" if message.text else "html"
        headers, body = _part(message.text or message.html or "", subtype)
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
    head = "".join(_fold(k, v) for k, v in headers)
    return f"{head}{_NL}{body}".encode("ascii", "surrogateescape")
