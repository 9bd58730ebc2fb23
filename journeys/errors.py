"""journeyflow's own error hierarchy.

Every message names the offending key and, where there is a closed set of valid
values, lists them, so that a marketer can fix a journey without reading code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class JourneyflowError(Exception):
    """Base class of every error journeyflow raises on purpose."""


def did_you_mean(value: str, valid: Iterable[str]) -> str:
    """Return "; valid are: a, b, c" with the closest match first, for messages."""
    import difflib

    choices = sorted(set(valid))
    if not choices:
        return ""
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{hint}; valid are: {', '.join(choices)}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a journey definition, located in its source file."""

    message: str
    file: str = "<string>"
    line: int | None = None
    column: int | None = None
    path: tuple[str | int, ...] = ()
    severity: str = "error"

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path) if self.path else "(journey)"

    @property
    def location(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def __str__(self) -> str:
        return f"{self.location}: {self.field}: {self.message}"


@dataclass
class JourneyError(JourneyflowError):
    """A journey definition (or several) is invalid; carries every problem found."""

    problems: Sequence[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def __str__(self) -> str:
        n = len(self.errors)
        head = f"{n} problem{'s' if n != 1 else ''} in journey definition"
        return head + "".join(f"\n  {p}" for p in self.problems)


class ConditionSyntaxError(JourneyflowError):
    """A `where:`/`when:` expression does not parse; names the position."""

    def __init__(self, expression: str, position: int, message: str) -> None:
        self.expression = expression
        self.position = position
        self.reason = message
        # Around the position only: the expression may be as long as the file allows.
        start = max(0, position - _SHOWN // 2)
        shown = expression[start : start + _SHOWN]
        before, after = ("…" if start else ""), ("…" if start + _SHOWN < len(expression) else "")
        pointer = " " * (len(before) + position - start) + "^"
        super().__init__(
            f"{message} at position {position}\n    {before}{shown}{after}\n    {pointer}"
        )


_SHOWN = 100  # characters of a condition shown around an error


class UnknownJourneyError(JourneyflowError, KeyError):
    def __init__(self, key: str, valid: Iterable[str]) -> None:
        self.key = key
        super().__init__(f"unknown journey '{key}'{did_you_mean(key, valid)}")

    def __str__(self) -> str:
        return str(self.args[0])


class StoreError(JourneyflowError):
    """The state store refused an operation (e.g. a changed definition kept its version)."""
