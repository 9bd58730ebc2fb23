"""Plain words for the journey map: events, delays and conditions as a marketer reads them.

The map shows `rating >= 4` as "rating ≥ 4" and `stage in [null, 'awareness']` as "new,
or from Awareness": the condition's own tokens, each put in words of the journey's
language (German or English; others read English), never a second parser of the
language. The technical view (`journeyflow graph --technical`) shows the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from babel.units import format_unit

from ._condition_lexer import Token, tokenize
from .errors import ConditionSyntaxError

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "and": "and",
        "or": "or",
        "not": "not",
        "in": "is one of",
        "not in": "is none of",
        "==": "is",
        "!=": "is not",
        "none": "none",
        "yes": "yes",
        "no": "no",
        "stage": "stage",
        "new": "new customers",
        "new_or": "new, or from {stages}",
        "after": "after {span}",
        "silent": "no activity for {span}",
        "then": "then",
        "any": "any stage",
        "start": "start",
        "end": "end",
        "goal": "goal",
        "exit": "exit",
        "if": "if",
        "test": "A/B test",
        "holdout": "holdout",
        "code": "code {discount}",
        "set": "set {names}",
        "move": "move to {stage}",
        "from_any": "from any stage",
        "now": "{n} now",
        "entered": "{n} entered",
        "moved": "{n} moved",
        "legend": "Legend",
        "before_of": "{span} before {date}",
        "at_of": "at {date}",
        "after_of": "{span} after {date}",
        "at_clock": "at {clock}",
        "yearly": "every year on {date}, {clock}",
        "schedule": "on schedule ({cron})",
        "segment": "as soon as {condition}",
        "clock_now": "now",
        "on_days": "on {days}",
    },
    "de": {
        "and": "und",
        "or": "oder",
        "not": "nicht",
        "in": "ist eins von",
        "not in": "ist keins von",
        "==": "ist",
        "!=": "ist nicht",
        "none": "keine",
        "yes": "ja",
        "no": "nein",
        "stage": "Phase",
        "new": "Neukunden",
        "new_or": "neu oder aus {stages}",
        "after": "nach {span}",
        "silent": "{span} ohne Aktivität",
        "then": "dann",
        "any": "jede Phase",
        "start": "Start",
        "end": "Ende",
        "goal": "Ziel",
        "exit": "Ausstieg",
        "if": "wenn",
        "test": "A/B-Test",
        "holdout": "Kontrollgruppe",
        "code": "Code {discount}",
        "set": "setzt {names}",
        "move": "weiter zu {stage}",
        "from_any": "aus jeder Phase",
        "now": "{n} jetzt",
        "entered": "{n} eingetreten",
        "moved": "{n} weiter",
        "legend": "Legende",
        "before_of": "{span} vor {date}",
        "at_of": "zu {date}",
        "after_of": "{span} nach {date}",
        "at_clock": "um {clock}",
        "yearly": "jährlich am {date}, {clock} Uhr",
        "schedule": "nach Zeitplan ({cron})",
        "segment": "sobald {condition}",
        "clock_now": "jetzt",
        "on_days": "am {days}",
    },
}
_UNITS = (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))
_SYMBOLS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


class Words:
    """The map's words in one language; `stage_titles` name stages for conditions."""

    def __init__(
        self,
        locale: str,
        stage_titles: Mapping[str, str] | None = None,
        events: Mapping[str, str] | None = None,
    ) -> None:
        self.language = locale.split("-")[0].lower()
        self._words = _WORDS.get(self.language, _WORDS["en"])
        self._babel_locale = self.language if self.language in _WORDS else "en"
        self.stage_titles = dict(stage_titles or {})
        self.events = dict(events or {})  # the tracking plan's descriptions, by type

    def __getitem__(self, key: str) -> str:
        return self._words[key]

    def say(self, key: str, **values: Any) -> str:
        return self._words[key].format(**values)

    def span(self, value: timedelta) -> str:
        """'1 day', '30 Tage', '2 weeks': the largest whole unit, in Babel's words."""
        seconds = int(value.total_seconds())
        for unit, size in _UNITS:
            if seconds % size == 0 and seconds >= size:
                count = seconds // size
                return format_unit(
                    count, f"duration-{unit}", length="long", locale=self._babel_locale
                )
        return format_unit(seconds, "duration-second", length="long", locale=self._babel_locale)

    def after(self, value: timedelta) -> str:
        """'after 3 days', 'nach 3 Tagen' (German takes the dative here)."""
        span = self.span(value)
        if self.language == "de" and span.endswith(" Tage"):
            span += "n"
        return self.say("after", span=span)

    def event(self, event_type: str) -> str:
        """The tracking plan's description of the type ('Bestellung abgeschlossen'), else
        the type's own words without code: `order.completed` → 'order completed'."""
        if event_type in self.events:
            return self.events[event_type]
        return " ".join(part.replace("_", " ") for part in event_type.split("."))

    def condition(self, source: str) -> str:
        """A condition in words; its source where it does not tokenize (never raises)."""
        try:
            tokens = [t for t in tokenize(source) if t.kind != "end"]
        except ConditionSyntaxError:
            return source
        special = self._about_stage(tokens)
        if special is not None:
            return special
        out: list[str] = []
        path: list[str] = []
        path_is_stage = False
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.kind == "name":
                path.append(token.text)
            elif token.kind == "punct" and token.text == "." and path:
                pass
            else:
                if path:
                    path_is_stage = path == ["stage"]
                    out.append(self._path(path))
                    path = []
                if token.kind == "word" and token.text == "not" and _next_is(tokens, i, "in"):
                    out.append(self._words["not in"])
                    i += 1
                else:
                    out.append(self._token(token, path_is_stage))
            i += 1
        if path:
            out.append(self._path(path))
        text = " ".join(out)
        for opening in ("( ", "[ "):
            text = text.replace(opening, opening[0])
        for closing in (" )", " ]", " ,"):
            text = text.replace(closing, closing[1])
        return text

    def _about_stage(self, tokens: list[Token]) -> str | None:
        # `stage == null` and `stage in [null, 'a', …]` are how a journey says "new
        # customers (or from …)": said as such.
        texts = [t.text for t in tokens]
        if texts == ["stage", "==", "null"]:
            return self._words["new"]
        if texts[:4] == ["stage", "in", "[", "null"] and texts[-1] == "]":
            names = [t.value for t in tokens[4:-1] if t.kind == "value" and t.value is not None]
            if names and all(isinstance(n, str) for n in names):
                stages = ", ".join(self.stage_titles.get(n, n) for n in names)
                return self.say("new_or", stages=stages)
        return None

    def _path(self, path: list[str]) -> str:
        if path == ["stage"]:
            return self._words["stage"]
        if path == ["now"]:
            return self._words["clock_now"]
        if path[0] in ("customer", "event") and len(path) > 1:
            path = path[1:]
        return " ".join(part.replace("_", " ") for part in path)

    def _token(self, token: Token, about_stage: bool) -> str:
        if token.kind == "value":
            value = token.value
            if value is None:
                return self._words["none"]
            if value is True or value is False:
                return self._words["yes" if value else "no"]
            if isinstance(value, timedelta):
                return self.span(value)
            if isinstance(value, str):
                shown = self.stage_titles.get(value, value) if about_stage else value
                return f"‘{shown}’"
            return str(value)
        if token.kind == "op":
            return _SYMBOLS.get(token.text) or self._words[token.text]
        if token.kind == "word":
            return self._words[token.text]
        return token.text


def _next_is(tokens: list[Token], i: int, text: str) -> bool:
    return i + 1 < len(tokens) and tokens[i + 1].text == text
