"""Reading an events file: one JSON event per line, as the signed webhooks send them.

    {"external_id": "o-1001", "type": "order.completed", "customer_id": "c-42",
     "occurred_at": "2026-03-01T10:15:00Z", "source": "shop", "data": {"total": 99.5},
     "customer": {"email": "anna@example.com", "locale": "de"}}

A bad line (not UTF-8, not JSON, an invalid field) is reported with its line number and
the field; the reader stops there or, with `on_error="skip"`, collects it and goes on.
The file is streamed line by line: memory stays flat in its size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from channels.inbound.errors import BadRequest
from channels.inbound.json_body import load_json
from journeys.errors import JourneyflowError
from journeys.store import IncomingEvent

OnError = Literal["stop", "skip"]
MAX_LINE_BYTES = 1_000_000


class EventsFileError(JourneyflowError):
    """A line of an events file that is not an event; the message names file, line, field."""


@dataclass
class BadLines:
    """The lines skipped, with why (the first few kept in full)."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(reason)


def _event(raw: bytes, where: str) -> IncomingEvent:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventsFileError(f"{where}: not UTF-8 (byte {exc.start + 1} of the line)") from None
    try:
        # The receiver's reader: what a signed webhook may not carry (NaN, 1e400, a number
        # of thousands of digits, deep nesting, NUL, a lone surrogate), a file may not either;
        # the store would refuse it later, with a traceback instead of the line.
        payload = load_json(raw.rstrip(b"\r\n"))
    except BadRequest as exc:
        raise EventsFileError(f"{where}: {exc.reason.removeprefix('the body is ')}") from None
    if not isinstance(payload, dict):
        raise EventsFileError(f"{where}: expected an event object, got {type(payload).__name__}")
    try:
        return IncomingEvent.model_validate(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise EventsFileError(f"{where}: {'; '.join(problems[:3])}") from None


def read_events_file(
    path: Path, *, on_error: OnError = "stop", bad: BadLines | None = None
) -> Iterator[IncomingEvent]:
    """The events of `path`, in file order; see the module docstring for bad lines."""
    bad = bad if bad is not None else BadLines()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise EventsFileError(f"{path}: cannot read the events file: {exc.strerror}") from None
    with handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                    raw = handle.readline(MAX_LINE_BYTES + 1)
                error = EventsFileError(f"{where}: a line over {MAX_LINE_BYTES:,} bytes")
            elif not raw.strip():
                continue
            else:
                try:
                    yield _event(raw, where)
                    continue
                except EventsFileError as exc:
                    error = exc
            if on_error == "stop":
                raise error
            bad.add(str(error))
