"""The journey language, its validator, the pure stage engine and the state store.

Names are imported on first use: a process that needs one part of the package does
not pay for loading the rest (every command and worker process starts faster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from journeys.lazy_names import lazy_names

if TYPE_CHECKING:
    from journeys.conditions import (
        Condition,
        compile_condition,
    )
    from journeys.decisions import (
        AttributesSet,
        Decision,
        Ended,
        Enrolled,
        EnrollmentState,
        Event,
        LeftStage,
        Outcome,
        ScheduledAction,
        Tick,
        Transitioned,
        idempotency_key,
    )
    from journeys.engine import (
        customer_scope,
        decide,
        next_timer,
    )
    from journeys.errors import (
        ConditionSyntaxError,
        JourneyError,
        JourneyflowError,
        Problem,
        StoreError,
        UnknownJourneyError,
    )
    from journeys.graph import (
        mermaid,
    )
    from journeys.loader import (
        load_journey,
        parse_journey,
    )
    from journeys.model import (
        Journey,
        Stage,
    )
    from journeys.validate import (
        Report,
        load_journeys,
        validate_paths,
    )

_EXPORTS: dict[str, str] = {
    "Condition": "journeys.conditions",
    "compile_condition": "journeys.conditions",
    "AttributesSet": "journeys.decisions",
    "Decision": "journeys.decisions",
    "Ended": "journeys.decisions",
    "Enrolled": "journeys.decisions",
    "EnrollmentState": "journeys.decisions",
    "Event": "journeys.decisions",
    "LeftStage": "journeys.decisions",
    "Outcome": "journeys.decisions",
    "ScheduledAction": "journeys.decisions",
    "Tick": "journeys.decisions",
    "Transitioned": "journeys.decisions",
    "idempotency_key": "journeys.decisions",
    "customer_scope": "journeys.engine",
    "decide": "journeys.engine",
    "next_timer": "journeys.engine",
    "ConditionSyntaxError": "journeys.errors",
    "JourneyError": "journeys.errors",
    "JourneyflowError": "journeys.errors",
    "Problem": "journeys.errors",
    "StoreError": "journeys.errors",
    "UnknownJourneyError": "journeys.errors",
    "mermaid": "journeys.graph",
    "load_journey": "journeys.loader",
    "parse_journey": "journeys.loader",
    "Journey": "journeys.model",
    "Stage": "journeys.model",
    "Report": "journeys.validate",
    "load_journeys": "journeys.validate",
    "validate_paths": "journeys.validate",
}

__all__ = [
    "AttributesSet",
    "Condition",
    "ConditionSyntaxError",
    "Decision",
    "Ended",
    "Enrolled",
    "EnrollmentState",
    "Event",
    "Journey",
    "JourneyError",
    "JourneyflowError",
    "LeftStage",
    "Outcome",
    "Problem",
    "Report",
    "ScheduledAction",
    "Stage",
    "StoreError",
    "Tick",
    "Transitioned",
    "UnknownJourneyError",
    "compile_condition",
    "customer_scope",
    "decide",
    "idempotency_key",
    "load_journey",
    "load_journeys",
    "mermaid",
    "next_timer",
    "parse_journey",
    "validate_paths",
]

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
