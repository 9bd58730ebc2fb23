"""The production send policy: `journeys.policy.decide_send` over what the store knows.

Consent and recent sends are read once per claimed batch (two queries), never per
customer. A message allowed earlier in the same batch counts against the customer's
frequency cap for the later ones, so a batch cannot overshoot a cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import Connection

from journeys.model import Journey, Settings
from journeys.policy import ALLOW, Allow, Decision, Defer, customer_zone, decide_send
from journeys.send_time import next_slot
from journeys.store.outbox.claimed import ClaimedAction
from journeys.store.people.consent import consents_for, recent_sends
from journeys.types import WEEKDAYS

CONSENT_CHANNELS = ("email", "sms")
# A send window: (local time of day or None, weekdays 0 = Monday or None).
Slot = tuple[time | None, set[int] | None]
JourneyOf = Callable[[str, int], Journey | None]


class SendRules:
    """Consent, quiet hours in the customer's time zone, and frequency caps."""

    def __init__(self) -> None:
        self._settings: dict[int, Settings] = {}
        # Actions with a send window (`at`, `on`): a deferral lands in the window too.
        self._slots: dict[int, Slot] = {}
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
        self._slots = {}
        windows: dict[str, timedelta] = {}
        for action in actions:
            journey = journey_of(action.journey, action.version)
            if journey is None:
                continue  # the dispatcher fails such an action before asking the policy
            self._settings[action.id] = journey.settings
            slot = _send_window(journey, action)
            if slot is not None:
                self._slots[action.id] = slot
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
        slot = self._slots.get(action.id)
        if isinstance(decision, Defer) and slot is not None:
            zone = customer_zone(action.customer.timezone, settings)
            until = next_slot(decision.until, slot[0], slot[1], zone)
            decision = Defer(until, decision.reason)
        return decision


def _send_window(
    journey: Journey, action: ClaimedAction
) -> tuple[time | None, set[int] | None] | None:
    """The send window of the action's definition, None without one."""
    stage = journey.stage_map.get(action.stage)
    found = (
        next((a for a in stage.on_enter if a.action_key == action.action_key), None)
        if stage
        else None
    )
    if found is None or (found.at is None and found.on is None):
        return None
    days = {WEEKDAYS.index(d) for d in found.on} if found.on else None
    return found.at, days
