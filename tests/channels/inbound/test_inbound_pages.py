"""The pages behind signed links, through the running service and a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from receiver_harness import ON_BOTH_STORES, MakeReceiver, Receiver
from sqlalchemy import Engine, text

from channels.links import LinkSigner
from journeys.loader import parse_journey
from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope

JOURNEY = """\
journey: link_pages
version: 1
name: Link pages
locale: de
settings:
  sender: {email: service@beispielhandel.de, name: Beispielhandel}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter:
      - email: welcome
      - sms: we_miss_you
      - email: csat_survey
      - email: nps_survey
    final: true
"""
CUSTOMERS = {
    "c-de": {"email": "max@example.org", "phone": "+4915112345678", "locale": "de-AT"},
    "c-en": {"email": "emma@example.org", "phone": "+447911123456", "locale": "en"},
}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _setup(engine: Engine) -> dict[tuple[str, str], str]:
    """Both customers enrolled; the idempotency key of each message, by (customer, template)."""
    registry = JourneyRegistry()
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        registry.register(session, [parse_journey(JOURNEY)[0]])
        events = [
            IncomingEvent(
                source="shop",
                external_id=f"created-{customer}",
                type="account.created",
                customer_id=customer,
                occurred_at=now - timedelta(minutes=5),
                customer=profile,
            )
            for customer, profile in CUSTOMERS.items()
        ]
        apply_events(session, registry, events, now)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.external_id, a.template, a.idempotency_key FROM action_run a "
                "JOIN customer c ON c.id = a.customer_id"
            )
        ).all()
    return {(customer, template): key for customer, template, key in rows}


@pytest.fixture
def keys(store_engine: Engine) -> dict[tuple[str, str], str]:
    return _setup(store_engine)


@pytest.fixture
def service(make_receiver: MakeReceiver, link_signer: LinkSigner) -> Receiver:
    return make_receiver({"sources": {}}, signer=link_signer)


def link(signer: LinkSigner, purpose: str, ref: str, days: float = 7) -> str:
    return "/l/" + signer.token(purpose, ref, datetime.now(UTC) + timedelta(days=days))


def consent(receiver: Receiver, customer: str = "c-de") -> dict[str, tuple[str, str]]:
    rows = receiver.rows(
        "SELECT k.channel, k.status, k.source FROM consent k "
        "JOIN customer c ON c.id = k.customer_id WHERE c.external_id = :c",
        c=customer,
    )
    return {channel: (status, source) for channel, status, source in rows}


def history(receiver: Receiver) -> list[tuple[str, str, str, str | None]]:
    return [
        tuple(r)
        for r in receiver.rows(
            "SELECT channel, status, source, detail FROM consent_change ORDER BY id"
        )
    ]


# --- unsubscribe ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"List-Unsubscribe=One-Click", FORM),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            b"One-Click\r\n--XyZ--\r\n",
            {"content-type": "multipart/form-data; boundary=XyZ"},
        ),
    ],
    ids=["urlencoded", "multipart"],
)
def test_one_click_unsubscribe_from_the_mail_client(
    service: Receiver,
    link_signer: LinkSigner,
    keys: dict[tuple[str, str], str],
    body: bytes,
    headers: dict[str, str],
) -> None:
    response = service.post(
        link(link_signer, "unsubscribe", keys["c-de", "welcome"]), body, headers
    )

    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert consent(service) == {"email": ("unsubscribed", "list_unsubscribe")}
    assert history(service) == [("email", "unsubscribed", "list_unsubscribe", "ip=127.0.0.1")]


def test_opening_a_link_changes_nothing(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    ref = keys["c-de", "welcome"]
    for purpose in ("unsubscribe", "confirm", "preferences"):
        response = service.client.get(link(link_signer, purpose, ref))
        assert response.status_code == 200, purpose
        assert '<form method="post">' in response.text
        assert response.headers["cache-control"] == "no-store"
        assert "set-cookie" not in response.headers
    assert service.scalar("SELECT count(*) FROM consent_change") == 0
    assert service.scalar("SELECT count(*) FROM inbound_event WHERE source = 'links'") == 0
    assert service.stored == []


def test_the_page_button_unsubscribes_the_messages_channel(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    path = link(link_signer, "unsubscribe", keys["c-de", "we_miss_you"])  # an SMS
    assert "Werbe-SMS" in service.client.get(path).text

    response = service.post(path, b"confirm=1", FORM)

    assert response.status_code == 200
    assert "Sie erhalten von uns keine Werbe-SMS mehr" in response.text
    assert consent(service) == {"sms": ("unsubscribed", "unsubscribe_link")}
    # The confirmation leads on to the preferences, through a link of their own.
    preferences = response.text.split('href="/l/')[1].split('"')[0]
    assert preferences.startswith("preferences.")
    assert service.client.get(f"/l/{preferences}").status_code == 200


# --- refused links --------------------------------------------------------------------------


def test_forged_malformed_and_re_purposed_links_are_404(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    token = link(link_signer, "preferences", keys["c-de", "welcome"]).removeprefix("/l/")
    purpose, ref, expiry, signature = token.split(".")
    other = LinkSigner("another-secret-0123456789", "http://x")
    forged = [
        f"{purpose}.{ref}.{expiry}.{signature[:-2]}AA",
        f"unsubscribe.{ref}.{expiry}.{signature}",  # a signed preferences link re-purposed
        f"{purpose}.{ref}.{int(expiry, 16) + 86400 * 365:x}.{signature}",  # a longer life
        other.token("unsubscribe", ref, datetime.now(UTC) + timedelta(days=1)),
        "not-a-token",
    ]
    for bad in forged:
        for response in (service.client.get(f"/l/{bad}"), service.post(f"/l/{bad}", b"", FORM)):
            assert response.status_code == 404, bad
            assert "Dieser Link ist ungültig" in response.text
    assert consent(service) == {}


def test_an_expired_link_is_410_saying_when_it_expired(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    expired = datetime(2026, 1, 31, 12, tzinfo=UTC)
    token = link_signer.token("unsubscribe", keys["c-en", "welcome"], expired)

    response = service.post(f"/l/{token}", b"List-Unsubscribe=One-Click", FORM)

    assert response.status_code == 410
    assert "This link has expired" in response.text
    assert "valid until 31 January 2026" in response.text
    assert consent(service, "c-en") == {}


def test_a_link_to_a_message_the_store_does_not_know_is_404(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    response = service.client.get(link(link_signer, "preferences", "f" * 64))
    assert response.status_code == 404
    assert "keine Nachricht" in response.text


# --- preferences ----------------------------------------------------------------------------


def test_the_preferences_page_shows_and_changes_both_channels(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    path = link(link_signer, "preferences", keys["c-en", "welcome"])
    page = service.client.get(path).text
    assert 'name="email" value="on">' in page and 'name="sms" value="on">' in page  # unticked

    saved = service.post(path, b"email=on&sms=on", FORM)
    assert "Your preferences have been saved." in saved.text
    assert 'name="email" value="on" checked>' in saved.text
    assert consent(service, "c-en") == {
        "email": ("subscribed", "preferences_page"),
        "sms": ("subscribed", "preferences_page"),
    }

    service.post(path, b"sms=on", FORM)  # the email box unticked
    assert consent(service, "c-en")["email"] == ("unsubscribed", "preferences_page")
    assert consent(service, "c-en")["sms"] == ("subscribed", "preferences_page")
    assert [h[:2] for h in history(service)] == [
        ("email", "subscribed"),
        ("sms", "subscribed"),
        ("email", "unsubscribed"),
    ]
    assert all(h[3] == "ip=127.0.0.1" for h in history(service))


# --- double opt-in --------------------------------------------------------------------------


def test_double_opt_in_stays_pending_until_the_customer_confirms(
    service: Receiver,
    link_signer: LinkSigner,
    keys: dict[tuple[str, str], str],
    store_engine: Engine,
) -> None:
    signup = IncomingEvent(
        source="crm",
        external_id="signup-1",
        type="newsletter.subscribed",
        customer_id="c-de",
        occurred_at=datetime.now(UTC) - timedelta(minutes=1),
        data={"source": "footer_form"},
    )
    with session_scope(store_engine) as session:
        apply_events(session, JourneyRegistry(), [signup], datetime.now(UTC))
    path = link(link_signer, "confirm", keys["c-de", "welcome"])

    assert "Anmeldung bestätigen" in service.client.get(path).text
    assert consent(service) == {"email": ("pending", "footer_form")}

    first = service.post(path, b"confirm=1", FORM)
    again = service.post(path, b"confirm=1", FORM)

    assert "Ihre Anmeldung zum Newsletter ist bestätigt" in first.text
    assert "bereits bestätigt" in again.text
    assert consent(service) == {"email": ("subscribed", "double_opt_in")}
    assert history(service)[-1] == ("email", "subscribed", "double_opt_in", "ip=127.0.0.1")
    assert len(history(service)) == 2  # pending, then subscribed: the repeat changed nothing
    events = service.rows(
        "SELECT source, external_id, customer_id, processed_at FROM inbound_event "
        "WHERE type = 'newsletter.confirmed'"
    )
    assert events == [("links", f"confirm:{keys['c-de', 'welcome']}", "c-de", None)]
    assert service.stored == [1]
    assert "bereits bestätigt" in service.client.get(path).text


# --- surveys --------------------------------------------------------------------------------


def answers(receiver: Receiver) -> list[tuple[str, int, str | None]]:
    return [tuple(r) for r in receiver.rows("SELECT kind, score, comment FROM survey_response")]


def test_a_survey_answer_is_recorded_from_the_score_link(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    ref = keys["c-de", "csat_survey"]
    question = service.client.get(link(link_signer, "survey", ref))
    assert question.status_code == 200
    assert [f'href="?score={n}"' in question.text for n in range(0, 7)] == [
        False,
        *[True] * 5,
        False,
    ]
    assert answers(service) == []

    response = service.client.get(link(link_signer, "survey", ref) + "?score=4")

    assert response.status_code == 200
    assert "Ihre Antwort: 4 von 5" in response.text
    assert answers(service) == [("csat", 4, None)]
    [(data,)] = service.rows("SELECT payload FROM inbound_event WHERE type = 'survey.answered'")
    payload = json.loads(data) if isinstance(data, str) else data
    assert (payload["kind"], payload["score"]) == ("csat", 4)
    assert service.stored == [1]


@pytest.mark.parametrize(
    ("template", "score", "scale"),
    [
        ("csat_survey", "0", "von 1 bis 5"),
        ("csat_survey", "6", "von 1 bis 5"),
        ("nps_survey", "11", "von 0 bis 10"),
        ("nps_survey", "-1", "von 0 bis 10"),
        ("nps_survey", "neun", "von 0 bis 10"),
    ],
)
def test_a_score_outside_the_scale_is_422_naming_the_range(
    service: Receiver,
    link_signer: LinkSigner,
    keys: dict[tuple[str, str], str],
    template: str,
    score: str,
    scale: str,
) -> None:
    path = link(link_signer, "survey", keys["c-de", template])
    response = service.client.get(path, params={"score": score})

    assert response.status_code == 422
    assert f"Bitte wählen Sie eine ganze Zahl {scale}." in response.text
    assert answers(service) == []
    assert service.scalar("SELECT count(*) FROM inbound_event WHERE source = 'links'") == 0


def test_answering_again_replaces_the_answer_and_a_comment_can_follow(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    path = link(link_signer, "survey", keys["c-en", "nps_survey"])
    for score in (3, 9, 9):
        assert service.client.get(path, params={"score": score}).status_code == 200
    assert answers(service) == [("nps", 9, None)]

    response = service.post(path, b"score=9&comment=Fast+delivery%2C+thanks%21", FORM)

    assert "We have received your comment." in response.text
    assert answers(service) == [("nps", 9, "Fast delivery, thanks!")]
    # One event per score chosen: the journeys see the corrected answer, repeats once.
    scores = service.rows(
        "SELECT external_id FROM inbound_event WHERE type = 'survey.answered' ORDER BY id"
    )
    assert [r[0].rsplit(":", 1)[1] for r in scores] == ["3", "9"]


# --- languages and the review link -------------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "lang", "title"),
    [("c-de", "de", "Ihre Einstellungen"), ("c-en", "en", "Your preferences")],
)
def test_the_page_speaks_the_customers_language(
    service: Receiver,
    link_signer: LinkSigner,
    keys: dict[tuple[str, str], str],
    customer: str,
    lang: str,
    title: str,
) -> None:
    # The customer's locale wins over the browser's.
    response = service.client.get(
        link(link_signer, "preferences", keys[customer, "welcome"]),
        headers={"accept-language": "fr-FR, en;q=0.5" if lang == "de" else "de"},
    )
    assert f'<html lang="{lang}">' in response.text
    assert f"<h1>{title}</h1>" in response.text


def test_the_review_link_redirects_to_the_review_page(
    make_receiver: MakeReceiver,
    link_signer: LinkSigner,
    keys: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNEYFLOW_REVIEW_URL", "https://reviews.example.org/beispielhandel")
    service = make_receiver({"sources": {}}, signer=link_signer)

    response = service.client.get(link(link_signer, "review", keys["c-de", "welcome"]))

    assert response.status_code == 303
    assert response.headers["location"] == "https://reviews.example.org/beispielhandel"
    assert isinstance(response, httpx.Response)


# --- no dead ends -----------------------------------------------------------------------------


@ON_BOTH_STORES
def test_an_unsubscribed_address_is_told_so_and_not_asked_again(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    path = link(link_signer, "unsubscribe", keys["c-de", "welcome"])
    assert "<form" in service.client.get(path).text
    service.post(path, b"confirm=1", FORM)

    again = service.client.get(path)

    assert again.status_code == 200
    assert "Sie sind bereits abgemeldet" in again.text and "<form" not in again.text
    assert "max@example.org" in again.text  # the address it applies to
    assert consent(service) == {"email": ("unsubscribed", "unsubscribe_link")}


@ON_BOTH_STORES
def test_an_expired_confirm_link_sends_a_new_one_at_most_once_an_hour(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    ref = keys["c-en", "welcome"]
    expired = link(link_signer, "confirm", ref, days=-1)

    offer = service.client.get(expired)
    first = service.post(expired, b"resend=1", FORM)
    second = service.post(expired, b"resend=1", FORM)

    assert offer.status_code == 410 and "Send a new confirmation link" in offer.text
    assert first.status_code == 202 and "emma@example.org" in first.text
    assert second.status_code == 429 and "within the last hour" in second.text
    copies = service.rows(
        "SELECT template, status FROM action_run WHERE idempotency_key != :ref "
        "AND template = 'welcome' "
        "AND customer_id = (SELECT id FROM customer WHERE external_id = 'c-en')",
        ref=ref,
    )
    assert copies == [("welcome", "pending")]
    assert service.stored == [1]  # the processor was woken to send it
    assert consent(service, "c-en") == {}  # nothing confirmed by asking for a new link


@ON_BOTH_STORES
def test_an_expired_confirm_link_of_a_confirmed_address_says_so(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    ref = keys["c-de", "welcome"]
    service.post(link(link_signer, "confirm", ref), b"confirm=1", FORM)

    late = service.client.get(link(link_signer, "confirm", ref, days=-1))

    assert late.status_code == 200 and "bereits bestätigt" in late.text
    assert "Weiter zum Shop" in late.text  # the next step


@ON_BOTH_STORES
def test_the_view_link_shows_the_email_and_nothing_else(
    service: Receiver, link_signer: LinkSigner, keys: dict[tuple[str, str], str]
) -> None:
    page = service.client.get(link(link_signer, "view", keys["c-en", "csat_survey"]))
    sms = service.client.get(link(link_signer, "view", keys["c-en", "we_miss_you"]))

    assert page.status_code == 200
    assert page.text.startswith("<!DOCTYPE html>") and '<html lang="en">' in page.text
    assert "How satisfied are you with the solution?" in page.text
    assert "img-src https:" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none'
    assert page.headers["cache-control"] == "no-store"
    assert sms.status_code == 404  # a text message has no web page
