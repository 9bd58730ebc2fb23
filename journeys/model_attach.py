"""What an email may carry besides its text: a calendar file built from the event's data.

The attachment is declared on the action, not written in the template, so the validator
can check each field it reads against the tracking plan (a date where a date is needed,
a field every event entering the stage carries) before anything is sent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .types import Duration

EventField = Annotated[
    str,
    Field(
        pattern=r"^event\.[a-z][a-z0-9_]*$",
        max_length=80,
        description="event.<field> of the event that entered the stage",
    ),
]


class CalendarFile(BaseModel):
    """An iCalendar file (.ics, RFC 5545) with one event, read from the data of the event
    that entered the stage. Its UID is the same for every mail about one registration
    (journey, customer and `uid`), so a mail about a change updates the entry in the
    customer's calendar instead of adding one, and `method: cancel` removes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uid: EventField = Field(
        description="The field that names what the customer registered for (event.event_id): "
        "with the journey and the customer, it makes the calendar entry's UID."
    )
    method: Literal["request", "cancel"] = Field(
        default="request",
        description="request: add or update the entry; cancel: remove it (METHOD:CANCEL).",
    )
    starts_at: EventField | None = Field(
        default=None,
        description="The start (ISO 8601); without an offset it is read in the customer's "
        "time zone. Required unless the method is cancel.",
    )
    ends_at: EventField | None = Field(
        default=None, description="The end (ISO 8601); default: `duration` after the start."
    )
    duration: Duration = Field(
        default="1h",
        validate_default=True,
        description="How long the event lasts when `ends_at` is not given or not in the data.",
    )
    title: EventField | None = Field(
        default=None, description="The entry's title (SUMMARY); default: the email's subject."
    )
    location: EventField | None = Field(
        default=None, description="The venue or online link (LOCATION), when the data has it."
    )

    @model_validator(mode="after")
    def _start_for_request(self) -> CalendarFile:
        if self.method == "request" and self.starts_at is None:
            raise ValueError("a calendar entry needs 'starts_at' (e.g. event.starts_at)")
        return self

    def fields(self) -> dict[str, str]:
        """Each declared field's name and the path it reads."""
        names = ("uid", "starts_at", "ends_at", "title", "location")
        return {n: str(getattr(self, n)) for n in names if getattr(self, n) is not None}


class Attachments(BaseModel):
    """Files attached to an email."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: CalendarFile = Field(description="An .ics file built from the event's data.")
