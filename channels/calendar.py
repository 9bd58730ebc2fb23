"""The calendar file (.ics, RFC 5545 and the iTIP methods of RFC 5546) an email carries.

Built at render time from what the store keeps for the action (the event that entered
the stage, the customer), never from the clock: the same action gives the same bytes,
so a retried send is identical. Every mail about one registration has the same UID
(journey, customer, the declared `uid` field), and SEQUENCE grows with the time of the
event behind the mail, so the calendar entry of a moved event is updated in place and a
cancellation (METHOD:CANCEL) removes it. Times are written in UTC: a date without an
offset is read in the customer's time zone first, as `of:` dates are.

Event data is untrusted: a value that is no date, no text, or absurd gives a
`CalendarError` saying which field; text is made one line and cut to a sane length
(the library escapes the rest), so no value can add a line to the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from channels.errors import MessageError
from channels.message import Attachment
from journeys.send_time import read_date
from journeys.templating.context import CompanyContext
from journeys.types import parse_duration

PRODID = "-//journeyflow//calendar 1.0//EN"
FILENAME = "invite.ics"
MAX_TITLE = 250
MAX_LOCATION = 500
# SEQUENCE counts seconds since then: later changes carry higher numbers, in every
# enrollment of the customer, and the integer (32 bits in RFC 5545) lasts until 2068.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


class CalendarError(MessageError):
    """The event's data cannot make a calendar entry (the message says which field)."""


def _text(value: Any, field: str, limit: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CalendarError(f"calendar {field}: expected text, got {type(value).__name__}")
    one_line = _CONTROL.sub(" ", str(value)).strip()
    # Lone surrogates cannot be written as UTF-8; they become '?'.
    one_line = one_line.encode("utf-8", "replace").decode("utf-8")
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _field(event: Mapping[str, Any], path: str) -> Any:
    name = path.partition(".")[2]
    data = event.get("data")
    return data.get(name) if isinstance(data, Mapping) else None


def _date(path: str, event: Mapping[str, Any], zone: ZoneInfo, field: str) -> datetime:
    try:
        found = read_date(path, event, {}, zone)
    except (OverflowError, ValueError) as exc:
        raise CalendarError(f"calendar {field}: {path} cannot be read: {exc}") from None
    if isinstance(found, str):
        raise CalendarError(f"calendar {field}: {found}")
    return found


def _domain(company: CompanyContext) -> str:
    for source in (company["website"], company["support_email"]):
        host = re.sub(r"^[a-z]+://|^[^@]*@", "", (source or "").lower()).split("/")[0]
        if _DOMAIN.match(host):
            return host
    return "journeyflow.local"


def uid_for(journey: str, customer_id: str, value: str, company: CompanyContext) -> str:
    """The entry's UID: the same for every mail about one registration, and naming no
    customer (it travels in the file, which may be forwarded)."""
    digest = hashlib.sha256("\x1f".join((journey, customer_id, value)).encode("utf-8"))
    return f"{digest.hexdigest()[:32]}@{_domain(company)}"


def _stamp(event: Mapping[str, Any], fallback: datetime) -> datetime:
    raw = event.get("occurred_at")
    if isinstance(raw, datetime):
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            moment = fallback
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _times(
    spec: Mapping[str, Any], event: Mapping[str, Any], zone: ZoneInfo
) -> tuple[datetime, datetime] | None:
    if not spec.get("starts_at") or _field(event, str(spec["starts_at"])) in (None, ""):
        return None
    start = _date(str(spec["starts_at"]), event, zone, "starts_at")
    ends_at = spec.get("ends_at")
    if ends_at and _field(event, str(ends_at)) is not None:
        end = _date(str(ends_at), event, zone, "ends_at")
        if end < start:
            raise CalendarError(f"calendar ends_at: {ends_at} is before {spec['starts_at']}")
    else:
        try:
            end = start + parse_duration(str(spec.get("duration") or "1h"))
        except (OverflowError, ValueError) as exc:
            raise CalendarError(f"calendar duration: {exc}") from None
    return start.astimezone(UTC), end.astimezone(UTC)


def calendar_file(
    spec: Mapping[str, Any],
    *,
    event: Mapping[str, Any] | None,
    journey: str,
    customer_id: str,
    attendee: str | None,
    attendee_name: str,
    zone: ZoneInfo,
    subject: str,
    company: CompanyContext,
    fallback_stamp: datetime,
) -> Attachment | None:
    """The .ics for `spec` (an action's `attach.calendar`), as an email attachment; None
    when the event does not name what was registered for or (unless cancelling) when."""
    if not event or not isinstance(event.get("data"), Mapping):
        return None
    method = "CANCEL" if spec.get("method") == "cancel" else "REQUEST"
    uid_value = _field(event, str(spec.get("uid", "")))
    starts = _field(event, str(spec.get("starts_at", "")))
    # A confirmation without its calendar file beats none at all; the validator has
    # already made sure every event entering the stage declares these fields.
    if uid_value in (None, "") or (method == "REQUEST" and starts in (None, "")):
        return None
    stamp = _stamp(event, fallback_stamp)
    entry = icalendar.Event()
    uid_text = _text(uid_value, "uid", 1000)
    entry.add("uid", uid_for(journey, customer_id, uid_text, company))
    entry.add("dtstamp", stamp)
    entry.add("sequence", max(0, int((stamp - _EPOCH).total_seconds())))
    times = _times(spec, event, zone)
    if times is not None:
        entry.add("dtstart", times[0])
        entry.add("dtend", times[1])
    title = _field(event, str(spec["title"])) if spec.get("title") else None
    entry.add("summary", _text(title if title not in (None, "") else subject, "title", MAX_TITLE))
    location = _field(event, str(spec["location"])) if spec.get("location") else None
    if location not in (None, ""):
        entry.add("location", _text(location, "location", MAX_LOCATION))
    entry.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    organizer = icalendar.vCalAddress(f"mailto:{_CONTROL.sub('', company['support_email'])}")
    organizer.params["cn"] = icalendar.vText(_text(company["name"], "organizer", MAX_TITLE))
    entry.add("organizer", organizer)
    if attendee:
        guest = icalendar.vCalAddress(f"mailto:{_CONTROL.sub('', attendee)}")
        if attendee_name:
            guest.params["cn"] = icalendar.vText(_text(attendee_name, "attendee", MAX_TITLE))
        # Registered already: nothing to answer, so clients show no RSVP buttons.
        guest.params["partstat"] = "ACCEPTED"
        guest.params["rsvp"] = "FALSE"
        entry.add("attendee", guest)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(entry)
    return Attachment(
        filename=FILENAME,
        content_type=f"text/calendar; method={method}; charset=UTF-8",
        content=calendar.to_ical(),
    )
