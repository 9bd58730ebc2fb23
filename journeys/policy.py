"""May this message go to this customer now? Consent, quiet hours and frequency caps.

Pure like the stage engine: no database, no clock of its own; given the facts and
`now`, it decides. Datetimes are time zone-aware; what it returns is in UTC.

The rules, in the order they are applied:

1. Consent (email and SMS; a webhook reaches a system, not a person, and needs none).
   - A `suppressed` address (hard bounce, spam complaint) gets nothing, not even a
     transactional message: sending would hurt the sender's reputation.
   - A marketing message needs `subscribed`. No consent, `pending` (double opt-in not
     confirmed) or `unsubscribed` is a Skip: a message cannot wait for a consent that
     may never come.
   - A transactional message (`marketing: false`, e.g. an order confirmation) needs no
     marketing consent, except by SMS: after a STOP reply (`unsubscribed` on SMS) the
     carriers refuse every message to the number, so none is sent.
2. Quiet hours apply to marketing email and SMS only; a transactional message goes
   out at once, as the customer is waiting for it, and a webhook wakes nobody. The
   window is read on the wall clock of the customer's own time zone, else the
   journey's `settings.timezone` (also when the customer's zone is unknown to tzdata).
   It is half-open, [start, end), may wrap past midnight, and is empty when start
   equals end. Inside it, the message is deferred to the first instant outside it,
   exact across DST changes: an end that falls into a skipped hour means the moment
   the clocks jump; on a day that repeats an hour, a wall-clock time inside the
   window is quiet both times, and clocks set back to a time before the window
   leave it at that instant.
3. Frequency caps (`settings.frequency_cap`, COUNT per WINDOW and channel) bind per
   customer across all journeys, not per journey: `recent_sends` are the customer's
   sends on that channel from any journey. They limit marketing email and SMS, and
   every webhook; transactional messages are neither limited nor counted (the caller
   leaves them out of `recent_sends`). A send counts while it is less than WINDOW
   old, so it leaves the window exactly WINDOW after it was made. At the cap, the
   message is deferred until enough sends have left the window, and from there on
   past any quiet hours.

Consent comes first, so a Skip is only ever about consent; the temporal rules only
defer. A caller deciding several messages of one customer in one batch adds each
allowed send to `recent_sends` before deciding the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import JourneyflowError, did_you_mean
from .model import Settings

CHANNELS = ("email", "sms", "webhook")
CONSENT_STATUSES = ("pending", "subscribed", "unsubscribed", "suppressed")

SkipReason = Literal["no consent", "unsubscribed", "suppressed"]
DeferReason = Literal["quiet hours", "frequency cap"]
QuietWindow = tuple[time, time]
Cap = tuple[int, timedelta]


class PolicyError(JourneyflowError, ValueError):
    """The policy was asked about something it does not know (a channel, a status)."""


@dataclass(frozen=True, slots=True)
class Allow:
    """Send now."""


@dataclass(frozen=True, slots=True)
class Defer:
    """Not now: try again at `until` (UTC), when the rule named by `reason` allows it."""

    until: datetime
    reason: DeferReason


@dataclass(frozen=True, slots=True)
class Skip:
    """Never: the customer's consent forbids this message."""

    reason: SkipReason


Decision = Allow | Defer | Skip
ALLOW = Allow()


def decide_send(
    *,
    channel: str,
    marketing: bool,
    consent: str | None,
    customer_tz: str | None,
    settings: Settings,
    now: datetime,
    recent_sends: Sequence[datetime],
) -> Decision:
    """Allow, Defer or Skip one message; the rules are in the module's docstring.

    `consent` is the customer's status on `channel` (None: no record); `recent_sends`
    are the customer's counted sends on `channel` (see `store.people.consent.recent_sends`).
    """
    now = _utc(now, "now")
    skip = consent_check(channel, marketing, consent)
    if skip is not None:
        return skip
    after_cap, until = _release(channel, marketing, customer_tz, settings, now, recent_sends)
    if until == now:
        return ALLOW
    return Defer(until, "frequency cap" if after_cap > now else "quiet hours")


def consent_check(channel: str, marketing: bool, consent: str | None) -> Skip | None:
    """The Skip consent demands, or None when consent allows the message."""
    if channel not in CHANNELS:
        raise PolicyError(f"unknown channel '{channel}'{did_you_mean(channel, CHANNELS)}")
    if consent is not None and consent not in CONSENT_STATUSES:
        raise PolicyError(
            f"unknown consent status '{consent}' for channel '{channel}'"
            f"{did_you_mean(consent, CONSENT_STATUSES)}"
        )
    if channel == "webhook":
        return None
    if consent == "suppressed":
        return Skip("suppressed")
    if channel == "sms" and consent == "unsubscribed":
        return Skip("unsubscribed")
    if marketing and consent != "subscribed":
        return Skip("unsubscribed" if consent == "unsubscribed" else "no consent")
    return None


def next_allowed(
    *,
    channel: str,
    marketing: bool,
    customer_tz: str | None,
    settings: Settings,
    now: datetime,
    recent_sends: Sequence[datetime],
) -> datetime:
    """The earliest instant from `now` on at which cap and quiet hours allow a send
    (consent aside); `now` itself when they allow it at once."""
    return _release(channel, marketing, customer_tz, settings, _utc(now, "now"), recent_sends)[1]


def _release(
    channel: str,
    marketing: bool,
    customer_tz: str | None,
    settings: Settings,
    now: datetime,
    sends: Sequence[datetime],
) -> tuple[datetime, datetime]:
    """(when the cap allows, when cap and quiet hours allow)."""
    cap = cap_for(channel, marketing, settings)
    after_cap = cap_release(now, cap, sends) if cap else now
    if not (marketing and channel != "webhook" and settings.quiet_hours):
        return after_cap, after_cap
    # Quiet hours after the cap is safe: the count of sends in the window only falls
    # as time passes, so the cap still allows the later instant.
    zone = customer_zone(customer_tz, settings)
    return after_cap, quiet_hours_end(after_cap, settings.quiet_hours, zone)


def cap_for(channel: str, marketing: bool, settings: Settings) -> Cap | None:
    """The cap that limits this message, if any (transactional messages have none)."""
    if channel != "webhook" and not marketing:
        return None
    return next((cap for name, cap in settings.frequency_cap.items() if name == channel), None)


def cap_release(moment: datetime, cap: Cap, sends: Iterable[datetime]) -> datetime:
    """The first instant from `moment` on at which fewer than COUNT sends count.

    A send counts while it is less than the window old (one stamped after `moment`, by
    a clock running ahead, counts too)."""
    count, window = cap
    floor = _utc(moment, "moment") - window
    # In UTC before comparing: Python compares two times of one zone on the wall clock,
    # so the hour a clock is set back repeats, and 01:00 EST sorted before 01:00:01 EDT.
    counted = sorted(u for u in (_utc(s, "recent_sends") for s in sends) if u > floor)
    excess = len(counted) - count + 1
    if excess <= 0:
        return moment
    # Once the excess-th oldest counted send has left the window, count - 1 remain.
    return counted[excess - 1] + window


def customer_zone(customer_tz: str | None, settings: Settings) -> ZoneInfo:
    """The customer's own zone, else the journey's (also for a name tzdata lacks)."""
    zone = _zone(customer_tz) if customer_tz else None
    zone = zone or _zone(settings.timezone)
    if zone is None:
        raise PolicyError(
            f"unknown time zone '{settings.timezone}' in settings.timezone; "
            "use an IANA name such as 'Europe/Berlin'"
        )
    return zone


def in_quiet_hours(moment: datetime, window: QuietWindow | None, zone: tzinfo) -> bool:
    """Whether `moment` falls inside the window on the wall clock of `zone`."""
    if window is None or window[0] == window[1]:
        return False
    start, end = window
    clock = moment.astimezone(zone).time()
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # wraps past midnight


def quiet_hours_end(moment: datetime, window: QuietWindow | None, zone: tzinfo) -> datetime:
    """The first instant from `moment` on outside the window (`moment` if outside)."""
    moment = _utc(moment, "moment")
    if window is None or not in_quiet_hours(moment, window, zone):
        return moment
    # The wall clock leaves the window either by reaching `end` or by jumping at a DST
    # change, so the earliest of these instants that lies outside it is the answer.
    day = moment.astimezone(zone).date()
    candidates: list[datetime] = []
    for offset in range(-1, 3):
        candidates += _instants_of(day + timedelta(days=offset), window[1], zone)
    ends = [c for c in candidates if c > moment and not in_quiet_hours(c, window, zone)]
    # A clock set back can leave the window before its end: 01:15-02:00 is left at
    # 02:00 summer time, when the clock reads 01:00 again.
    until = min(ends) if ends else moment + timedelta(days=3)
    jumps = [j for j in _jumps(moment, until, zone) if not in_quiet_hours(j, window, zone)]
    later = ends + jumps
    if not later:
        raise PolicyError(f"quiet hours {window[0]:%H:%M}-{window[1]:%H:%M} never end in {zone}")
    return min(later)


def _jumps(start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
    """The instants in (start, end] at which the zone's UTC offset changes (DST)."""
    found = []
    hour, second = timedelta(hours=1), timedelta(seconds=1)
    lo = start
    while lo < end:
        hi = min(lo + hour, end)  # offsets change hours apart, never twice in an hour
        before = lo.astimezone(zone).utcoffset()
        if hi.astimezone(zone).utcoffset() != before:
            # Offsets change on whole seconds: bisect over the whole seconds up to `hi`.
            a, b = 0, int((hi - lo) // second) + 1
            top = hi.replace(microsecond=0) + second if hi.microsecond else hi
            while b - a > 1:  # the change lies within (top - b, top - a] seconds
                mid = (a + b) // 2
                if (top - mid * second).astimezone(zone).utcoffset() == before:
                    b = mid
                else:
                    a = mid
            found.append(top - a * second)
        lo = hi
    return found


def _instants_of(day: date, clock: time, zone: tzinfo) -> list[datetime]:
    """The UTC instants whose wall time in `zone` is `clock` on `day`; for a wall time the
    clocks skip, the instant of the jump (the first one past it)."""
    fold0 = datetime.combine(day, clock, zone).astimezone(UTC)
    fold1 = datetime.combine(day, clock, zone).replace(fold=1).astimezone(UTC)
    if fold0.astimezone(zone).time() == clock:
        return [fold0, fold1]  # one instant, or two on a day that repeats an hour
    # Skipped: fold=1 reads it with the offset after the jump (an instant before the
    # jump), fold=0 with the one before (an instant after it): bisect to the jump.
    lo, hi = min(fold0, fold1), max(fold0, fold1)
    after = hi.astimezone(zone).utcoffset()
    if lo.astimezone(zone).utcoffset() == after:
        return [hi]
    second = timedelta(seconds=1)
    while hi - lo > second:
        mid = lo + ((hi - lo) // second // 2) * second
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return [hi]


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PolicyError(f"naive datetime for '{name}' ({value.isoformat()}): pass UTC-aware")
    return value if value.tzinfo is UTC else value.astimezone(UTC)
