"""Reports over the store: the funnel, time in stage, CSAT, NPS, retention, reviews,
promo codes and messages, each computed by SQL aggregates that give the same numbers
on SQLite and PostgreSQL (see docs/insight.md for every definition).

One module per concern; `period` holds the scope they share, `report.build_report`
puts them together.
"""

from .daily import DayRow, messages_by_day
from .feedback_kpis import CsatRow, NpsRow, survey_kpis
from .funnel import EdgeRow, Funnel, OutcomeRow, StageRow, funnel
from .messages import MessageRow, messages
from .period import SEGMENTS, Period, ReportError, ReportOptions, Segment
from .promos import PromoRow, promos
from .report import Definitions, Report, build_report
from .retention import RetentionRow, retention
from .reviews import RatingRow, ReviewRequestRow, ratings, review_requests
from .stages import FunnelRow, stage_funnel
from .time_in_stage import TimeInStageRow, time_in_stage

__all__ = [
    "SEGMENTS",
    "CsatRow",
    "DayRow",
    "Definitions",
    "EdgeRow",
    "Funnel",
    "FunnelRow",
    "MessageRow",
    "NpsRow",
    "OutcomeRow",
    "Period",
    "PromoRow",
    "RatingRow",
    "Report",
    "ReportError",
    "ReportOptions",
    "RetentionRow",
    "ReviewRequestRow",
    "Segment",
    "StageRow",
    "TimeInStageRow",
    "build_report",
    "funnel",
    "messages",
    "messages_by_day",
    "promos",
    "ratings",
    "retention",
    "review_requests",
    "stage_funnel",
    "survey_kpis",
    "time_in_stage",
]
