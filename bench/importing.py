"""Import benchmark: customers with their consent per second, against the raw sqlite3 floor.

    python -m bench.importing [--customers N] [--batch 1000] [--profile]

N customers (id, email, a German mobile number in national form, name, locale, time
zone, country, an attribute) and one email consent each (subscribed, pending or
unsubscribed, with time, IP, system and wording) are written to a CSV file each and
imported with `import_file` into a fresh SQLite file: read, mapped, checked (phone to
E.164, time zone, address), compared with what is stored, written. Then the floor:
the same rows, already normalised, with plain `sqlite3.executemany` into the same
tables (customer, consent, consent history) and indexes, one transaction per batch.
The ratio is the price of reading a file and keeping the rules over the bare writes;
the goal is at least 1/4. A second import of the same files (everything unchanged)
is timed too.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import pstats
import random
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.importing import ImportSummary, import_file
from journeys.phone import to_e164
from journeys.store import create_db_engine, create_schema

START = datetime(2025, 6, 1, tzinfo=UTC)
GOAL = 0.25
_NAMES = ["Anna", "Max", "Sophie", "Lukas", "Marie", "Jonas", "Lea", "Paul"]
_STATUSES = ["subscribed"] * 8 + ["pending", "unsubscribed"]
_WORDING = "Ja, ich möchte den Newsletter"
CUSTOMER_HEADER = ["id", "email", "phone", "first_name", "last_name", "locale", "timezone"]
CUSTOMER_HEADER += ["country", "attr.segment"]


def write_files(folder: Path, n: int, seed: int = 7) -> tuple[Path, Path]:
    rng = random.Random(seed)
    customers, consent = folder / "customers.csv", folder / "consent.csv"
    with (
        customers.open("w", encoding="utf-8", newline="") as c,
        consent.open("w", encoding="utf-8", newline="") as k,
    ):
        cw, kw = csv.writer(c), csv.writer(k)
        cw.writerow(CUSTOMER_HEADER)
        kw.writerow(["customer_id", "channel", "status", "source", "at", "ip", "system", "wording"])
        for i in range(n):
            name = rng.choice(_NAMES)
            phone = f"0151 {rng.randint(10_000_000, 99_999_999)}"
            person = [f"c{i}", f"{name.lower()}.{i}@example.org", phone, name, "Muster", "de"]
            cw.writerow([*person, "Europe/Berlin", "DE", rng.choice(["b2c", "b2b", "vip"])])
            at = START + timedelta(seconds=rng.randint(0, 300 * 86400))
            given = [f"c{i}", "email", rng.choice(_STATUSES), "shop", at.isoformat()]
            kw.writerow([*given, f"192.0.2.{rng.randint(1, 254)}", "Shopware 6", _WORDING])
    return customers, consent


def run_journeyflow(
    folder: Path, customers: Path, consent: Path, batch: int, name: str = "journeyflow.db"
) -> tuple[float, float, ImportSummary, ImportSummary]:
    engine = create_db_engine(f"sqlite:///{folder / name}")
    create_schema(engine)
    began = time.perf_counter()
    people = import_file("customers", customers, engine, batch_size=batch)
    given = import_file("consent", consent, engine, batch_size=batch)
    first = time.perf_counter() - began
    began = time.perf_counter()
    import_file("customers", customers, engine, batch_size=batch)
    again = import_file("consent", consent, engine, batch_size=batch)
    second = time.perf_counter() - began
    engine.dispose()
    assert again.unchanged == given.created, again  # the second run changes nothing
    return first, second, people, given


def _attrs(segment: str) -> str:
    return json.dumps({"segment": segment})


def _ts(value: datetime) -> str:
    return value.isoformat(" ", "microseconds")[:26]


def run_floor(folder: Path, customers: Path, consent: Path, batch: int) -> float:
    """The same rows, normalised beforehand (not timed), with plain sqlite3."""
    path = folder / "floor.db"
    engine = create_db_engine(f"sqlite:///{path}")
    create_schema(engine)  # same tables, constraints and indexes
    engine.dispose()
    now = _ts(datetime.now(UTC))
    with customers.open(encoding="utf-8", newline="") as c:
        reader = csv.reader(c)
        next(reader)
        people = [
            (n + 1, r[0], r[1], to_e164(r[2], r[7]), *r[3:8], _attrs(r[8]), now, now)
            for n, r in enumerate(reader)
        ]
    with consent.open(encoding="utf-8", newline="") as k:
        reader = csv.reader(k)
        next(reader)
        consents = [
            (n + 1, r[1], r[2], r[3], _ts(datetime.fromisoformat(r[4])), r[5], r[6], r[7])
            for n, r in enumerate(reader)
        ]
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    began = time.perf_counter()
    for start in range(0, len(people), batch):
        part = people[start : start + batch]
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO customer (id, external_id, email, phone, first_name, last_name, locale,"
            " timezone, country, attributes, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            part,
        )
        db.execute("COMMIT")
    for start in range(0, len(consents), batch):
        given = consents[start : start + batch]
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO consent (customer_id, channel, status, source, at) VALUES (?, ?, ?, ?, ?)",
            [row[:5] for row in given],
        )
        db.executemany(
            "INSERT INTO consent_change (customer_id, channel, status, source, at, detail,"
            " purpose, system, wording) VALUES (?, ?, ?, ?, ?, 'ip=' || ?, 'marketing', ?, ?)",
            given,
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.importing", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="cProfile the journeyflow run")
    args = parser.parse_args(argv)
    n = args.customers

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{n} customers with one consent each, batches of {args.batch} (load {load})")
    with tempfile.TemporaryDirectory(prefix="journeyflow-bench-") as tmp:
        folder = Path(tmp)
        customers, consent = write_files(folder, n)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
        first, second, people, given = run_journeyflow(folder, customers, consent, args.batch)
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        ours = n / first
        print(
            f"journeyflow import: {ours:9,.0f} customers/s  ({first:.2f} s; "
            f"{people.created} customers, {given.created} consents, "
            f"{people.rejected + given.rejected} rejected)"
        )
        print(f"same files again:   {n / second:9,.0f} customers/s  ({second:.2f} s; unchanged)")
        floor_elapsed = run_floor(folder, customers, consent, args.batch)
        floor = n / floor_elapsed
        print(f"sqlite3 floor:      {floor:9,.0f} customers/s  ({floor_elapsed:.2f} s)")
        ratio = ours / floor
        verdict = "ok" if ratio >= GOAL else "below the 1/4 goal"
        print(f"ratio import/floor: {ratio:.3f} (1/{1 / ratio:.1f}; goal >= {GOAL}: {verdict})")


if __name__ == "__main__":
    main()
