"""Rendering: a claimed action of the outbox becomes an ``OutboundMessage``.

Emails and SMS are rendered from ``templates/<locale>/<name>.<channel>.j2`` in the
customer's locale when the journey has a template for it (``de-AT`` reads ``de``), else
in the journey's default locale. Webhook actions become a message to the endpoint's URL
whose metadata carries the action's payload with the customer, journey and stage.

``render`` never raises for a problem of the data: a template error, a missing promo
code or an unknown webhook endpoint come back as a permanent ``SendResult("failed")``,
so one bad action cannot stop a batch. Holdout variants (no template) are not rendered
at all: the dispatcher skips them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from channels.calendar import CalendarError, calendar_file
from channels.errors import MessageError
from channels.links import LinkSigner
from channels.message import Attachment, OutboundMessage, SendResult
from channels.render_context import (
    Choice,
    PromoCodeLike,
    build_context,
    choose_template,
    customer_context,
    journey_context,
    stage_context,
)
from channels.render_settings import RenderSettings
from channels.settings import ChannelSettings
from journeys.model import Journey
from journeys.store.outbox.claims import ClaimedAction
from journeys.templating import make_environment, render_email, render_sms, where
from journeys.templating.context import LinksContext, RenderContext

MESSAGE_KINDS = ("email", "sms")


def _failed(reason: str, code: str) -> SendResult:
    return SendResult("failed", reason=reason, error_code=code, channel="render")


def _zone(name: str, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return ZoneInfo(fallback)  # the journey's, checked when it was loaded


class Renderer:
    """Renders claimed actions with one template folder, link signer and settings."""

    def __init__(
        self,
        templates_dir: Path,
        signer: LinkSigner,
        settings: RenderSettings | None = None,
        channel_settings: ChannelSettings | None = None,
    ) -> None:
        self.templates_dir = Path(templates_dir)
        self.env = make_environment(self.templates_dir)
        # A renderer serves one run (a flow run, a preview): templates are read once,
        # not checked on disk again for every block of every message.
        self.env.auto_reload = self.env.plain.auto_reload = False
        self._choices: dict[tuple[str, str | None, str, str], Choice | None] = {}
        self.signer = signer
        self.settings = settings if settings is not None else RenderSettings.from_env()
        self.channel_settings = (
            channel_settings if channel_settings is not None else ChannelSettings.from_env()
        )

    def render(
        self,
        action: ClaimedAction,
        journey: Journey,
        promo: PromoCodeLike | None,
        now: datetime,
    ) -> OutboundMessage | SendResult:
        """The message for `action`, or a failed result saying why there is none."""
        try:
            if action.kind == "webhook":
                return self._webhook(action, journey, now)
            if action.kind not in MESSAGE_KINDS:
                return _failed(f"'{action.kind}' actions send no message", "not_a_message")
            return self._message(action, journey, promo, now)
        except CalendarError as exc:
            # The event's data cannot make the calendar entry: no retry will change that.
            return _failed(f"attachment: {exc}", "attachment_error")
        except MessageError as exc:
            return _failed(f"invalid message: {exc}", "invalid_message")

    # --- email and SMS -----------------------------------------------------------------

    def _message(
        self, action: ClaimedAction, journey: Journey, promo: PromoCodeLike | None, now: datetime
    ) -> OutboundMessage | SendResult:
        if action.template is None:
            return _failed("a holdout variant sends nothing", "holdout")
        if "promo_code" in action.params and promo is None:
            return _failed("the action declares a promo code but none was issued", "no_promo")
        channel = action.kind
        choice = self._choose(journey, action.customer.locale, action.template, channel)
        if choice is None:
            return _failed(
                f"no template '{action.template}' for {channel} in locale "
                f"'{action.customer.locale or journey.locale}' or '{journey.locale}'",
                "no_template",
            )
        signed = self.signer.links(action.idempotency_key, now)
        links = LinksContext(
            unsubscribe=signed["unsubscribe"],
            preferences=signed["preferences"],
            review=signed["review"],
            survey=signed["survey"],
            confirm=signed["confirm"],
            view=signed["view"],
        )
        context = build_context(
            action,
            journey,
            choice.locale,
            promo=promo,
            links=links,
            company=self.settings.company,
            brand=self.settings.brand,
            now=now,
        )
        try:
            if channel == "email":
                return self._email(action, journey, choice.name, context)
            text = render_sms(self.env, choice.name, context)
        except jinja2.TemplateError as exc:
            # The budget's messages say what exceeds which limit; where names file:line.
            return _failed(
                f"render error: template {where(exc, choice.name)}: {exc}", "template_error"
            )
        return OutboundMessage(
            idempotency_key=action.idempotency_key,
            channel="sms",
            to=action.customer.phone or "",
            text=text,
            metadata=self._metadata(action),
            custom_args=self._custom_args(action),
            status_callback=self.channel_settings.sms_status_callback_url,
        )

    def _email(
        self, action: ClaimedAction, journey: Journey, name: str, context: RenderContext
    ) -> OutboundMessage:
        rendered = render_email(self.env, name, context)
        sender = journey.settings.sender
        from_email = sender.email or self.channel_settings.email_from
        headers: dict[str, str] = {}
        if action.marketing:
            unsubscribe = context["links"]["unsubscribe"]
            mailbox = self.settings.unsubscribe_address(from_email)
            headers["List-Unsubscribe"] = f"<{unsubscribe}>, <mailto:{mailbox}?subject=unsubscribe>"
            if unsubscribe.startswith("https://"):
                # RFC 8058 one-click needs an https URI; plain http keeps the classic header.
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return OutboundMessage(
            idempotency_key=action.idempotency_key,
            channel="email",
            to=action.customer.email or "",
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            from_email=from_email,
            from_name=sender.name or self.channel_settings.email_from_name,
            reply_to=sender.reply_to or self.channel_settings.email_reply_to,
            headers=headers,
            categories=[*journey.settings.categories, journey.journey],
            metadata=self._metadata(action),
            custom_args=self._custom_args(action),
            attachments=self._attachments(action, journey, context, rendered.subject),
        )

    def _attachments(
        self, action: ClaimedAction, journey: Journey, context: RenderContext, subject: str
    ) -> list[Attachment]:
        attach = action.params.get("attach")
        spec = attach.get("calendar") if isinstance(attach, dict) else None
        if not isinstance(spec, dict):
            return []
        customer = context["customer"]
        found = calendar_file(
            spec,
            event=action.event,
            journey=journey.journey,
            customer_id=action.customer.external_id,
            attendee=action.customer.email,
            attendee_name=customer["name"],
            zone=_zone(customer["timezone"], journey.settings.timezone),
            subject=subject,
            company=context["company"],
            fallback_stamp=action.due_at,
        )
        return [found] if found is not None else []

    def _choose(
        self, journey: Journey, locale: str | None, template: str, channel: str
    ) -> Choice | None:
        key = (journey.locale, locale, template, channel)
        if key not in self._choices:
            found = choose_template(self.templates_dir, journey, locale, template, channel)
            self._choices[key] = found
        return self._choices[key]

    # --- webhooks ------------------------------------------------------------------------

    def _webhook(
        self, action: ClaimedAction, journey: Journey, now: datetime
    ) -> OutboundMessage | SendResult:
        target = str(action.params.get("webhook", ""))
        url = self.settings.webhook_url(target)
        if url is None:
            variable = f"JOURNEYFLOW_WEBHOOK_{target.upper()}"
            return _failed(
                f"webhook endpoint '{target}' is not configured; set {variable} to its URL",
                "unresolved_webhook",
            )
        locale = journey.locale
        payload = {
            **dict(action.params.get("payload") or {}),
            "customer": customer_context(action, locale, journey.settings.timezone),
            "journey": journey_context(journey, locale),
            "stage": stage_context(journey, action.stage, locale),
        }
        return OutboundMessage(
            idempotency_key=action.idempotency_key,
            channel="webhook",
            to=url,
            metadata={**self._metadata(action), "payload": payload},
            custom_args=self._custom_args(action),
        )

    # --- tracking ------------------------------------------------------------------------

    def _metadata(self, action: ClaimedAction) -> dict[str, Any]:
        # journey, stage, action, customer_id and variant go to custom_args by themselves.
        return {
            "journey": action.journey,
            "stage": action.stage,
            "action": action.action_key,
            "customer_id": action.customer.external_id,
            "variant": action.variant,
            "country": action.customer.country,
        }

    def _custom_args(self, action: ClaimedAction) -> dict[str, str]:
        country = action.customer.country
        return {"country": country} if country else {}
