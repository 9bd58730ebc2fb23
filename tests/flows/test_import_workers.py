"""A large file's rows are checked in worker processes: what the user gets is the same
as when the importing process checks every row itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from flows import importing
from flows.importing import import_file
from journeys.config import PROJECT_ROOT
from journeys.store import create_db_engine, create_schema
from journeys.store.tables import consent_t, customer_t

ROWS = 3_500
_BAD = {  # line: (the row, the field its reject names)
    40: ("b40,b40@example.com,0151 1,DE,Europe/Berlin", "phone"),
    1_200: ("b1200,not-an-address,,DE,Europe/Berlin", "email"),
    2_600: ("b2600,b2600@example.com,,DE,Mars/Base", "timezone"),
    3_100: ("b3100,b3100@example.com,,DE", ""),  # a field short
}


def _files(folder: Path) -> tuple[Path, Path]:
    customers, consent = folder / "customers.csv", folder / "consent.csv"
    people = ["id,email,phone,country,timezone"]
    given = ["customer_id,channel,status,at,ip"]
    for line in range(2, ROWS + 2):
        bad = _BAD.get(line)
        people.append(
            bad[0] if bad else f"c{line},c{line}@example.org,0151 {line:08d},DE,Europe/Berlin"
        )
        status = "pending" if line % 7 == 0 else "subscribed"
        given.append(
            f"c{line},email,{status},2026-03-01T10:{line % 60:02d}:00Z,192.0.2.{line % 250}"
        )
    customers.write_text("\n".join(people) + "\n", encoding="utf-8")
    consent.write_text("\n".join(given) + "\n", encoding="utf-8")
    return customers, consent


def _import(folder: Path, workers: int) -> tuple[list[object], list[str], Engine]:
    engine = create_db_engine(f"sqlite:///{folder / f'w{workers}.db'}")
    create_schema(engine)
    customers, consent = _files(folder)
    people = import_file("customers", customers, engine, workers=workers)
    rejects = customers.with_name("customers.rejects.csv").read_text(encoding="utf-8")
    given = import_file("consent", consent, engine, workers=workers)
    figures = [(s.rows, s.created, s.updated, s.unchanged, s.rejected) for s in (people, given)]
    return figures, rejects.splitlines(), engine


def _stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        people = conn.execute(
            select(customer_t.c.external_id, customer_t.c.email, customer_t.c.phone)
        ).all()
        given = conn.execute(select(consent_t.c.customer_id, consent_t.c.status)).all()
    return sorted(tuple(r) for r in people) + sorted(tuple(r) for r in given)


def test_workers_import_what_the_importing_process_alone_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks: many go out while the import runs, so the workers take some of them.
    monkeypatch.setattr(importing, "CHUNK", 100)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with_workers, rejects, engine = _import(tmp_path / "a", workers=1)
    alone, rejects_alone, engine_alone = _import(tmp_path / "b", workers=0)

    assert with_workers == alone
    good = ROWS - len(_BAD)
    assert with_workers[0] == (ROWS, good, 0, 0, len(_BAD))
    # Consent for the rejected customers is rejected in turn: they are not there.
    assert with_workers[1] == (ROWS, good, 0, 0, len(_BAD))
    assert rejects == rejects_alone
    named = [line.split(",")[:2] for line in rejects[1:]]
    assert named == [[str(line), field] for line, (_, field) in sorted(_BAD.items())]
    assert _stored(engine) == _stored(engine_alone)
    row = next(r for r in _stored(engine) if r[0] == "c2")
    assert row == ("c2", "c2@example.org", "+4915100000002")
    engine.dispose()
    engine_alone.dispose()


_PROGRAM = """\
import os, pathlib, sys
if __name__ == "__mp_main__":  # imported again in a new process
    pathlib.Path(os.environ["MARK"]).write_text("imported again")
if __name__ == "__main__":
    sys.path.insert(0, os.environ["PROJECT"])
    from flows.import_pool import CheckPool
    with CheckPool(len, 1) as pool:
        pool._start()
        assert pool._starter is not None
        pool._starter.join()
        assert pool._executor is not None
        assert all(ready.result(timeout=120) for ready in pool._ready)
        print(pool._executor.submit(len, [1, 2]).result(timeout=120))
"""


def test_a_worker_starts_without_importing_the_program_again(tmp_path: Path) -> None:
    """The `journeyflow` command's module is the whole CLI: a worker that imported it
    again, as multiprocessing makes new processes do, would start a second later."""
    program = tmp_path / "program.py"
    program.write_text(_PROGRAM, encoding="utf-8")
    mark = tmp_path / "mark"
    env = {**os.environ, "MARK": str(mark), "PROJECT": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"]  # a worker checked a chunk
    assert not mark.exists()
