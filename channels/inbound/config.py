"""Which sources the receiver accepts, read from `webhooks.yaml` (or JOURNEYFLOW_WEBHOOKS).

    public_url: ${JOURNEYFLOW_PUBLIC_URL}
    sources:
      shop: {kind: standard_webhooks, secrets: ["${SHOP_WEBHOOK_SECRET}"]}
      hubspot: {kind: hubspot, client_secret: "${HUBSPOT_CLIENT_SECRET}"}

Secrets never live in the file: `${VAR}` takes them from the environment (`${VAR:-x}`
gives a default). A source whose variables are not set is off: requests to it get
404 with the names of the variables to set, so a half-configured installation says
what is missing instead of accepting unsigned requests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from journeys.config import webhooks_file
from journeys.errors import JourneyflowError
from journeys.store.events import PROFILE_FIELDS
from journeys.types import EVENT_PATTERN

MAX_BODY_BYTES = 1024 * 1024
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# HubSpot's default lifecycle stages, each mapped to the journey event it becomes.
HUBSPOT_LIFECYCLE_EVENTS: dict[str, str] = {
    "subscriber": "crm.lifecycle.subscriber",
    "lead": "crm.lifecycle.lead",
    "marketingqualifiedlead": "crm.lifecycle.marketing_qualified_lead",
    "salesqualifiedlead": "crm.lifecycle.sales_qualified_lead",
    "opportunity": "crm.lifecycle.opportunity",
    "customer": "crm.lifecycle.customer",
    "evangelist": "crm.lifecycle.evangelist",
    "other": "crm.lifecycle.other",
}


class ReceiverConfigError(JourneyflowError):
    """The webhooks file is missing fields, has unknown ones, or cannot be read."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)


class StandardWebhooksConfig(_Source):
    """Generic JSON events (a shop, a CRM, your backend) signed per Standard Webhooks."""

    kind: Literal["standard_webhooks"]
    secrets: list[SecretStr] = Field(min_length=1, description="whsec_… secrets; several rotate")


# Contact properties carried over as profile updates (HubSpot name -> profile field).
HUBSPOT_PROFILE_PROPERTIES: dict[str, str] = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "phone": "phone",
}
HUBSPOT_ID_FIELDS = ("objectId", "portalId")


class HubSpotConfig(_Source):
    """HubSpot app webhooks: v3 signatures, `contact.propertyChange` batches."""

    kind: Literal["hubspot"]
    client_secret: SecretStr
    customer_id: str = Field(
        default="{objectId}",
        description="The customer's external id, from {objectId} (the contact) and {portalId}",
    )
    lifecyclestage: dict[str, str | None] = Field(
        default_factory=lambda: dict[str, str | None](HUBSPOT_LIFECYCLE_EVENTS),
        description="lifecyclestage value (also custom numeric stage ids) -> journey event "
        "type; merged into the defaults, null ignores a value",
    )
    profile: dict[str, str] = Field(
        default_factory=lambda: dict(HUBSPOT_PROFILE_PROPERTIES),
        description="contact property -> customer profile field, applied as a profile update",
    )

    @field_validator("customer_id")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        try:
            value.format_map({name: 1 for name in HUBSPOT_ID_FIELDS})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"'{value}' may only use {', '.join('{' + f + '}' for f in HUBSPOT_ID_FIELDS)}"
                f" ({type(exc).__name__}: {exc})"
            ) from None
        return value

    @field_validator("lifecyclestage", mode="before")
    @classmethod
    def _merge_stages(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        # YAML reads a custom stage id such as 1234567 as a number; HubSpot sends a string.
        merged: dict[str, Any] = {
            **HUBSPOT_LIFECYCLE_EVENTS,
            **{str(k): v for k, v in value.items()},
        }
        bad = [
            f"{stage}: '{event}'"
            for stage, event in merged.items()
            if event is not None
            and not (isinstance(event, str) and re.fullmatch(EVENT_PATTERN, event))
        ]
        if bad:
            raise ValueError(
                f"not an event type ({'; '.join(bad)}): dotted lower_snake_case words, "
                "e.g. crm.lifecycle.trial, or null to ignore the stage"
            )
        return merged

    @field_validator("profile")
    @classmethod
    def _profile_fields(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(
            f"{prop}: '{field}'" for prop, field in value.items() if field not in PROFILE_FIELDS
        )
        if bad:
            raise ValueError(
                f"unknown profile fields ({'; '.join(bad)}); valid: {', '.join(PROFILE_FIELDS)}"
            )
        return value


class TwilioConfig(_Source):
    """Twilio inbound SMS (STOP/START/HELP) and message status callbacks."""

    kind: Literal["twilio"]
    auth_token: SecretStr
    help_text: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "Beispielhandel: help at service@beispielhandel.de. Reply STOP to opt out.",
            "de": "Beispielhandel: Hilfe unter service@beispielhandel.de. STOP zum Abmelden.",
        },
        description="The HELP/INFO reply per locale; the first entry is the fallback",
    )
    # Twilio's Advanced Opt-Out already confirms STOP and START itself; a reply of
    # ours would be a second message, so there is none unless one is configured.
    stop_text: dict[str, str] = Field(
        default_factory=dict, description="A reply to STOP words per locale; none by default"
    )
    # Beyond Twilio's defaults (STOP, START, HELP, …). Add them to the messaging
    # service's Advanced Opt-Out too, so that Twilio blocks the number as well; no
    # German START word by default, as Twilio would go on blocking the number.
    stop_words: list[str] = Field(
        default_factory=lambda: ["STOPP", "ABMELDEN"],
        description="More whole-message words that unsubscribe from SMS (any case)",
    )
    start_words: list[str] = Field(
        default_factory=list, description="More whole-message words that subscribe again"
    )
    help_words: list[str] = Field(
        default_factory=lambda: ["HILFE"], description="More words answered with help_text"
    )
    start_text: dict[str, str] = Field(
        default_factory=dict, description="A reply to START words per locale; none by default"
    )


class SendGridConfig(_Source):
    """SendGrid's Event Webhook, signed with ECDSA (the key from its settings page)."""

    kind: Literal["sendgrid"]
    public_key: SecretStr = Field(description="The verification key, base64 DER")


SourceConfig = Annotated[
    StandardWebhooksConfig | HubSpotConfig | TwilioConfig | SendGridConfig,
    Field(discriminator="kind"),
]


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    public_url: str | None = Field(
        default=None, description="The URL senders call, e.g. https://hooks.example.com"
    )
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    # Sources named in the file but switched off, with the variables they lack.
    disabled: dict[str, list[str]] = Field(default_factory=dict)


def _expand(value: Any, env: Mapping[str, str], missing: list[str]) -> Any:
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = env.get(name) or default
            if found is None:
                missing.append(name)
                return ""
            return found

        return _VAR.sub(repl, value)
    if isinstance(value, list):
        return [_expand(v, env, missing) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, env, missing) for k, v in value.items()}
    return value


def parse_receiver_config(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, origin: str = "webhooks.yaml"
) -> ReceiverConfig:
    env = os.environ if env is None else env
    raw = dict(data)
    sources: dict[str, Any] = {}
    disabled: dict[str, list[str]] = {}
    for name, source in (raw.pop("sources", None) or {}).items():
        if not re.fullmatch(r"[a-z][a-z0-9_.-]*", str(name)):
            raise ReceiverConfigError(
                f"{origin}: sources.{name}: a source name is lowercase letters, digits, _ . -"
            )
        missing: list[str] = []
        expanded = _expand(source, env, missing)
        if missing:
            disabled[name] = sorted(set(missing))
        else:
            sources[name] = expanded
    top_missing: list[str] = []
    expanded_top = _expand(raw, env, top_missing)
    if expanded_top.get("public_url") == "":
        expanded_top["public_url"] = None
    try:
        return ReceiverConfig.model_validate(
            {**expanded_top, "sources": sources, "disabled": disabled}
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ReceiverConfigError(f"{origin}: {problems}") from None


def load_receiver_config(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> ReceiverConfig:
    """The receiver's configuration; without a file, no sources (only the link pages)."""
    env = os.environ if env is None else env
    chosen = path or Path(env.get("JOURNEYFLOW_WEBHOOKS") or webhooks_file())
    if not chosen.exists():
        if path is not None or env.get("JOURNEYFLOW_WEBHOOKS"):
            raise ReceiverConfigError(f"{chosen}: no such file")
        return parse_receiver_config({}, env)
    try:
        data = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReceiverConfigError(f"{chosen}: {exc}") from None
    if not isinstance(data, dict):
        raise ReceiverConfigError(f"{chosen}: expected a mapping with 'sources'")
    return parse_receiver_config(data, env, str(chosen))
