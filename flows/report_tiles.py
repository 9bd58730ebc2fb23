"""KPI tiles: CSAT, NPS and CRR of one journey version (or of every journey), each with
its count, its 95 % interval and its trend against the period of the same length before.

The trend is the difference of the two figures in points (a CSAT of 80 % after 75 % is
"up 5.0 points"); it says so in words and with an arrow, never by colour alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from journeys.store.reports import CsatRow, NpsRow, Report, RetentionRow
from journeys.store.reports.rows import SliceRow

Direction = Literal["up", "down", "same", "none"]
R = TypeVar("R", bound=SliceRow)
_ARROWS = {"up": "▲", "down": "▼", "same": "=", "none": ""}


@dataclass(frozen=True)
class Tile:
    label: str  # "CSAT", "NPS · de"
    value: str  # "82.4 %", "–"
    detail: str  # counts and interval
    trend: str  # in words
    direction: Direction

    @property
    def arrow(self) -> str:
        return _ARROWS[self.direction]


def _trend(
    now: float | None, before: float | None, has_previous: bool, shown: Callable[[float], str]
) -> tuple[str, Direction]:
    if not has_previous:
        return "no trend: the report has no start (--since)", "none"
    if before is None:
        return "no figure in the period before", "none"
    if now is None:
        return f"the period before: {shown(before)}", "none"
    diff = round(now - before, 1)
    if diff == 0:
        return f"the same as in the period before ({shown(before)})", "same"
    way: Direction = "up" if diff > 0 else "down"
    return f"{way} {abs(diff):.1f} points on the period before ({shown(before)})", way


def _rows(rows: Sequence[R], key: tuple[str | None, int | None]) -> dict[str | None, R]:
    return {r.segment: r for r in rows if (r.journey, r.version) == key}


def _label(name: str, segment: str | None, split: bool) -> str:
    return f"{name} · {segment or '(none)'}" if split else name


def _pct(value: float) -> str:
    return f"{value:.1f} %"


def _points(value: float) -> str:
    return f"{value:+.1f}"


def tiles(
    report: Report, previous: Report | None, key: tuple[str | None, int | None]
) -> list[Tile]:
    """The KPI tiles of one journey version, or (key (None, None)) of every journey."""
    split = report.by is not None
    before_csat = _rows(previous.csat, key) if previous else {}
    before_nps = _rows(previous.nps, key) if previous else {}
    before_crr = _rows(previous.retention, key) if previous else {}
    has_previous = previous is not None
    out: list[Tile] = []
    csat, nps, crr = _rows(report.csat, key), _rows(report.nps, key), _rows(report.retention, key)
    segments = sorted(set(csat) | set(nps) | set(crr), key=lambda s: (s is None, s or ""))
    for segment in segments or ([None] if key == (None, None) else []):
        out.append(_csat(csat.get(segment), before_csat.get(segment), has_previous, segment, split))
        out.append(_nps(nps.get(segment), before_nps.get(segment), has_previous, segment, split))
        out.append(_crr(crr.get(segment), before_crr.get(segment), report, has_previous, segment))
    return out


def _csat(
    row: CsatRow | None,
    before: CsatRow | None,
    has_previous: bool,
    segment: str | None,
    split: bool,
) -> Tile:
    label = _label("CSAT", segment, split)
    value = row.csat_pct if row else None
    trend, way = _trend(value, before.csat_pct if before else None, has_previous, _pct)
    if row is None or value is None:
        return Tile(label, "–", "no CSAT answers in the period", trend, way)
    detail = f"{row.satisfied} of {row.answers} answers were 4 or 5"
    if row.low_pct is not None and row.high_pct is not None:
        detail += f" · 95 % interval {row.low_pct:.1f} – {row.high_pct:.1f} %"
    return Tile(label, _pct(value), detail, trend, way)


def _nps(
    row: NpsRow | None, before: NpsRow | None, has_previous: bool, segment: str | None, split: bool
) -> Tile:
    label = _label("NPS", segment, split)
    value = row.nps if row else None
    trend, way = _trend(value, before.nps if before else None, has_previous, _points)
    if row is None or value is None:
        return Tile(label, "–", "no NPS answers in the period", trend, way)
    detail = (
        f"{row.answers} answers: {row.promoters} promoters, {row.passives} passives, "
        f"{row.detractors} detractors"
    )
    if row.low is not None and row.high is not None:
        detail += f" · 95 % interval {row.low:+.1f} – {row.high:+.1f}"
    return Tile(label, _points(value), detail, trend, way)


def _crr(
    row: RetentionRow | None,
    before: RetentionRow | None,
    report: Report,
    has_previous: bool,
    segment: str | None,
) -> Tile:
    label = _label("CRR", segment, report.by is not None)
    value = row.crr_pct if row else None
    trend, way = _trend(value, before.crr_pct if before else None, has_previous, _pct)
    if report.since is None:
        return Tile(label, "–", "CRR needs the start of a period (--since)", trend, way)
    if row is None or value is None:
        start = row.at_start if row else 0
        return Tile(label, "–", f"{start} customers at the start: no CRR", trend, way)
    days = f"{report.definitions.lookback_days:g}"
    detail = (
        f"{row.at_start} customers at the start, {row.at_end} at the end, {row.new} new "
        f"(a customer bought within {days} days)"
    )
    return Tile(label, _pct(value), detail, trend, way)
