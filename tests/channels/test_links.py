"""Signed, expiring links: what a customer clicks, and what a forger cannot make."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from channels.links import LINK_TTL, PURPOSES, LinkError, LinkSigner
from journeys.decisions import idempotency_key

SECRET = "s3cret-for-tests-only-0123456789"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY = idempotency_key("customer_lifecycle", "kunde-4711@example.org", 1, 5, "evaluation", "review")


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(SECRET, "https://shop.example/jf/")


def test_a_message_gets_its_six_links_under_the_public_url(signer: LinkSigner) -> None:
    links = signer.links(KEY, NOW)

    assert set(links) == {"unsubscribe", "preferences", "review", "survey", "confirm", "view"}
    for purpose, url in links.items():
        assert url.startswith("https://shop.example/jf/l/")
        token = url.rsplit("/", 1)[1]
        ref = signer.verify(token, NOW, purpose)
        assert (ref.purpose, ref.ref) == (purpose, KEY)
        assert ref.expires_at == NOW + LINK_TTL[purpose]


def test_a_link_shows_no_customer_id_or_order(signer: LinkSigner) -> None:
    for url in signer.links(KEY, NOW).values():
        assert "4711" not in url and "example.org" not in url and "evaluation" not in url


def test_the_signature_is_hmac_sha256_over_purpose_ref_and_expiry(signer: LinkSigner) -> None:
    # Computed here independently, as a receiving service in another language would.
    expires = NOW + timedelta(days=30)
    token = signer.token("review", KEY, expires)
    body = f"review.{KEY}.{int(expires.timestamp()):x}"
    mac = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()
    assert token == f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("review.", "unsubscribe.", 1),  # another purpose
        lambda t: t.replace(KEY, KEY[::-1], 1),  # another action
        lambda t: ".".join([*t.split(".")[:2], "ffffffff", t.split(".")[3]]),  # later expiry
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
        lambda t: t.split(".", 1)[1],  # truncated
    ],
)
def test_a_tampered_link_is_refused(signer: LinkSigner, tamper: object) -> None:
    token = signer.token("review", KEY, NOW + timedelta(days=30))
    forged = tamper(token)  # type: ignore[operator]

    with pytest.raises(LinkError) as refused:
        signer.verify(forged, NOW)
    assert refused.value.reason == "invalid"


def test_another_installations_secret_does_not_verify(signer: LinkSigner) -> None:
    token = LinkSigner("another-secret-of-16+chars", "https://x").token(
        "unsubscribe", KEY, NOW + timedelta(days=1)
    )
    with pytest.raises(LinkError, match="signature"):
        signer.verify(token, NOW)


def test_an_expired_link_says_so(signer: LinkSigner) -> None:
    token = signer.token("survey", KEY, NOW + timedelta(days=30))

    assert signer.verify(token, NOW + timedelta(days=29)).ref == KEY
    with pytest.raises(LinkError, match="expired on 2026-03-31") as refused:
        signer.verify(token, NOW + timedelta(days=30))
    assert refused.value.reason == "expired"


def test_a_link_for_one_purpose_does_not_open_another(signer: LinkSigner) -> None:
    token = signer.token("survey", KEY, NOW + timedelta(days=1))

    with pytest.raises(LinkError, match="is for 'survey', not 'unsubscribe'"):
        signer.verify(token, NOW, "unsubscribe")


def test_secret_rotation_keeps_old_links_working() -> None:
    old = LinkSigner("the-old-secret-0123456789", "https://x")
    token = old.token("unsubscribe", KEY, NOW + timedelta(days=365))
    rotated = LinkSigner(
        "the-new-secret-9876543210", "https://x", older=("the-old-secret-0123456789",)
    )

    assert rotated.verify(token, NOW).ref == KEY
    assert rotated.token("unsubscribe", KEY, NOW + timedelta(days=1)) != old.token(
        "unsubscribe", KEY, NOW + timedelta(days=1)
    )


def test_bad_input_names_what_is_valid(signer: LinkSigner) -> None:
    with pytest.raises(
        LinkError, match=r"unknown link purpose 'unsubscibe'.*did you mean 'unsubscribe'"
    ):
        signer.token("unsubscibe", KEY, NOW)
    with pytest.raises(LinkError, match="at least 16 characters"):
        LinkSigner("short", "https://x")
    assert set(PURPOSES) == {"unsubscribe", "preferences", "review", "survey", "confirm", "view"}
