"""The production send policy: `journeys.policy.decide_send` over what the store knows.

Consent and recent sends are read once per claimed batch (two queries), never per
customer. A message allowed earlier in the same batch counts against the customer's
frequency cap for the later ones, so a batch cannot overshoot a cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from journeys.model import Journey, Settings
from journeys.policy import ALLOW, Allow, Decision, decide_send
from journeys.store.outbox_types import ClaimedAction
from journeys.store.policy_inputs import consents_for, recent_sends

CONSENT_CHANNELS = ("email", "sms")
JourneyOf = Callable[[str, int], Journey | None]


class SendRules:
    """Consent, quiet hours in the customer's time zone, and frequency caps."""

    def __init__(self) -> None:
        self._settings: dict[int, Settings] = {}
        self._consent: dict[tuple[int, str], str] = {}
        self._sends: dict[tuple[int, str], list[datetime]] = {}

    def load(
        self,
        conn: Connection,
        actions: Sequence[ClaimedAction],
        journey_of: JourneyOf,
        now: datetime,
    ) -> None:
        self._settings = {}
        windows: dict[str, timedelta] = {}
        for action in actions:
            journey = journey_of(action.journey, action.version)
            if journey is None:
                continue  # the dispatcher fails such an action before asking the policy
            self._settings[action.id] = journey.settings
            cap = journey.settings.frequency_cap.get(action.kind)  # type: ignore[call-overload]
            if cap is not None:
                windows[action.kind] = max(windows.get(action.kind, timedelta(0)), cap[1])
        customers = {a.customer.id for a in actions}
        self._consent = consents_for(conn, customers, CONSENT_CHANNELS)
        self._sends = recent_sends(conn, customers, windows, now) if windows else {}

    def __call__(self, action: ClaimedAction, now: datetime) -> Decision:
        settings = self._settings.get(action.id)
        if settings is None:
            return ALLOW
        key = (action.customer.id, action.kind)
        decision = decide_send(
            channel=action.kind,
            marketing=action.marketing,
            consent=self._consent.get(key),
            customer_tz=action.customer.timezone,
            settings=settings,
            now=now,
            recent_sends=self._sends.get(key, ()),
        )
        if isinstance(decision, Allow) and action.marketing:
            self._sends.setdefault(key, []).append(now)
        return decision
