"""The state store: customers, enrollments and their history, the inbox and the outbox.

SQLModel tables, alembic migrations, and a batch write path that turns the engine's
decisions into a few multi-row statements per batch, one transaction each.
"""

from ..phone import to_e164
from .db import (
    DEFAULT_URL,
    alembic_config,
    create_db_engine,
    create_schema,
    database_url,
    dispose_engines,
    get_engine,
    session_scope,
)
from .events import CustomerProfile, IncomingEvent
from .registry import JourneyRegistry, checksum
from .reports import FunnelRow, stage_funnel
from .sql import lock_customers
from .state.ingest import (
    Stored,
    advance_timers,
    apply_events,
    process_inbox,
    store_events,
    store_new_events,
)
from .state.result import BatchResult
from .tables import (
    ActionRun,
    ActionRunPublic,
    Consent,
    ConsentChange,
    ConsentPublic,
    Customer,
    CustomerPublic,
    Enrollment,
    EnrollmentPublic,
    InboundEvent,
    JourneyVersion,
    JourneyVersionPublic,
    MessageEvent,
    MessageEventPublic,
    PromoCode,
    PromoCodePublic,
    StageTransition,
    StageTransitionPublic,
    SurveyResponse,
    SurveyResponsePublic,
    metadata,
)

__all__ = [
    "DEFAULT_URL",
    "ActionRun",
    "ActionRunPublic",
    "BatchResult",
    "Consent",
    "ConsentChange",
    "ConsentPublic",
    "Customer",
    "CustomerProfile",
    "CustomerPublic",
    "Enrollment",
    "EnrollmentPublic",
    "FunnelRow",
    "InboundEvent",
    "IncomingEvent",
    "JourneyRegistry",
    "JourneyVersion",
    "JourneyVersionPublic",
    "MessageEvent",
    "MessageEventPublic",
    "PromoCode",
    "PromoCodePublic",
    "StageTransition",
    "StageTransitionPublic",
    "Stored",
    "SurveyResponse",
    "SurveyResponsePublic",
    "advance_timers",
    "alembic_config",
    "apply_events",
    "checksum",
    "create_db_engine",
    "create_schema",
    "database_url",
    "dispose_engines",
    "get_engine",
    "lock_customers",
    "metadata",
    "process_inbox",
    "session_scope",
    "stage_funnel",
    "store_events",
    "store_new_events",
    "to_e164",
]
