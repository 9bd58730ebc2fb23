"""The state store: customers, enrollments and their history, the inbox and the outbox.

SQLModel tables, alembic migrations, and a batch write path that turns the engine's
decisions into a few multi-row statements per batch, one transaction each.

Names are imported on first use: a process that needs one part of the package does
not pay for loading the rest (every command and worker process starts faster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from journeys.lazy_names import lazy_names

if TYPE_CHECKING:
    from journeys.phone import (
        to_e164,
    )
    from journeys.store.db import (
        DEFAULT_URL,
        alembic_config,
        create_db_engine,
        create_schema,
        database_url,
        dispose_engines,
        get_engine,
        session_scope,
    )
    from journeys.store.events import (
        CustomerProfile,
        IncomingEvent,
    )
    from journeys.store.registry import (
        JourneyRegistry,
        checksum,
    )
    from journeys.store.reports import (
        FunnelRow,
        stage_funnel,
    )
    from journeys.store.sql import (
        lock_customers,
    )
    from journeys.store.state.ingest import (
        Stored,
        advance_timers,
        apply_events,
        process_inbox,
        store_events,
        store_new_events,
    )
    from journeys.store.state.result import (
        BatchResult,
    )
    from journeys.store.tables import (
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

_EXPORTS: dict[str, str] = {
    "to_e164": "journeys.phone",
    "DEFAULT_URL": "journeys.store.db",
    "alembic_config": "journeys.store.db",
    "create_db_engine": "journeys.store.db",
    "create_schema": "journeys.store.db",
    "database_url": "journeys.store.db",
    "dispose_engines": "journeys.store.db",
    "get_engine": "journeys.store.db",
    "session_scope": "journeys.store.db",
    "CustomerProfile": "journeys.store.events",
    "IncomingEvent": "journeys.store.events",
    "JourneyRegistry": "journeys.store.registry",
    "checksum": "journeys.store.registry",
    "FunnelRow": "journeys.store.reports",
    "stage_funnel": "journeys.store.reports",
    "lock_customers": "journeys.store.sql",
    "Stored": "journeys.store.state.ingest",
    "advance_timers": "journeys.store.state.ingest",
    "apply_events": "journeys.store.state.ingest",
    "process_inbox": "journeys.store.state.ingest",
    "store_events": "journeys.store.state.ingest",
    "store_new_events": "journeys.store.state.ingest",
    "BatchResult": "journeys.store.state.result",
    "ActionRun": "journeys.store.tables",
    "ActionRunPublic": "journeys.store.tables",
    "Consent": "journeys.store.tables",
    "ConsentChange": "journeys.store.tables",
    "ConsentPublic": "journeys.store.tables",
    "Customer": "journeys.store.tables",
    "CustomerPublic": "journeys.store.tables",
    "Enrollment": "journeys.store.tables",
    "EnrollmentPublic": "journeys.store.tables",
    "InboundEvent": "journeys.store.tables",
    "JourneyVersion": "journeys.store.tables",
    "JourneyVersionPublic": "journeys.store.tables",
    "MessageEvent": "journeys.store.tables",
    "MessageEventPublic": "journeys.store.tables",
    "PromoCode": "journeys.store.tables",
    "PromoCodePublic": "journeys.store.tables",
    "StageTransition": "journeys.store.tables",
    "StageTransitionPublic": "journeys.store.tables",
    "SurveyResponse": "journeys.store.tables",
    "SurveyResponsePublic": "journeys.store.tables",
    "metadata": "journeys.store.tables",
}

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

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
