"""`journeyflow preview`: a message as the customer would get it, without sending it."""

from __future__ import annotations

import email
import email.policy
import json
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.links import LinkSigner
from channels.outbox import build_email
from flows.cli import app
from flows.headless import find_chromium
from flows.preview import PreviewError, preview
from journeys import load_journey
from journeys.config import definitions_dir

runner = CliRunner()
LIFECYCLE = definitions_dir() / "customer_lifecycle.yaml"


def test_preview_renders_the_review_request_in_german_with_a_code(tmp_path: Path) -> None:
    out = tmp_path / "review.html"

    result = runner.invoke(
        app,
        [
            "preview",
            "customer_lifecycle",
            "review_request",
            "--sample",
            "--locale",
            "de",
            "-o",
            str(out),
        ],
    )

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Subject: Wie gefällt Ihnen Ihr Einkauf?" in text
    assert "Hallo Max" in text
    assert "List-Unsubscribe: <http" in text
    page = out.read_text(encoding="utf-8")
    assert "<html" in page.lower() and "Max" in page
    assert "DANKE-" in page  # the sample's personal promo code


def test_preview_uses_a_customer_file_and_escapes_html(tmp_path: Path) -> None:
    customer = tmp_path / "kunde.json"
    customer.write_text(
        json.dumps(
            {
                "external_id": "k-1",
                "email": "eve@example.org",
                "first_name": "<b>Eve</b>",
                "locale": "en",
                "country": "GB",
            }
        ),
        encoding="utf-8",
    )
    shown = preview(
        load_journey(LIFECYCLE),
        "evaluation.review_request",
        customer_file=customer,
        locale="en",
        signer=LinkSigner("preview-secret-0123456789", "https://x"),
    )

    assert shown.message.to == "eve@example.org"
    assert "<b>Eve</b>" in (shown.message.text or "")
    assert "&lt;b&gt;Eve&lt;/b&gt;" in (shown.message.html or "")
    assert shown.message.subject == "How do you like your purchase? A thank-you: 10% off"


def test_preview_of_an_sms_shows_its_segments(tmp_path: Path) -> None:
    out = tmp_path / "sms.html"

    result = runner.invoke(
        app,
        [
            "preview",
            "customer_lifecycle",
            "we_miss_you",
            "--sample",
            "--locale",
            "en",
            "-o",
            str(out),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "segment(s)" in out.read_text(encoding="utf-8")


def test_preview_shows_each_ab_variant_and_refuses_the_holdout() -> None:
    journey = load_journey(LIFECYCLE)
    signer = LinkSigner("preview-secret-0123456789", "https://x")

    personal = preview(journey, "referral_request", variant="personal", signer=signer)
    reward = preview(journey, "referral_request", variant="reward", signer=signer)

    assert personal.message.subject != reward.message.subject
    with pytest.raises(PreviewError, match="holdout"):
        preview(journey, "referral_request", variant="holdout", signer=signer)


def test_an_unknown_action_names_the_message_actions() -> None:
    result = runner.invoke(app, ["preview", "customer_lifecycle", "review_requst", "--sample"])

    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "no action 'review_requst' (did you mean 'evaluation.review_request'?)" in out


def test_the_preview_email_is_a_message_a_mail_client_reads() -> None:
    shown = preview(
        load_journey(LIFECYCLE),
        "thank_you",
        locale="de",
        signer=LinkSigner("preview-secret-0123456789", "https://x"),
    )

    raw = build_email(shown.message, datetime.now(UTC)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    assert parsed["Subject"] == shown.message.subject
    # A transactional mail: no unsubscribe header.
    assert parsed["List-Unsubscribe"] is None


EXAMPLE_ORDER = Path(__file__).resolve().parents[2] / "docs" / "examples" / "order.completed.json"


def test_the_preview_shows_the_order_of_the_event_it_is_given(tmp_path: Path) -> None:
    out = tmp_path / "thanks.html"
    order = json.loads(EXAMPLE_ORDER.read_text(encoding="utf-8"))["data"]

    result = runner.invoke(
        app,
        [
            *("preview", "customer_lifecycle", "thank_you", "--sample", "--locale", "en"),
            *("--event", str(EXAMPLE_ORDER), "-o", str(out)),
        ],
    )

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"Subject: Thank you for your order no. {order['order_id']}" in text
    for item in order["items"]:
        assert f"{item['quantity']} × {item['name']}" in text
    page = out.read_text(encoding="utf-8")
    assert f'href="{order["url"]}"' in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a JSON object with type and data"),
        ('{"data": {}}', "type: the event's type"),
        ('{"type": "order.completed", "data": [1]}', "data: expected an object"),
        ('{"type": "order.completed", "dta": {}}', "unknown key 'dta' (did you mean 'data'?)"),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_event_file_is_named_with_what_is_wrong(
    tmp_path: Path, content: str, message: str
) -> None:
    event = tmp_path / "event.json"
    event.write_text(content, encoding="utf-8")

    result = runner.invoke(
        app, ["preview", "customer_lifecycle", "thank_you", "--sample", "--event", str(event)]
    )

    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_the_preview_draws_the_email_as_a_picture(tmp_path: Path) -> None:
    picture = tmp_path / "review.png"

    result = runner.invoke(
        app,
        [
            *("preview", "customer_lifecycle", "review_request", "--sample", "--locale", "en"),
            *("-o", str(tmp_path / "review.html"), "--screenshot", str(picture), "--width", "500"),
        ],
    )

    assert result.exit_code == 0, result.output
    png = picture.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width == 500 and height > 800  # the whole email, not the first screen
