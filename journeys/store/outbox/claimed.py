"""What the outbox hands out and takes back: claimed actions and their outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

# Sends (and retries without a send) before an action that keeps failing gives up.
DEFAULT_MAX_ATTEMPTS = 5
# Why a holdout variant's action is skipped (after the send rules allowed it): the A/B
# results count these as the control group's recipients.
HOLDOUT = "holdout"

OutcomeStatus = Literal["sent", "failed", "unknown", "skipped", "deferred", "retry"]
OUTCOME_STATUSES: tuple[OutcomeStatus, ...] = (
    "sent",
    "failed",
    "unknown",
    "skipped",
    "deferred",
    "retry",
)


@dataclass(frozen=True, slots=True)
class ClaimedCustomer:
    id: int
    external_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    locale: str | None
    timezone: str | None
    country: str | None
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClaimedPromo:
    code: str
    discount: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedAction:
    """A claimed action with everything needed to render and send it."""

    id: int
    claim: str  # the claim id every later write of this action must name
    idempotency_key: str
    journey: str
    version: int
    enrollment_id: int
    stage: str
    stage_entry: int
    action_key: str
    kind: str
    template: str | None
    variant: str | None
    params: Mapping[str, Any]
    due_at: datetime
    attempts: int  # sends started before this claim (and retries without a send)
    lease_expires_at: datetime
    customer: ClaimedCustomer
    promo: ClaimedPromo | None = None
    # The event that caused the stage entry ({type, occurred_at, data}); after a wait
    # (after, no_event_for) the one behind the entry waited in; None after other timers.
    event: Mapping[str, Any] | None = None

    @property
    def marketing(self) -> bool:
        return bool(self.params.get("marketing", True))


class AddressConsent(NamedTuple):
    """A provider's refusal that changes what an address may receive."""

    channel: str  # email, sms
    address: str  # as sent: the email address, the E.164 number
    status: str  # unsubscribed (the recipient opted out), suppressed (unusable)
    source: str  # e.g. "twilio refusal 21610", the proof kept in the consent history


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What became of one claimed action; `due_at` for `deferred` and `retry`."""

    action_id: int
    claim: str
    status: OutcomeStatus
    reason: str | None = None
    provider_message_id: str | None = None
    due_at: datetime | None = None
    # A refusal that means the address must not be used again: (channel, address, new
    # consent status), applied in the transaction that records the outcome.
    consent: AddressConsent | None = None

    @classmethod
    def of(cls, action: ClaimedAction, status: OutcomeStatus, **details: Any) -> ActionOutcome:
        return cls(action.id, action.claim, status, **details)

    def __post_init__(self) -> None:
        if self.status not in OUTCOME_STATUSES:
            raise ValueError(f"unknown outcome '{self.status}'; valid are {OUTCOME_STATUSES}")
        if self.status in ("deferred", "retry") and self.due_at is None:
            raise ValueError(f"a '{self.status}' outcome needs the new due_at")


@dataclass
class Recovered:
    """Expired leases the next claim found, by what became of them."""

    pending: int = 0  # no request had left: due again
    unknown: int = 0  # a request may have left: never resent automatically
    quarantined: int = 0  # crashed its dispatchers alone again and again: held back


@dataclass
class Recorded:
    """Outcomes written, and those refused because the claim no longer held the action."""

    written: dict[str, int] = field(default_factory=dict)
    stale: list[int] = field(default_factory=list)


class OutboxCount(NamedTuple):
    journey: str
    kind: str
    status: str
    actions: int
