"""The floor of the report benchmark: the same figures by bare `sqlite3` aggregate queries.

One hand-written statement per figure (funnel stages, edges, ends, enrollments, time
in stage, CSAT/NPS, CRR, ratings, review requests, promo codes and their value,
messages, messages per day, the A/B test's arms, the map's counts), each the plainest
SQL for its definition in docs/insight.md, run over the same file with no ORM, no
pydantic and no Python-side work but fetching the rows. `figures` returns totals the
benchmark compares with the report's, so both are known to compute the same thing.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

VISITS = """
WITH visit AS (
  SELECT st.journey, e.version, st.customer_id, st.to_stage AS stage, st.at AS entered_at,
         LEAD(st.at) OVER w AS next_at, LEAD(st.to_stage) OVER w AS next_stage,
         e.status, e.ended_at
  FROM stage_transition st JOIN enrollment e ON e.id = st.enrollment_id
  WHERE st.at < :until
  WINDOW w AS (PARTITION BY st.enrollment_id ORDER BY st.stage_entry)
), v AS (
  SELECT *, COALESCE(next_at, CASE WHEN status IN ('exited', 'goal') AND ended_at < :until
                                   THEN ended_at END) AS left_at
  FROM visit
)
"""
SENT_AT = "COALESCE(a.send_started_at, a.updated_at)"
REPORTED = """
  SELECT action_run_id,
         MAX(event = 'delivered') AS delivered, MAX(event = 'open') AS opened,
         MAX(event = 'click') AS clicked,
         MAX(event IN ('bounce', 'dropped', 'undelivered', 'failed')) AS bounced,
         MAX(event = 'spamreport') AS complained,
         MAX(event IN ('unsubscribe', 'group_unsubscribe')) AS unsubscribed
  FROM message_event WHERE action_run_id IS NOT NULL AND at < :until GROUP BY action_run_id
"""
BUYERS = """
  SELECT customer_id AS external_id,
         MAX(occurred_at >= :start_back AND occurred_at < :since) AS at_start,
         MAX(occurred_at >= :end_back) AS at_end, MIN(occurred_at) AS first_at
  FROM inbound_event WHERE type = 'order.completed' AND occurred_at < :until
  GROUP BY customer_id
"""
REVIEWS = """
  SELECT c.id AS customer_id, i.occurred_at,
         CASE WHEN json_type(i.payload, '$.rating') = 'integer'
                   AND json_extract(i.payload, '$.rating') BETWEEN 1 AND 5
              THEN CAST(json_extract(i.payload, '$.rating') AS TEXT)
              WHEN json_type(i.payload, '$.rating') = 'text'
                   AND json_extract(i.payload, '$.rating') IN ('1', '2', '3', '4', '5')
              THEN json_extract(i.payload, '$.rating') ELSE 'other' END AS rating
  FROM inbound_event i LEFT JOIN customer c ON c.external_id = i.customer_id
  WHERE i.type = 'review.submitted' AND i.occurred_at < :until
"""
REQUESTS = f"""
  SELECT a.id, a.customer_id, a.journey, e.version, {SENT_AT} AS sent_at
  FROM action_run a JOIN enrollment e ON e.id = a.enrollment_id
  WHERE a.template = 'review_request' AND a.kind IN ('email', 'sms')
    AND a.status IN ('sent', 'unknown') AND {SENT_AT} < :until
"""
ISSUED_AT = f"""COALESCE(CASE WHEN a.id IS NULL THEN p.created_at
  WHEN a.kind IN ('email', 'sms') THEN CASE WHEN a.status IN ('sent', 'unknown') THEN {SENT_AT} END
  WHEN a.status != 'skipped' OR a.last_error IS NULL
       OR a.last_error != 'left the stage before it was due' THEN a.due_at END, p.redeemed_at)"""

QUERIES: dict[str, str] = {
    "stages": VISITS
    + """SELECT journey, version, stage, SUM(left_at IS NULL),
       COUNT(DISTINCT CASE WHEN entered_at >= :since THEN customer_id END)
       FROM v GROUP BY journey, version, stage""",
    "edges": VISITS
    + """SELECT journey, version, stage, next_stage, COUNT(DISTINCT customer_id) FROM v
       WHERE next_stage IS NOT NULL AND entered_at >= :since
       GROUP BY journey, version, stage, next_stage""",
    "ends": """SELECT journey, version, stage, status, COUNT(*) FROM enrollment
       WHERE status IN ('exited', 'goal') AND ended_at >= :since AND ended_at < :until
       GROUP BY journey, version, stage, status""",
    "outcomes": """SELECT journey, version,
       SUM(entered_at >= :since), SUM(status = 'completed' AND ended_at >= :since
       AND ended_at < :until), SUM(status = 'exited' AND ended_at >= :since
       AND ended_at < :until), SUM(status = 'goal' AND ended_at >= :since AND ended_at < :until),
       SUM(entered_at >= :since AND status = 'goal' AND ended_at < :until)
       FROM enrollment WHERE entered_at < :until GROUP BY journey, version""",
    "time_in_stage": VISITS
    + """, t AS (
         SELECT journey, version, stage, 'left' AS pop,
                CAST(strftime('%s', left_at) AS INTEGER)
                - CAST(strftime('%s', entered_at) AS INTEGER) AS d
         FROM v WHERE left_at IS NOT NULL AND left_at >= :since
         UNION ALL
         SELECT journey, version, stage, 'in_stage',
                :until_s - CAST(strftime('%s', entered_at) AS INTEGER) FROM v WHERE left_at IS NULL
       ), r AS (
         SELECT *, ROW_NUMBER() OVER ranked - 1 AS rk, COUNT(*) OVER whole AS n FROM t
         WINDOW whole AS (PARTITION BY journey, version, stage, pop),
                ranked AS (whole ORDER BY d)
       )
       SELECT journey, version, stage, pop, COUNT(*), SUM(d), MAX(d),
         MIN(CASE WHEN rk = ((n - 1) * 50) / 100 THEN d END),
         MIN(CASE WHEN rk = ((n - 1) * 50 + 99) / 100 THEN d END),
         MIN(CASE WHEN rk = ((n - 1) * 90) / 100 THEN d END),
         MIN(CASE WHEN rk = ((n - 1) * 90 + 99) / 100 THEN d END)
       FROM r GROUP BY journey, version, stage, pop""",
    "surveys": """SELECT s.journey, e.version, s.kind, COUNT(*),
       SUM((s.kind = 'csat' AND s.score >= 4) OR (s.kind = 'nps' AND s.score >= 9)),
       SUM(s.kind = 'nps' AND s.score <= 6)
       FROM survey_response s
       LEFT JOIN action_run a ON a.idempotency_key = s.action_idempotency_key
       LEFT JOIN enrollment e ON e.id = a.enrollment_id
       WHERE s.at >= :since AND s.at < :until GROUP BY s.journey, e.version, s.kind
       UNION ALL
       SELECT NULL, NULL, kind, COUNT(*),
       SUM((kind = 'csat' AND score >= 4) OR (kind = 'nps' AND score >= 9)),
       SUM(kind = 'nps' AND score <= 6)
       FROM survey_response WHERE at >= :since AND at < :until GROUP BY kind""",
    "retention": f"""WITH b AS ({BUYERS}),
       bc AS (SELECT b.*, c.id AS customer_id FROM b LEFT JOIN customer c
              ON c.external_id = b.external_id),
       enrolled AS (SELECT DISTINCT customer_id, journey, version FROM enrollment
                    WHERE entered_at < :until)
       SELECT NULL, NULL, SUM(at_start), SUM(at_end), SUM(first_at >= :since), COUNT(*)
       FROM bc
       UNION ALL
       SELECT n.journey, n.version, SUM(at_start), SUM(at_end), SUM(first_at >= :since), COUNT(*)
       FROM bc JOIN enrolled n ON n.customer_id = bc.customer_id
       GROUP BY n.journey, n.version""",
    "ratings": f"""WITH rv AS ({REVIEWS}), rq AS ({REQUESTS}),
       f AS (SELECT customer_id, journey, version, MIN(sent_at) AS first_at FROM rq
             GROUP BY customer_id, journey, version)
       SELECT NULL, NULL, rating, COUNT(*) FROM rv WHERE occurred_at >= :since
       GROUP BY rating
       UNION ALL
       SELECT f.journey, f.version, rv.rating, COUNT(*) FROM f
       JOIN rv ON rv.customer_id = f.customer_id
       WHERE rv.occurred_at >= :since AND rv.occurred_at >= f.first_at
       GROUP BY f.journey, f.version, rv.rating""",
    "review_requests": f"""WITH rv AS ({REVIEWS}), rq AS ({REQUESTS}),
       per AS (SELECT rq.journey, rq.version, rq.id, MAX(rv.occurred_at >= rq.sent_at) AS yes
               FROM rq LEFT JOIN rv ON rv.customer_id = rq.customer_id
               WHERE rq.sent_at >= :since GROUP BY rq.journey, rq.version, rq.id)
       SELECT journey, version, COUNT(*), SUM(yes) FROM per GROUP BY journey, version""",
    "promos": f"""WITH pc AS (
         SELECT a.journey, e.version, p.campaign, p.redeemed_at, p.expires_at,
                {ISSUED_AT} AS issued_at
         FROM promo_code p LEFT JOIN action_run a ON a.idempotency_key = p.action_idempotency_key
         LEFT JOIN enrollment e ON e.id = a.enrollment_id)
       SELECT journey, version, campaign,
         SUM(issued_at >= :since), SUM(issued_at >= :since AND redeemed_at < :until),
         SUM(issued_at >= :since AND (redeemed_at IS NULL OR redeemed_at >= :until)
             AND expires_at <= :until),
         SUM(redeemed_at >= :since AND redeemed_at < :until)
       FROM pc WHERE issued_at < :until GROUP BY journey, version, campaign""",
    "promo_values": """WITH r AS (
         SELECT p.id AS code_id, MIN(i.id) AS event_id FROM promo_code p
         JOIN customer c ON c.id = p.customer_id
         JOIN inbound_event i ON i.customer_id = c.external_id AND i.occurred_at = p.redeemed_at
         WHERE p.redeemed_at >= :since AND p.redeemed_at < :until
           AND json_type(i.payload, '$.promo_code') = 'text'
         GROUP BY p.id)
       SELECT a.journey, e.version, p.campaign, json_extract(i.payload, '$.currency'),
         SUM(CAST(ROUND(json_extract(i.payload, '$.total') * 100) AS INTEGER)), COUNT(*)
       FROM r JOIN promo_code p ON p.id = r.code_id JOIN inbound_event i ON i.id = r.event_id
       LEFT JOIN action_run a ON a.idempotency_key = p.action_idempotency_key
       LEFT JOIN enrollment e ON e.id = a.enrollment_id
       WHERE json_type(i.payload, '$.total') IN ('integer', 'real')
       GROUP BY a.journey, e.version, p.campaign, json_extract(i.payload, '$.currency')""",
    "messages": f"""WITH r AS ({REPORTED})
       SELECT a.journey, e.version, a.template, a.kind, c.locale,
         SUM(a.status IN ('sent', 'unknown') AND {SENT_AT} >= :since AND {SENT_AT} < :until),
         SUM(CASE WHEN a.status IN ('sent', 'unknown') AND {SENT_AT} >= :since
                  AND {SENT_AT} < :until THEN r.delivered END),
         SUM(CASE WHEN a.status IN ('sent', 'unknown') AND {SENT_AT} >= :since
                  AND {SENT_AT} < :until THEN r.opened END),
         SUM(CASE WHEN a.status IN ('sent', 'unknown') AND {SENT_AT} >= :since
                  AND {SENT_AT} < :until THEN r.clicked END),
         SUM(CASE WHEN a.status IN ('sent', 'unknown') AND {SENT_AT} >= :since
                  AND {SENT_AT} < :until THEN r.bounced END),
         SUM(a.status = 'failed' AND a.updated_at >= :since AND a.updated_at < :until),
         SUM(a.status = 'skipped' AND a.updated_at >= :since AND a.updated_at < :until)
       FROM action_run a JOIN enrollment e ON e.id = a.enrollment_id
       JOIN customer c ON c.id = a.customer_id LEFT JOIN r ON r.action_run_id = a.id
       WHERE a.kind IN ('email', 'sms') AND ({SENT_AT} < :until OR a.updated_at < :until)
       GROUP BY a.journey, e.version, a.template, a.kind, c.locale""",
    "messages_by_day": f"""WITH r AS ({REPORTED})
       SELECT a.journey, e.version, substr({SENT_AT}, 1, 10), COUNT(*),
         SUM(r.delivered), SUM(r.opened), SUM(r.clicked), SUM(r.bounced)
       FROM action_run a JOIN enrollment e ON e.id = a.enrollment_id
       LEFT JOIN r ON r.action_run_id = a.id
       WHERE a.kind IN ('email', 'sms') AND a.status IN ('sent', 'unknown')
         AND {SENT_AT} >= :since AND {SENT_AT} < :until
       GROUP BY a.journey, e.version, substr({SENT_AT}, 1, 10)""",
    "abtest": """WITH x AS (
         SELECT variant, customer_id, MIN(due_at) AS t0, MAX(template IS NULL) AS holdout
         FROM action_run
         WHERE journey = 'customer_lifecycle' AND stage = 'recommendation'
           AND action_key = 'referral_request' AND variant IS NOT NULL
           AND (status IN ('sent', 'unknown', 'failed', 'quarantined')
                OR (status = 'skipped' AND last_error = 'holdout'))
           AND due_at >= :since AND due_at < :until
         GROUP BY variant, customer_id),
       conv AS (
         SELECT a.customer_id, m.at FROM message_event m JOIN action_run a ON a.id = m.action_run_id
         WHERE m.event = 'click' AND a.journey = 'customer_lifecycle'
           AND a.stage = 'recommendation' AND a.action_key = 'referral_request')
       SELECT x.variant, MAX(x.holdout), COUNT(DISTINCT x.customer_id),
         COUNT(DISTINCT CASE WHEN conv.customer_id IS NOT NULL THEN x.customer_id END)
       FROM x LEFT JOIN conv ON conv.customer_id = x.customer_id AND conv.at >= x.t0
         AND conv.at <= datetime(substr(x.t0, 1, 19), '+1209600 seconds') || substr(x.t0, 20)
       GROUP BY x.variant ORDER BY x.variant""",
    "map_stages": """SELECT journey, stage, COUNT(*) FROM enrollment
       WHERE status IN ('active', 'completed') AND journey = 'customer_lifecycle'
       GROUP BY journey, stage""",
    "map_entered": """SELECT journey, to_stage, COUNT(DISTINCT customer_id) FROM stage_transition
       WHERE journey = 'customer_lifecycle' GROUP BY journey, to_stage""",
    "map_moves": """SELECT from_stage, to_stage, COUNT(DISTINCT customer_id) FROM stage_transition
       WHERE journey = 'customer_lifecycle' GROUP BY from_stage, to_stage""",
}


def _stamp(moment: datetime) -> str:
    return moment.isoformat(" ", "microseconds")[:26]


def params(since: datetime, until: datetime, lookback_days: int = 365) -> dict[str, Any]:
    from datetime import timedelta

    back = timedelta(days=lookback_days)
    return {
        "since": _stamp(since),
        "until": _stamp(until),
        "until_s": int(until.timestamp()),
        "start_back": _stamp(since - back),
        "end_back": _stamp(until - back),
    }


def run(path: str, since: datetime, until: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Every query once, over a fresh connection; the rows of each."""
    db = sqlite3.connect(path)
    try:
        values = params(since, until)
        return {name: db.execute(sql, values).fetchall() for name, sql in QUERIES.items()}
    finally:
        db.close()


def figures(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    """Totals to hold against the report's (`bench.report.report_figures`)."""
    from journeys.kpi_math import interpolate

    left = [r for r in rows["time_in_stage"] if r[3] == "left"]
    return {
        "entered": sum(r[4] for r in rows["stages"]),
        "in stage": sum(r[3] for r in rows["stages"]),
        "moved": sum(r[4] for r in rows["edges"]),
        "median left per stage": {r[2]: interpolate(r[7], r[8], r[4], 50) for r in sorted(left)},
        "survey answers": sum(r[3] for r in rows["surveys"] if r[0] is None),
        "CRR S/E/N": next(r[2:5] for r in rows["retention"] if r[0] is None),
        "reviews": sum(r[3] for r in rows["ratings"] if r[0] is None),
        "requests answered": sum(r[3] for r in rows["review_requests"]),
        "codes issued/redeemed": (
            sum(r[3] for r in rows["promos"]),
            sum(r[4] for r in rows["promos"]),
        ),
        "sent/delivered/opened/clicked": tuple(
            sum(r[i] or 0 for r in rows["messages"]) for i in (5, 6, 7, 8)
        ),
        "sent per day": sum(r[3] for r in rows["messages_by_day"]),
        "A/B recipients/conversions": [(r[0], r[2], r[3]) for r in rows["abtest"]],
        "map moves": sum(r[2] for r in rows["map_moves"]),
    }
