"""The base of every table of the store: one metadata with a naming convention, the
status vocabularies, and the column helpers the table modules share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from .sqltypes import BigId, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ENROLLMENT_STATUSES = ("active", "completed", "exited", "goal")
ACTION_STATUSES = ("pending", "claimed", "sent", "failed", "skipped", "unknown", "quarantined")
# What providers report about a message after it left (SendGrid events, Twilio callbacks).
MESSAGE_EVENTS = (
    "queued",
    "sent",
    "delivered",
    "deferred",
    "open",
    "click",
    "bounce",
    "dropped",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
    "undelivered",
    "failed",
)
CONSENT_STATUSES = ("pending", "subscribed", "unsubscribed", "suppressed")
SURVEY_KINDS = ("csat", "nps")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StoreModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of every model of the store: its own metadata, with a naming convention."""


def id_field() -> Any:
    return Field(default=None, primary_key=True, sa_type=BigId)


def at_field(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def ref_field(target: str, **kw: Any) -> Any:
    return Field(foreign_key=target, ondelete="CASCADE", sa_type=BigId, **kw)
