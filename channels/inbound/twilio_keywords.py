"""What a Twilio request means: SMS keywords, message statuses and error codes.

Keywords follow Twilio's Advanced Opt-Out defaults: the whole message is the keyword
(trimmed, any case), so "stop please" is an ordinary text, as it is for Twilio and the
carriers. Statuses map onto the provider reports of `journeys.store.feedback.message_events`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

Keyword = Literal["opt_out", "opt_in", "help"]

OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

# The inbox event type of an inbound message, by its keyword (None: an ordinary text).
EVENT_TYPES: dict[Keyword | None, str] = {
    "opt_out": "sms.opted_out",
    "opt_in": "sms.opted_in",
    "help": "sms.help",
    None: "sms.received",
}

# The consent an opt-out or opt-in keyword sets on SMS.
KEYWORD_CONSENT: dict[Keyword, str] = {"opt_out": "unsubscribed", "opt_in": "subscribed"}

# Twilio's MessageStatus -> the message report it makes (None: recorded, no report).
# "sending" is still inside Twilio, so it counts as queued; "canceled" never left, as a
# dropped mail; "read" (WhatsApp, RCS) is what an open is for an email.
STATUS_EVENTS: dict[str, str | None] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "dropped",
    "read": "open",
    "partially_delivered": None,
    "receiving": None,
    "received": None,
}

# Error codes of a status callback that change the number's SMS consent. 21610: the
# recipient replied STOP (Twilio blocks the number until START). 30005 (unknown
# handset, the number no longer exists) and 30006 (landline or unreachable carrier)
# are permanent: the number is suppressed, so no journey keeps paying for failures.
# 30003 (handset off) and 30007 (carrier filtering) are temporary and change nothing.
ERROR_CONSENT: dict[str, str] = {
    "21610": "unsubscribed",
    "30005": "suppressed",
    "30006": "suppressed",
}


class Keywords:
    """Twilio's default keywords and the configured extra ones (German forms, say)."""

    def __init__(
        self, stop: Iterable[str] = (), start: Iterable[str] = (), help: Iterable[str] = ()
    ) -> None:
        self.words: dict[str, Keyword] = {}
        for kind, defaults, extra in (
            ("opt_out", OPT_OUT_WORDS, stop),
            ("opt_in", OPT_IN_WORDS, start),
            ("help", HELP_WORDS, help),
        ):
            for word in (*defaults, *extra):
                self.words[word.strip().upper()] = cast(Keyword, kind)

    def __call__(self, body: str) -> Keyword | None:
        """The keyword a message is, if the whole message (trimmed, any case) is one."""
        return self.words.get(body.strip().upper())


def localized(texts: dict[str, str], locale: str | None) -> str | None:
    """The text for `locale` ('de-AT' falls back to 'de'), else the first entry."""
    if not texts:
        return None
    if locale:
        wanted = locale.replace("_", "-").lower()
        lowered = {key.lower(): text for key, text in texts.items()}
        for candidate in (wanted, wanted.split("-")[0]):
            if candidate in lowered:
                return lowered[candidate]
    return next(iter(texts.values()))
