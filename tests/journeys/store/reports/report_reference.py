"""The report's figures computed the plain way: every row read into Python, each
definition of docs/insight.md written out as loops. Slow and memory-hungry on purpose
(small test stores only); the reference the SQL aggregates are checked against."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from journeys.store.tables import metadata

COUNTED = ("sent", "unknown")
RATINGS = ("1", "2", "3", "4", "5")


@dataclass
class Scope:
    since: datetime | None
    until: datetime
    by: str | None

    def within(self, at: datetime | None) -> bool:
        return at is not None and (self.since is None or at >= self.since) and at < self.until


class Reference:
    def __init__(self, engine: Engine, scope: Scope) -> None:
        self.scope = scope
        with engine.connect() as conn:
            self.rows = {
                name: [dict(r._mapping) for r in conn.execute(select(table))]
                for name, table in metadata.tables.items()
            }
        self.customers = {c["id"]: c for c in self.rows["customer"]}
        self.by_external = {c["external_id"]: c for c in self.rows["customer"]}
        self.enrollments = {e["id"]: e for e in self.rows["enrollment"]}
        self.actions = {a["id"]: a for a in self.rows["action_run"]}

    def seg(self, customer: dict[str, Any] | None) -> str | None:
        return None if self.scope.by is None or customer is None else customer[self.scope.by]

    def key(self, enrollment: dict[str, Any]) -> tuple[Any, ...]:
        customer = self.customers[enrollment["customer_id"]]
        return (enrollment["journey"], enrollment["version"], self.seg(customer))

    # --- stages ----------------------------------------------------------------------

    def visits(self) -> list[dict[str, Any]]:
        until = self.scope.until
        per: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for t in self.rows["stage_transition"]:
            if t["at"] < until:
                per[t["enrollment_id"]].append(t)
        found = []
        for eid, moves in per.items():
            e = self.enrollments[eid]
            moves.sort(key=lambda t: t["stage_entry"])
            for i, t in enumerate(moves):
                nxt = moves[i + 1] if i + 1 < len(moves) else None
                left = nxt["at"] if nxt else None
                ended = e["status"] in ("exited", "goal") and e["ended_at"] < until
                if nxt is None and ended:
                    left = e["ended_at"]
                found.append(
                    {
                        "key": self.key(e),
                        "customer": t["customer_id"],
                        "stage": t["to_stage"],
                        "entered": t["at"],
                        "left": left,
                        "next": nxt["to_stage"] if nxt else None,
                    }
                )
        return found

    def funnel(self) -> dict[str, Any]:
        s = self.scope
        fresh = [v for v in self.visits() if s.since is None or v["entered"] >= s.since]
        in_stage = Counter((v["key"], v["stage"]) for v in self.visits() if v["left"] is None)
        entered = Counter({k: len(c) for k, c in _sets(fresh, ("key", "stage")).items()})
        moved = [v for v in fresh if v["next"] is not None]
        edges = Counter({k: len(c) for k, c in _sets(moved, ("key", "stage", "next")).items()})
        ends: Counter[tuple[Any, ...]] = Counter()
        outcomes: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 5)
        for e in self.rows["enrollment"]:
            ended = s.within(e["ended_at"])
            if e["status"] in ("exited", "goal") and ended:
                ends[(self.key(e), e["stage"], e["status"])] += 1
            if e["entered_at"] >= s.until:
                continue
            began = s.within(e["entered_at"])
            counts = outcomes[self.key(e)]
            counts[0] += began
            for i, status in enumerate(("completed", "exited", "goal"), 1):
                counts[i] += ended and e["status"] == status
            counts[4] += began and e["status"] == "goal" and e["ended_at"] < s.until
        return {
            "in_stage": +in_stage,
            "entered": +entered,
            "edges": +edges,
            "ends": +ends,
            "outcomes": {k: tuple(v) for k, v in outcomes.items()},
        }

    def time_in_stage(self) -> dict[tuple[Any, ...], tuple[int, float, float]]:
        s, until_s = self.scope, math.floor(self.scope.until.timestamp())
        times: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for v in self.visits():
            start = math.floor(v["entered"].timestamp())
            if v["left"] is None:
                times[(v["key"], v["stage"], "in_stage")].append(until_s - start)
            elif s.since is None or v["left"] >= s.since:
                end = math.floor(v["left"].timestamp())
                times[(v["key"], v["stage"], "left")].append(end - start)
        return {
            k: (len(d), float(statistics.median(d)), float(np.percentile(d, 90)))
            for k, d in times.items()
        }

    # --- feedback --------------------------------------------------------------------

    def surveys(self) -> dict[tuple[Any, ...], tuple[int, int, int]]:
        """(journey, version, segment, kind) -> answers, favourable, detractors; and the
        same with journey and version None for the whole store."""
        found: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
        by_key = {a["idempotency_key"]: a for a in self.rows["action_run"]}
        for r in self.rows["survey_response"]:
            if not self.scope.within(r["at"]):
                continue
            action = by_key.get(r["action_idempotency_key"])
            version = self.enrollments[action["enrollment_id"]]["version"] if action else None
            seg = self.seg(self.customers[r["customer_id"]])
            high = r["score"] >= (4 if r["kind"] == "csat" else 9)
            low = r["kind"] == "nps" and r["score"] <= 6
            for key in ((r["journey"], version, seg, r["kind"]), (None, None, seg, r["kind"])):
                counts = found[key]
                counts[0], counts[1], counts[2] = counts[0] + 1, counts[1] + high, counts[2] + low
        return {k: (n, high, low) for k, (n, high, low) in found.items()}

    def ratings(self) -> dict[str | None, Counter[str]]:
        found: dict[str | None, Counter[str]] = defaultdict(Counter)
        for i in self.rows["inbound_event"]:
            if i["type"] != "review.submitted" or not self.scope.within(i["occurred_at"]):
                continue
            raw = i["payload"].get("rating")
            text = str(raw) if type(raw) is int else raw if isinstance(raw, str) else None
            seg = self.seg(self.by_external.get(i["customer_id"]))
            found[seg][text if text in RATINGS else "other"] += 1
        return found

    def retention(self, lookback: Any) -> dict[str | None, tuple[int, int, int]]:
        s = self.scope
        assert s.since is not None
        buys: dict[str, list[datetime]] = defaultdict(list)
        for i in self.rows["inbound_event"]:
            if i["type"] == "order.completed" and i["occurred_at"] < s.until:
                buys[i["customer_id"]].append(i["occurred_at"])
        found: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0])
        for who, times in buys.items():
            counts = found[self.seg(self.by_external.get(who))]
            counts[0] += any(s.since - lookback <= t < s.since for t in times)
            counts[1] += any(s.until - lookback <= t for t in times)
            counts[2] += min(times) >= s.since
        return {k: (a, b, c) for k, (a, b, c) in found.items()}

    # --- messages and codes ----------------------------------------------------------

    def messages(self) -> dict[tuple[Any, ...], dict[str, int]]:
        s = self.scope
        reports: dict[int, set[str]] = defaultdict(set)
        for m in self.rows["message_event"]:
            if m["action_run_id"] is not None and m["at"] < s.until:
                reports[m["action_run_id"]].add(m["event"])
        found: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
        for a in self.rows["action_run"]:
            if a["kind"] not in ("email", "sms"):
                continue
            e, c = self.enrollments[a["enrollment_id"]], self.customers[a["customer_id"]]
            counts = found[(*self.key(e), a["template"], a["kind"], c["locale"])]
            sent_at = a["send_started_at"] or a["updated_at"]
            if a["status"] in COUNTED and s.within(sent_at):
                counts["sent"] += 1
                seen = reports[a["id"]]
                counts["delivered"] += "delivered" in seen
                counts["opened"] += "open" in seen
                counts["bounced"] += bool(seen & {"bounce", "dropped", "undelivered", "failed"})
            if s.within(a["updated_at"]) and a["status"] in ("failed", "skipped"):
                counts[f"{a['status']}:{a['last_error']}"] += 1
            if a["status"] in ("pending", "claimed") and s.within(a["updated_at"]):
                counts[f"deferred:{a['last_error']}"] += 1
        return {k: dict(+v) for k, v in found.items() if +v}

    def promos(self) -> dict[tuple[Any, ...], tuple[int, int, int]]:
        """(journey, version, segment, campaign) -> issued, redeemed, redeemed in period."""
        s = self.scope
        by_key = {a["idempotency_key"]: a for a in self.rows["action_run"]}
        found: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
        for p in self.rows["promo_code"]:
            a = by_key.get(p["action_idempotency_key"])
            if a is None:
                shown, journey, version = p["created_at"], None, None
            else:
                journey = a["journey"]
                version = self.enrollments[a["enrollment_id"]]["version"]
                message = a["kind"] in ("email", "sms")
                sent = a["status"] in COUNTED
                shown = (a["send_started_at"] or a["updated_at"]) if sent else None
                if not message:
                    voided = (
                        a["status"] == "skipped"
                        and a["last_error"] == "left the stage before it was due"
                    )
                    shown = None if voided else a["due_at"]
            # At the latest when it was redeemed.
            known = [t for t in (shown, p["redeemed_at"]) if t is not None]
            issued_at = min(known) if known else None
            key = (journey, version, self.seg(self.customers[p["customer_id"]]), p["campaign"])
            counts = found[key]
            issued = s.within(issued_at)
            counts[0] += issued
            counts[1] += issued and p["redeemed_at"] is not None and p["redeemed_at"] < s.until
            counts[2] += s.within(p["redeemed_at"])
        return {k: (a, b, c) for k, (a, b, c) in found.items() if a or b or c}


def _sets(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[tuple[Any, ...], set[int]]:
    found: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    for v in rows:
        found[tuple(v[f] for f in fields)].add(v["customer"])
    return found
