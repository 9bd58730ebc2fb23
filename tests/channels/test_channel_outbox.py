"""The outbox folder: real .eml files, atomic writes, one message per idempotency key."""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from channel_fakes import make_email, make_sms

from channels import MessageError, OutboundMessage, OutboxChannel
from channels.outbox_files import SYNCFS_FROM, syncfs

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def outbox(tmp_path: Path, kind: str = "email") -> OutboxChannel:
    return OutboxChannel(tmp_path, kind=kind, now=lambda: NOW)  # type: ignore[arg-type]


def message_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ".index" not in p.parts)


def test_email_is_a_valid_multipart_alternative_eml(tmp_path: Path) -> None:
    message = make_email()
    result = outbox(tmp_path).send(message)
    assert result.status == "sent"
    assert result.provider_message_id == message.message_id

    eml = tmp_path / "2026-03-14" / f"{message.message_id}.eml"
    parsed = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["To"] == "max.mustermann@example.com"
    assert parsed["From"] == "Beispiel Shop <shop@shop.example>"
    assert parsed["Subject"] == "Wie gefällt Ihnen Ihr Laptop?"
    assert parsed["Reply-To"] == "service@shop.example"
    assert parsed["List-Unsubscribe"].startswith("<https://shop.example/u/tok123>")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-Journeyflow-Idempotency-Key"] == message.idempotency_key
    assert parsed["Message-ID"] and parsed["Date"]
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and "bitte bewerten" in plain.get_content()
    assert html is not None and "<p>Hallo Max,</p>" in html.get_content()


def test_metadata_json_names_journey_stage_customer(tmp_path: Path) -> None:
    message = make_email()
    outbox(tmp_path).send(message)
    meta = json.loads((tmp_path / "2026-03-14" / f"{message.message_id}.json").read_text())
    assert meta["idempotency_key"] == message.idempotency_key
    assert meta["journey"] == "post_purchase"
    assert meta["stage"] == "evaluation"
    assert meta["customer"] == "cust-42"
    assert meta["variant"] == "B"
    assert meta["channel"] == "email"
    assert meta["to"] == "max.mustermann@example.com"
    assert meta["sent_at"] == NOW.isoformat()
    assert meta["file"] == f"2026-03-14/{message.message_id}.eml"


def test_html_only_email(tmp_path: Path) -> None:
    message = make_email(text=None)
    outbox(tmp_path).send(message)
    eml = tmp_path / "2026-03-14" / f"{message.message_id}.eml"
    parsed = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert parsed.get_content_type() == "text/html"


def test_repeated_idempotency_key_writes_nothing_new(tmp_path: Path) -> None:
    channel = outbox(tmp_path)
    first = make_email(idempotency_key="enr-7:purchase:thank_you")
    again = make_email(idempotency_key="enr-7:purchase:thank_you")  # a new message_id
    assert first.message_id != again.message_id
    assert channel.send(first).status == "sent"
    before = {p: p.read_bytes() for p in message_files(tmp_path)}

    result = channel.send(again)
    assert result.status == "sent"
    assert result.provider_message_id == first.message_id
    assert "nothing written again" in (result.reason or "")
    assert {p: p.read_bytes() for p in message_files(tmp_path)} == before
    # A second outbox on the same folder (another worker) sees it too.
    assert outbox(tmp_path).send(again).provider_message_id == first.message_id


def test_concurrent_writers_with_one_key_write_one_message(tmp_path: Path) -> None:
    key = "enr-9:loyalty:promo"
    channels = [outbox(tmp_path) for _ in range(4)]  # separate locks, as separate workers
    results = []
    barrier = threading.Barrier(8)

    def send(i: int) -> None:
        barrier.wait()
        results.append(channels[i % 4].send(make_email(idempotency_key=key)))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.provider_message_id for r in results}) == 1
    assert len([p for p in message_files(tmp_path) if p.suffix == ".eml"]) == 1
    assert len([p for p in message_files(tmp_path) if p.suffix == ".json"]) == 1


def test_sms_is_a_txt_with_the_normalised_number(tmp_path: Path) -> None:
    message = make_sms()
    result = outbox(tmp_path, "sms").send(message)
    assert result.status == "sent"
    day = tmp_path / "2026-03-14"
    assert (day / f"{message.message_id}.txt").read_text() == message.text
    meta = json.loads((day / f"{message.message_id}.json").read_text())
    assert meta["to"] == "+4915123456789"
    assert meta["channel"] == "sms"


def test_sms_to_an_invalid_number_fails_and_writes_nothing(tmp_path: Path) -> None:
    result = outbox(tmp_path, "sms").send(make_sms(to="12345"))
    assert result.status == "failed"
    assert result.error_code == "invalid_phone_number"
    assert message_files(tmp_path) == []


def test_webhook_payload_file(tmp_path: Path) -> None:
    message = OutboundMessage(
        idempotency_key="enr-3:support:crm",
        channel="webhook",
        to="https://crm.example/hooks/journeyflow",
        text="ticket follow-up",
        metadata={"action": "crm.followup", "customer_id": "c-1"},
    )
    outbox(tmp_path, "webhook").send(message)
    payload = json.loads(
        (tmp_path / "2026-03-14" / f"{message.message_id}.webhook.json").read_text()
    )
    assert payload["type"] == "crm.followup"
    assert payload["data"]["idempotency_key"] == "enr-3:support:crm"


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    channel = outbox(tmp_path)
    for _ in range(3):
        channel.send(make_email())
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_kind_mismatch_is_a_message_error(tmp_path: Path) -> None:
    with pytest.raises(MessageError, match="takes email messages"):
        outbox(tmp_path).send(make_sms())


def test_a_durable_chunk_writes_every_message_whole(tmp_path: Path) -> None:
    # Enough files for one syncfs instead of an fsync each (where Linux has it).
    messages = [make_email(subject=f"Nachricht {i}") for i in range(3 * SYNCFS_FROM)]
    results = outbox(tmp_path).send_batch(messages)
    assert [getattr(r, "status", None) for r in results] == ["sent"] * len(messages)
    subjects = set()
    for eml in tmp_path.rglob("*.eml"):
        parsed = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
        subjects.add(str(parsed["Subject"]))
        meta = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        assert meta["file"].endswith(eml.name)
    assert subjects == {m.subject for m in messages}
    assert not [p for p in tmp_path.rglob(".tmp-*")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_syncfs_is_there_on_linux(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert syncfs(fd) is True
        with pytest.raises(OSError):
            syncfs(-1)  # a bad descriptor is an error, never a silent no-op
    finally:
        os.close(fd)
