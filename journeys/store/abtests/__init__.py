"""A/B test results from the store: recipients and conversions per variant, counted by
SQL aggregates (the same on SQLite and PostgreSQL), judged by `journeys.abverdict`."""

from .counts import REACHED, arm_counts
from .results import AbSpec, ab_results, declared_tests

__all__ = ["REACHED", "AbSpec", "ab_results", "arm_counts", "declared_tests"]
