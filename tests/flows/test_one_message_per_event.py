"""One order, one thank-you: journeys that react to the same event send the same message
once per customer and event, whichever of them are enabled."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select

from channels.links import LinkSigner
from channels.outbox import OutboxChannel
from channels.render import Renderer
from flows.dispatch import dispatch_due
from journeys import load_journeys
from journeys.config import templates_dir
from journeys.enabled import enabled
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.tables import action_run_t

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _order(n: int, at: datetime) -> IncomingEvent:
    return IncomingEvent(
        source="shop",
        external_id=f"order-{n}",
        type="order.completed",
        customer_id="anna",
        occurred_at=at,
        data={"order_id": f"10{n}", "total": 99.5, "product_name": "Laptop"},
        customer={"email": "anna@example.com", "first_name": "Anna", "locale": "de"},
    )


def _thank_yous(outbox: Path) -> list[EmailMessage]:
    mails = [
        BytesParser(policy=policy.default).parsebytes(p.read_bytes())
        for p in sorted(outbox.rglob("*.eml"))
    ]
    return [m for m in mails if isinstance(m, EmailMessage)]


def _text(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_overlapping_journeys_send_one_thank_you_per_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = load_journeys()
    listening = [
        j.journey
        for j in shipped
        if any(
            "order.completed" in str(stage.enter_when) and "thank_you" in str(stage.on_enter)
            for stage in j.stages
        )
    ]
    assert len(listening) == 4, listening  # the shipped set does overlap
    # A team that enables every journey that thanks for an order.
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", ",".join(listening))
    journeys = enabled(shipped)
    assert [j.journey for j in journeys] == listening
    engine = create_db_engine(f"sqlite:///{tmp_path / 'once.db'}")
    create_schema(engine)
    registry = JourneyRegistry()
    outbox = tmp_path / "outbox"
    channel = OutboxChannel(outbox, kind="email", durable=False)
    renderer = Renderer(templates_dir(), LinkSigner("once-secret-0123456789abcdef", "https://x"))
    with session_scope(engine) as session:
        registry.register(session, journeys)

    for n, at in enumerate([T0, T0 + timedelta(days=1)], start=1):
        with session_scope(engine) as session:
            apply_events(session, registry, [_order(n, at)], at)
        dispatch_due(engine, registry, {"email": channel}, renderer, at + timedelta(minutes=1))
        # At the channel: one mail per order so far, each thanking for its own order.
        mails = _thank_yous(outbox)
        assert len(mails) == n, [m["Subject"] for m in mails]
        assert {m["To"].addresses[0].addr_spec for m in mails} == {"anna@example.com"}
        orders = sorted(re.findall(r"Bestellung Nr\. (\d+)", _text(m))[0] for m in mails)
        assert orders == [f"10{k}" for k in range(1, n + 1)]

    a = action_run_t
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.c.journey, a.c.status, a.c.last_error).where(a.c.template == "thank_you")
        ).all()
    sent = [r for r in rows if r.status == "sent"]
    skipped = [r for r in rows if r.status == "skipped"]
    assert len(sent) == 2  # one per order
    # The first order entered every listening journey: all but one thank-you skipped.
    assert len(skipped) >= len(listening) - 1
    assert all("sends thank_you for the same event" in (r.last_error or "") for r in skipped)
    assert len(list(outbox.rglob("*.eml"))) == 2
