"""Preview one message of a journey as a customer would get it, without sending it.

The message goes through the same renderer as a real send (locale fallback, layouts,
signed links, promo code, List-Unsubscribe), built for a sample or a given customer.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from channels.links import LinkSigner
from channels.message import OutboundMessage, SendResult
from channels.render import Renderer
from journeys.config import templates_dir
from journeys.decisions import idempotency_key
from journeys.errors import JourneyflowError, did_you_mean
from journeys.model import Journey, PromoCodeSpec, _Action, _MessageAction
from journeys.promo import choose_prefix, expires_at, generate_code
from journeys.store.events import CustomerProfile
from journeys.store.outbox.claimed import ClaimedAction, ClaimedCustomer, ClaimedPromo
from journeys.templating import sample_context, sms_segments


class PreviewError(JourneyflowError):
    """The journey has no such action, or the customer file is not usable."""


@dataclass(frozen=True)
class Preview:
    message: OutboundMessage
    stage: str
    action: str
    variant: str | None

    def html_page(self) -> str:
        """The email's HTML part, or for an SMS a page that shows the text as a phone would."""
        if self.message.channel == "email" and self.message.html:
            return self.message.html
        body = html.escape(self.message.text or "").replace("\n", "<br>")
        length = sms_segments(self.message.text or "")
        return (
            "<!doctype html><meta charset='utf-8'><title>SMS preview</title>"
            "<body style='font-family:sans-serif;background:#eee;padding:2em'>"
            f"<p>To {html.escape(self.message.to)} · {length.characters} characters, "
            f"{length.encoding}, {length.segments} segment(s)</p>"
            "<div style='max-width:20em;background:#fff;border-radius:1em;padding:1em'>"
            f"{body}</div></body>"
        )


def find_action(journey: Journey, ref: str) -> tuple[str, _Action]:
    """`stage.action` or a bare action key that is unique in the journey."""
    found = [
        (stage.key, action)
        for stage in journey.stages
        for action in stage.on_enter
        if ref in (action.action_key, f"{stage.key}.{action.action_key}")
    ]
    valid = [
        f"{s.key}.{a.action_key}"
        for s in journey.stages
        for a in s.on_enter
        if isinstance(a, _MessageAction)
    ]
    if not found:
        raise PreviewError(
            f"journey '{journey.journey}' has no action '{ref}'{did_you_mean(ref, valid)}"
        )
    if len(found) > 1:
        raise PreviewError(
            f"action '{ref}' is in several stages; name one of: "
            + ", ".join(f"{s}.{a.action_key}" for s, a in found)
        )
    stage, action = found[0]
    if not isinstance(action, _MessageAction):
        raise PreviewError(
            f"'{ref}' is a {action.kind} action, which sends no message; "
            f"message actions are: {', '.join(valid)}"
        )
    return stage, action


def _customer(file: Path | None, locale: str) -> ClaimedCustomer:
    if file is None:
        sample = sample_context(locale)["customer"]
        return ClaimedCustomer(
            0,
            sample["id"],
            sample["email"],
            sample["phone"],
            sample["first_name"],
            sample["last_name"],
            locale,
            sample["timezone"],
            sample["country"],
            sample["attributes"],
        )
    try:
        raw = json.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise PreviewError(f"customer file {file}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PreviewError(f"customer file {file}: not UTF-8 (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise PreviewError(f"customer file {file}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PreviewError(f"customer file {file}: expected a JSON object of profile fields")
    external_id = str(raw.pop("external_id", raw.pop("id", "preview")))
    try:
        profile = CustomerProfile.model_validate(raw)
    except ValidationError as exc:
        raise PreviewError(f"customer file {file}: {_profile_problems(exc)}") from None
    return ClaimedCustomer(
        0,
        external_id,
        profile.email,
        profile.phone,
        profile.first_name,
        profile.last_name,
        locale or profile.locale,
        profile.timezone,
        profile.country,
        profile.attributes,
    )


def _profile_problems(exc: ValidationError) -> str:
    valid = ["id", *CustomerProfile.model_fields]
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(map(str, error["loc"])) or "profile"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key '{field}'{did_you_mean(field, valid)}")
        else:
            problems.append(f"{field}: {error['msg']}")
    if not any("unknown key" in p for p in problems):
        problems.append(f"valid keys: {', '.join(valid)}")
    return "; ".join(problems)


# An event as `demo --events` and the webhooks take it; only type and data matter here.
_EVENT_KEYS = ("type", "data", "occurred_at", "external_id", "customer_id", "source", "customer")


def read_event(file: Path) -> dict[str, Any]:
    """The event a message is previewed with: a JSON object with `type` and `data`."""
    try:
        raw = json.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise PreviewError(f"event file {file}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PreviewError(f"event file {file}: not UTF-8 (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise PreviewError(f"event file {file}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PreviewError(f"event file {file}: expected a JSON object with type and data")
    for key in raw:
        if key not in _EVENT_KEYS:
            raise PreviewError(
                f"event file {file}: unknown key '{key}'{did_you_mean(key, _EVENT_KEYS)}"
            )
    kind, data = raw.get("type"), raw.get("data", {})
    if not isinstance(kind, str) or not kind:
        raise PreviewError(f"event file {file}: type: the event's type, e.g. order.completed")
    if not isinstance(data, dict):
        raise PreviewError(f"event file {file}: data: expected an object of the event's facts")
    # As the outbox hands it to templates: the data's keys also at the top level.
    return {**data, "type": kind, "occurred_at": raw.get("occurred_at"), "data": data}


def preview(
    journey: Journey,
    ref: str,
    *,
    locale: str | None = None,
    customer_file: Path | None = None,
    variant: str | None = None,
    event: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    templates: Path | None = None,
    signer: LinkSigner | None = None,
) -> Preview:
    now = now or datetime.now(UTC)
    stage, action = find_action(journey, ref)
    assert isinstance(action, _MessageAction)
    template = action.template
    if action.variants:
        arms = {v.key: v.template for v in action.variants}
        chosen = variant or next((k for k, t in arms.items() if t), None)
        if chosen not in arms:
            raise PreviewError(f"unknown variant '{variant}'{did_you_mean(str(variant), arms)}")
        arm = arms[chosen]
        if arm is None:
            raise PreviewError(f"variant '{chosen}' is a holdout group: it receives nothing")
        template, variant = arm, chosen
    customer = _customer(customer_file, locale or journey.locale)
    key = idempotency_key(journey.journey, customer.external_id, 1, 1, stage, action.action_key)
    promo = None
    if action.promo_code is not None:
        spec: PromoCodeSpec = action.promo_code
        prefix = choose_prefix(spec.prefix, customer.locale, journey.locale)
        promo = ClaimedPromo(generate_code(prefix), spec.discount, expires_at(spec, now))
    claimed = ClaimedAction(
        id=0,
        claim="preview",
        idempotency_key=key,
        journey=journey.journey,
        version=journey.version,
        enrollment_id=0,
        stage=stage,
        stage_entry=1,
        action_key=action.action_key,
        kind=action.kind,
        template=template,
        variant=variant,
        params={"marketing": action.marketing},
        due_at=now,
        attempts=1,
        lease_expires_at=now,
        customer=customer,
        promo=promo,
        event=event,
    )
    renderer = Renderer(templates or templates_dir(), signer or LinkSigner.from_env())
    result = renderer.render(claimed, journey, promo, now)
    if isinstance(result, SendResult):
        raise PreviewError(f"the message cannot be rendered: {result.reason}")
    return Preview(result, stage, action.action_key, variant)
