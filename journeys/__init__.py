"""The journey language, its validator, the pure stage engine and the state store."""

from .conditions import Condition, compile_condition
from .decisions import (
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
from .engine import customer_scope, decide, next_timer
from .errors import (
    ConditionSyntaxError,
    JourneyError,
    JourneyflowError,
    Problem,
    StoreError,
    UnknownJourneyError,
)
from .graph import mermaid
from .loader import load_journey, parse_journey
from .model import Journey, Stage
from .validate import Report, load_journeys, validate_paths

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
