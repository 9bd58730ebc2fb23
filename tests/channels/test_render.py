"""Rendering claimed actions into messages: locales, links, headers, senders, webhooks."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels import OutboundMessage, SendResult
from channels.errors import ChannelConfigError
from channels.links import LinkSigner
from channels.render import Renderer
from channels.render_context import stage_context
from channels.render_settings import RenderSettings
from channels.settings import ChannelSettings
from journeys import Journey, load_journeys
from journeys.config import templates_dir
from journeys.model import EmailAction, Sender, SmsAction, WebhookAction
from journeys.store.outbox.claims import ClaimedAction, ClaimedCustomer, ClaimedPromo

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
SIGNER = LinkSigner("test-secret-0123456789abcdef", "https://shop.example")
JOURNEYS = {j.journey: j for j in load_journeys()}
NAMES = {"de": ("Max", "Hallo Max"), "en": ("Emma", "Hi Emma")}
PROMO = ClaimedPromo("DANKE-7KQ2M9", "10%", NOW + timedelta(days=30))


def renderer(
    settings: RenderSettings | None = None,
    channel_settings: ChannelSettings | None = None,
    templates: Path | None = None,
    signer: LinkSigner = SIGNER,
) -> Renderer:
    return Renderer(
        templates or templates_dir(),
        signer,
        settings or RenderSettings(),
        channel_settings or ChannelSettings(),
    )


def _params(action: Any) -> dict[str, Any]:
    # What the engine stores with the action (journeys.engine builds it the same way).
    params: dict[str, Any] = action.model_dump(
        mode="json",
        by_alias=True,
        exclude_none=True,
        exclude={"key", "after", "when", "cancel_on_leave", "variants"},
    )
    return params


def claimed(
    journey: str = "customer_lifecycle",
    stage: str = "evaluation",
    action_key: str = "review_request",
    *,
    template: str | None = None,
    locale: str | None = "de",
    **customer: Any,
) -> ClaimedAction:
    j = JOURNEYS[journey]
    action = next(a for a in j.stage(stage).on_enter if a.action_key == action_key)
    first = NAMES.get((locale or "de").split("-")[0], NAMES["de"])[0]
    person: dict[str, Any] = {
        "id": 7,
        "external_id": "cust-4711",
        "email": "max.mustermann@example.com",
        "phone": "+491701234567",
        "first_name": first,
        "last_name": "Mustermann",
        "locale": locale,
        "timezone": "Europe/Berlin",
        "country": "DE",
        "attributes": {"segment": "vip"},
    } | customer
    return ClaimedAction(
        id=1,
        claim="w/1",
        idempotency_key="b579135146a24250a22f6e89865b60d7",
        journey=journey,
        version=j.version,
        enrollment_id=3,
        stage=stage,
        stage_entry=2,
        action_key=action_key,
        kind=action.kind,
        template=template or getattr(action, "template", None),
        variant=None,
        params=_params(action),
        due_at=NOW,
        attempts=1,
        lease_expires_at=NOW + timedelta(minutes=10),
        customer=ClaimedCustomer(**person),
        promo=PROMO if "promo_code" in _params(action) else None,
    )


def render(action: ClaimedAction, r: Renderer | None = None) -> OutboundMessage:
    message = (r or renderer()).render(action, JOURNEYS[action.journey], action.promo, NOW)
    assert isinstance(message, OutboundMessage), message
    return message


def _message_actions() -> list[Any]:
    cases = []
    for journey in JOURNEYS.values():
        for stage in journey.stages:
            for action in stage.on_enter:
                if isinstance(action, EmailAction | SmsAction):
                    for template in action.templates:
                        key = f"{journey.journey}.{stage.key}.{template}"
                        cases.append(pytest.param(journey, stage.key, action, template, id=key))
    return cases


@pytest.mark.parametrize("locale", ["de", "en"])
@pytest.mark.parametrize(("journey", "stage", "action", "template"), _message_actions())
def test_every_message_of_every_shipped_journey_renders(
    journey: Journey, stage: str, action: Any, template: str, locale: str
) -> None:
    message = render(
        claimed(journey.journey, stage, action.action_key, template=template, locale=locale)
    )

    greeting = NAMES[locale][1]
    assert message.channel == action.kind
    assert greeting in (message.text or "")
    for part in (message.subject, message.text, message.html):
        assert "None" not in (part or "") and "Undefined" not in (part or "")
    if action.promo_code is not None:
        assert PROMO.code in (message.text or "")
    if action.kind == "email":
        assert message.subject and greeting in (message.html or "")
        assert message.to == "max.mustermann@example.com"
    else:
        assert message.to == "+491701234567" and message.subject is None


def test_an_austrian_customer_reads_german() -> None:
    message = render(claimed(locale="de-AT", timezone="Europe/Vienna", country="AT"))
    assert message.text is not None and message.subject is not None
    assert message.text.startswith("Hallo Max,")
    assert "Bewertung" in message.subject or "Einkauf" in message.subject


@pytest.mark.parametrize("locale", ["fr", "pt-BR", None, "../../etc", "german"])
def test_a_customer_without_templates_in_their_language_gets_the_journey_default(
    locale: str | None,
) -> None:
    journey = JOURNEYS["customer_lifecycle"]
    assert journey.locale == "de"
    message = render(claimed(locale=locale, first_name="Max"))
    assert (message.text or "").startswith("Hallo Max,")


def test_the_stage_title_and_journey_name_follow_the_message_locale() -> None:
    r = renderer()
    action = claimed(locale="en")
    journey = JOURNEYS[action.journey]
    assert stage_context(journey, "evaluation", "en")["title"] == "Evaluation"
    assert stage_context(journey, "evaluation", "de-AT")["title"] == "Bewertung"
    assert isinstance(r.render(action, journey, PROMO, NOW), OutboundMessage)


def _unsubscribe_url(message: OutboundMessage) -> str:
    header = message.header("List-Unsubscribe") or ""
    found = re.search(r"<(https?://[^>]+)>", header)
    assert found, header
    return found.group(1)


def test_the_unsubscribe_link_verifies_and_shows_no_customer_id() -> None:
    action = claimed()
    message = render(action)

    url = _unsubscribe_url(message)
    token = url.rsplit("/l/", 1)[1]
    signed = SIGNER.verify(token, NOW + timedelta(days=300), "unsubscribe")
    assert signed.ref == action.idempotency_key
    for secret in ("cust-4711", "4711", "max.mustermann", "example.com"):
        assert secret not in url
    # The same link is in the footer of the text and the HTML.
    assert url in (message.text or "") and url in (message.html or "")


def test_list_unsubscribe_headers_only_on_marketing_emails() -> None:
    marketing = render(claimed())
    assert marketing.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    mailto = "<mailto:unsubscribe@beispielhandel.de?subject=unsubscribe>"
    assert (marketing.header("List-Unsubscribe") or "").endswith(mailto)

    order_confirmation = render(claimed(stage="decision", action_key="thank_you"))
    assert order_confirmation.headers == {}
    sms = render(claimed(stage="dormant", action_key="we_miss_you"))
    assert sms.headers == {}


def test_one_click_unsubscribe_needs_an_https_link() -> None:
    plain = LinkSigner("test-secret-0123456789abcdef", "http://127.0.0.1:8000")
    settings = RenderSettings(unsubscribe_mailbox="optout@shop.example")
    message = render(claimed(), renderer(settings, signer=plain))
    assert message.header("List-Unsubscribe-Post") is None
    assert message.header("List-Unsubscribe") == (
        f"<{_unsubscribe_url(message)}>, <mailto:optout@shop.example?subject=unsubscribe>"
    )


@pytest.mark.parametrize("key", sorted(JOURNEYS))
def test_sender_and_categories_come_from_the_journey(key: str) -> None:
    journey = JOURNEYS[key]
    stage, action = next(
        (s.key, a) for s in journey.stages for a in s.on_enter if isinstance(a, EmailAction)
    )
    message = render(claimed(key, stage, action.action_key, template=action.template))
    assert message.from_email == journey.settings.sender.email
    assert message.from_name == journey.settings.sender.name
    assert list(message.categories) == list(dict.fromkeys([*journey.settings.categories, key]))
    assert message.custom_args["journey"] == key and message.custom_args["stage"] == stage
    assert message.custom_args["customer_id"] == "cust-4711"
    assert message.custom_args["country"] == "DE"
    assert message.metadata["action"] == action.action_key


def test_without_a_journey_sender_the_channel_defaults_apply() -> None:
    defaults = ChannelSettings(
        email_from="news@shop.example", email_from_name="Shop", email_reply_to="help@shop.example"
    )
    action = claimed()
    journey = JOURNEYS[action.journey].model_copy(
        update={
            "settings": JOURNEYS[action.journey].settings.model_copy(update={"sender": Sender()})
        }
    )
    message = renderer(channel_settings=defaults).render(action, journey, PROMO, NOW)
    assert isinstance(message, OutboundMessage)
    assert (message.from_email, message.from_name, message.reply_to) == (
        "news@shop.example",
        "Shop",
        "help@shop.example",
    )


def test_an_sms_carries_the_status_callback_and_the_country() -> None:
    settings = ChannelSettings(sms_status_callback_url="https://hooks.shop.example/twilio/status")
    message = render(claimed(stage="dormant", action_key="we_miss_you"), renderer(None, settings))
    assert message.status_callback == "https://hooks.shop.example/twilio/status"
    assert message.country == "DE"
    assert "DANKE-7KQ2M9" in (message.text or "")


def test_the_company_comes_from_the_environment() -> None:
    settings = RenderSettings.from_env(
        {
            "JOURNEYFLOW_COMPANY_NAME": "Acme Handel AG",
            "JOURNEYFLOW_SUPPORT_EMAIL": "hi@acme.example",
        }
    )
    message = render(claimed(), renderer(settings))
    assert "Acme Handel AG" in (message.text or "")
    assert "hi@acme.example" in (message.text or "")
    assert "Musterstraße 1" in (message.text or "")  # the address keeps its default
    assert (message.header("List-Unsubscribe") or "").endswith(
        "<mailto:unsubscribe@beispielhandel.de?subject=unsubscribe>"
    )


# --- webhooks ------------------------------------------------------------------------------


def test_a_named_webhook_is_resolved_from_the_environment() -> None:
    settings = RenderSettings.from_env(
        {
            "JOURNEYFLOW_WEBHOOK_CRM_VIP_ORDER": "https://crm.example/hooks/vip",
            "JOURNEYFLOW_WEBHOOK_SECRET": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0",
        }
    )
    assert settings.webhooks == {"crm_vip_order": "https://crm.example/hooks/vip"}
    action = claimed(stage="decision", action_key="webhook")
    assert isinstance(JOURNEYS[action.journey].stage("decision").on_enter[2], WebhookAction)

    message = render(action, renderer(settings))

    assert (message.channel, message.to) == ("webhook", "https://crm.example/hooks/vip")
    payload = message.metadata["payload"]
    assert payload["reason"] == "large_order"
    assert payload["customer"]["id"] == "cust-4711"
    assert payload["customer"]["email"] == "max.mustermann@example.com"
    assert payload["journey"] == {
        "key": "customer_lifecycle",
        "name": "Kundenlebenszyklus",
        "version": 2,
    }
    assert payload["stage"] == {"key": "decision", "title": "Kaufentscheidung"}


def test_an_unresolved_webhook_is_a_permanent_failure() -> None:
    action = claimed(stage="decision", action_key="webhook")
    result = renderer().render(action, JOURNEYS[action.journey], None, NOW)
    assert isinstance(result, SendResult)
    assert (result.status, result.error_code) == ("failed", "unresolved_webhook")
    assert "JOURNEYFLOW_WEBHOOK_CRM_VIP_ORDER" in (result.reason or "")


# --- what is not rendered ------------------------------------------------------------------


def test_a_template_error_is_a_failed_result_not_an_exception(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "review_request.email.j2").write_text(
        "{% block subject %}Hi {{ customer.nickname }}{% endblock %}"
        "{% block text %}x{% endblock %}{% block html %}x{% endblock %}",
        encoding="utf-8",
    )
    action = claimed()
    result = renderer(templates=tmp_path).render(action, JOURNEYS[action.journey], PROMO, NOW)
    assert isinstance(result, SendResult)
    assert (result.status, result.error_code) == ("failed", "template_error")
    assert "de/review_request.email.j2" in (result.reason or "")
    assert "nickname" in (result.reason or "")


def test_a_declared_promo_code_that_was_not_issued_fails_the_message() -> None:
    action = claimed()
    result = renderer().render(action, JOURNEYS[action.journey], None, NOW)
    assert isinstance(result, SendResult) and result.error_code == "no_promo"


def test_a_holdout_variant_is_not_rendered() -> None:
    action = claimed(stage="recommendation", action_key="referral_request")
    holdout = replace(action, template=None, variant="holdout")
    result = renderer().render(holdout, JOURNEYS[action.journey], None, NOW)
    assert isinstance(result, SendResult) and result.error_code == "holdout"


# --- brand and legal settings ----------------------------------------------------------------

ACME = {
    "JOURNEYFLOW_COMPANY_NAME": "Acme Handel GmbH",
    "JOURNEYFLOW_COMPANY_ADDRESS": "Hafenstraße 9, 20457 Hamburg",
    "JOURNEYFLOW_COMPANY_REGISTERED_OFFICE": "Hamburg",
    "JOURNEYFLOW_COMPANY_REGISTER_COURT": "Amtsgericht Hamburg",
    "JOURNEYFLOW_COMPANY_REGISTER_NUMBER": "HRB 98765",
    "JOURNEYFLOW_COMPANY_MANAGING_DIRECTORS": "Jana Roth, Olaf Wendt",
    "JOURNEYFLOW_PRIVACY_URL": "https://acme.example/datenschutz",
    "JOURNEYFLOW_IMPRINT_URL": "https://acme.example/impressum",
    "JOURNEYFLOW_BRAND_NAME": "Acme",
    "JOURNEYFLOW_BRAND_LOGO_URL": "https://cdn.acme.example/logo.png",
    "JOURNEYFLOW_BRAND_LOGO_WIDTH": "120px",
    "JOURNEYFLOW_BRAND_LOGO_HEIGHT": "30",
}


def test_the_brand_is_the_header_and_the_legal_entity_the_footer() -> None:
    settings = RenderSettings.from_env(ACME)
    message = render(claimed(), renderer(settings))
    html, text = message.html or "", message.text or ""

    assert '<img src="https://cdn.acme.example/logo.png" alt="Acme" width="120" height="30"' in html
    assert "Ihr Team von Acme" in text and "Acme Handel GmbH, Hafenstraße 9, 20457 Hamburg" in text
    legal = (
        "Sitz: Hamburg · Registergericht: Amtsgericht Hamburg, HRB 98765 · "
        "Geschäftsführung: Jana Roth, Olaf Wendt"
    )
    assert legal in text and legal in html
    assert "USt-IdNr." not in text  # shown where set: this company has none set
    assert 'href="https://acme.example/datenschutz"' in html
    assert "Impressum: https://acme.example/impressum" in text


def test_a_named_company_never_borrows_the_examples_legal_details() -> None:
    settings = RenderSettings.from_env({"JOURNEYFLOW_COMPANY_NAME": "Acme Handel GmbH"})
    company = settings.company

    assert settings.brand["name"] == "Acme Handel GmbH"
    assert company["register_court"] is None and company["managing_directors"] is None
    assert company["privacy_url"] is None and company["imprint_url"] is None
    message = render(claimed(), renderer(settings))
    assert "Sitz:" not in (message.text or "") and "Registergericht" not in (message.html or "")
    assert "None" not in (message.text or "") and "None" not in (message.html or "")
    # Without a company name the example company speaks, complete.
    example = RenderSettings.from_env({}).company
    assert example["register_number"] == "HRB 123456 B" and example["vat_id"] == "DE123456789"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("JOURNEYFLOW_BRAND_LOGO_WIDTH", "wide"),
        ("JOURNEYFLOW_BRAND_LOGO_WIDTH", "0"),
        ("JOURNEYFLOW_BRAND_LOGO_HEIGHT", "601"),
        ("JOURNEYFLOW_BRAND_LOGO_URL", "http://cdn.acme.example/logo.png"),
        ("JOURNEYFLOW_PRIVACY_URL", "acme.example/privacy"),
        ("JOURNEYFLOW_IMPRINT_URL", "javascript:alert(1)"),
    ],
)
def test_a_setting_that_cannot_be_used_is_named(var: str, value: str) -> None:
    with pytest.raises(ChannelConfigError) as caught:
        RenderSettings.from_env({**ACME, var: value})
    assert str(caught.value).startswith(f"{var} must be")
    assert repr(value) in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12))
def test_any_logo_size_is_a_size_or_a_clear_error(raw: str) -> None:
    try:
        brand = RenderSettings.from_env({"JOURNEYFLOW_BRAND_LOGO_WIDTH": raw}).brand
    except ChannelConfigError as exc:
        assert str(exc).startswith("JOURNEYFLOW_BRAND_LOGO_WIDTH must be a whole number")
    else:
        assert 1 <= brand["logo_width"] <= 600


def test_the_view_link_is_signed_for_the_message() -> None:
    message = render(claimed())
    [view] = re.findall(r"Im Browser ansehen: (\S+)", message.text or "")
    token = view.rsplit("/l/", 1)[1]
    assert SIGNER.verify(token, NOW, "view").ref == "b579135146a24250a22f6e89865b60d7"
    assert f'href="{view}"' in (message.html or "")
