"""The outbox's direct writers (.eml, metadata JSON) against what they stand in for."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from channel_fakes import make_email

from channels import OutboundMessage, OutboxChannel
from channels.errors import MessageError
from channels.message import Attachment
from channels.outbox import build_email
from channels.outbox_eml import EML_POLICY, eml_bytes
from channels.outbox_erase import erase_outbox_files
from channels.outbox_files import dumps_indented

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def _reference(message: OutboundMessage, boundary: str) -> bytes:
    mail = build_email(message, NOW)
    if message.text and message.html:
        mail.set_boundary(boundary)
    return mail.as_bytes(policy=EML_POLICY)


def _random_text(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _random_message(rng: random.Random, i: int) -> OutboundMessage | None:
    text = _random_text(rng, "ab c\n\r\t=äü€.-" + "x" * 10, 0, 400) if rng.random() < 0.8 else None
    if text is not None and rng.random() < 0.2:  # a line too long for 8bit
        text += "ä" * rng.randint(450, 700)
    html = _random_text(rng, "<p>ab c\n=äü€.&" + "x" * 10, 1, 400) if rng.random() < 0.8 else None
    unsubscribe = "<https://x.example/l/" + "a" * rng.randint(10, 1200) + ">, <mailto:u@b.de>"
    fields: dict[str, Any] = {
        "idempotency_key": f"key-{i}",
        "channel": "email",
        "to": rng.choice(["a@x.org", "Max Müller <m@x.de>", "a" * 990 + "@x.org"]),
        "subject": _random_text(rng, "ab cüß  x\t", 1, 120) or "s",
        "text": text,
        "html": html,
        "from_email": rng.choice([None, "service@b.de", "Shop <s@b.de>"]),
        "from_name": rng.choice([None, "Beispielhändel", "A, B", "x" * 1000]),
        "reply_to": rng.choice([None, "r@b.de"]),
        "headers": rng.choice(
            [{}, {"List-Unsubscribe": unsubscribe}, {"X-A": "ä  b"}, {"X-B": " a  b "}]
        ),
        "categories": rng.choice([[], ["bench"], ["a", "büro"]]),
    }
    try:
        return OutboundMessage(**fields)
    except MessageError:  # both parts empty: not a message
        return None


def _head(data: bytes) -> list[bytes]:
    # Every header but the transfer encoding, which the MIME classes always make QP.
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return [line for line in head if not line.startswith(b"Content-Transfer-Encoding:")]


def _parsed(data: bytes) -> list[tuple[list[tuple[str, str]], str | None]]:
    """What a mail client sees: every part's headers (decoded) and decoded content."""
    mail = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(mail, EmailMessage)
    seen = []
    for part in mail.walk():
        headers = [(k, str(v)) for k, v in part.items() if k != "Content-Transfer-Encoding"]
        content = None if part.is_multipart() else part.get_content()
        seen.append((headers, content))
    return seen


@pytest.mark.parametrize("seed", range(4))
def test_eml_bytes_are_the_mime_classes_message(seed: int) -> None:
    rng = random.Random(seed)
    messages = [m for i in range(250) if (m := _random_message(rng, i)) is not None]
    assert len(messages) > 200
    seen: set[str] = set()
    for message in messages:
        written = eml_bytes(message, NOW, "BOUNDARY")
        reference = _reference(message, "BOUNDARY")
        # The headers are the very bytes; the bodies decode to the same text.
        assert _head(written) == _head(reference)
        assert _parsed(written) == _parsed(reference)
        body = written.split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in body.split(b"\r\n")) <= 998
        assert b"\r" not in body.replace(b"\r\n", b"")
        encodings = [p.get("Content-Transfer-Encoding") for p in _message(written).walk()]
        seen.update(e for e in encodings if e is not None)
    # Short lines are written as they are; a part with a longer line is quoted-printable.
    assert seen == {"8bit", "quoted-printable"}


def _message(data: bytes) -> EmailMessage:
    mail = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(mail, EmailMessage)
    return mail


def test_the_outbox_writes_those_bytes(tmp_path: Path) -> None:
    message = make_email()
    OutboxChannel(tmp_path, now=lambda: NOW).send(message)
    (written,) = tmp_path.rglob("*.eml")
    data = written.read_bytes()
    boundary = data.split(b'boundary="', 1)[1].split(b'"', 1)[0].decode()
    assert _parsed(data) == _parsed(_reference(message, boundary))


def test_a_chunk_with_a_repeated_key_writes_it_once(tmp_path: Path) -> None:
    first = make_email(idempotency_key="same-key")
    second = make_email(idempotency_key="same-key")
    results = OutboxChannel(tmp_path, now=lambda: NOW).send_batch([first, second, make_email()])
    assert [getattr(r, "status", None) for r in results] == ["sent", "sent", "sent"]
    assert results[1].provider_message_id == first.message_id  # type: ignore[union-attr]
    assert len(list(tmp_path.rglob("*.eml"))) == 2
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    scalars: list[Any] = [None, True, 0, -5, 10**20, 1.5, float("nan"), -0.0, "", 'ä"\\\n']
    scalars += [NOW, (1, 2), "😀", {1: "int key"}]  # not plain JSON: json.dumps decides
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(scalars)
    if roll < 0.7:
        return {rng.choice("abcü"): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def test_metadata_json_is_what_json_dumps_writes() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        value = _random_value(rng)
        assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False, default=str)


def test_an_eml_file_reads_as_the_text_it_holds(tmp_path: Path) -> None:
    message = make_email(text="Grüße aus München,\nIhr Team", html="<p>Grüße aus München</p>")
    OutboxChannel(tmp_path, now=lambda: NOW).send(message)
    (written,) = tmp_path.rglob("*.eml")
    data = written.read_bytes()
    # Opened in an editor, the German is there as it is, not as =C3=BC escapes.
    assert "Grüße aus München,\r\nIhr Team".encode() in data
    plain, html = [p for p in _message(data).walk() if not p.is_multipart()]
    assert plain.get_content().splitlines() == ["Grüße aus München,", "Ihr Team"]
    assert html.get_content().splitlines() == ["<p>Grüße aus München</p>"]


def test_an_attachment_is_a_base64_part_beside_the_text(tmp_path: Path) -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nSUMMARY:Sprechstunde \xc3\xa4\r\nEND:VCALENDAR\r\n"
    invite = Attachment("invite.ics", "text/calendar; method=REQUEST; charset=UTF-8", ics)
    message = make_email(attachments=[invite])
    OutboxChannel(tmp_path, now=lambda: NOW).send(message)
    (written,) = tmp_path.rglob("*.eml")
    mail = _message(written.read_bytes())

    assert mail.get_content_type() == "multipart/mixed"
    kinds = [part.get_content_type() for part in mail.walk()]
    assert kinds == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    [part] = [p for p in mail.walk() if p.get_filename()]
    assert part.get_filename() == "invite.ics"
    assert part.get_content_disposition() == "attachment"
    assert part.get_param("method") == "REQUEST"
    assert part.get_payload(decode=True) == ics
    # The MIME classes' message is the same message (but for the random boundaries).
    reference = build_email(message, NOW).as_bytes(policy=EML_POLICY)

    def unbounded(data: bytes) -> list[tuple[list[tuple[str, str]], str | bytes | None]]:
        return [
            ([(k, re.sub(r'boundary="[^"]+"', "", v)) for k, v in headers], content)
            for headers, content in _parsed(data)
        ]

    assert unbounded(written.read_bytes()) == unbounded(reference)


def test_erasing_the_customer_removes_the_message_with_its_attachment(tmp_path: Path) -> None:
    invite = Attachment("invite.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    message = make_email(attachments=[invite])
    OutboxChannel(tmp_path, now=lambda: NOW).send(message)
    assert erase_outbox_files(tmp_path, [message.idempotency_key]) == 1
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not [p for p in left if message.message_id in p.name or p.suffix == ".eml"]
    assert all(b"VCALENDAR" not in p.read_bytes() for p in left)
