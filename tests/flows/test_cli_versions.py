"""`journeyflow diff` and `journeyflow migrate` as an operator runs them.

The SIGKILL test of `migrate` is in test_migrate_kills.py; the rules of a migration are
tested without the command line in tests/journeys.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from migration_kills import CAUSE, V2, check, populate, project, snapshot
from typer.testing import CliRunner

from flows.cli import app
from journeys.store import dispose_engines

runner = CliRunner()
CUSTOMERS = 40  # a quarter each in signup, active, legacy, and gone


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A store with the population on version 1; version 2 in the journeys folder."""
    url = f"sqlite:///{tmp_path / 'versions.db'}"
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYFLOW_JOURNEYS", str(project(tmp_path)))
    populate(url, CUSTOMERS, datetime.now(UTC) - timedelta(hours=1))
    yield url
    dispose_engines()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


# --- diff ------------------------------------------------------------------------------


def test_diff_names_each_change_and_the_customers_it_touches(store: str) -> None:
    code, out = invoke("diff", "trial", "--from", "1", "--to", "2")

    assert code == 0, out
    quarter = CUSTOMERS // 4
    lines = [line.strip() for line in out.splitlines()]
    assert f"journey trial: version 1 (store) -> 2 ({project_file(store)})" in lines
    assert f"customers in flight on version 1: {3 * quarter}" in lines
    assert (
        f"~ renamed   active -> buyer (by the migration) · {quarter} customers in flight, "
        "they move to buyer" in lines
    )
    assert (
        f"- removed   legacy · {quarter} customers in flight, not in the migration: "
        "they stay on version 1" in lines
    )
    assert (
        f"~ changed   signup · {quarter} customers in flight, they carry over to version 2" in lines
    )
    # Each signup customer has one pending 'late' and one pending 'nudge'.
    assert f"action removed: late · {quarter} pending actions" in lines
    assert f"action changed: nudge · {quarter} pending actions" in lines
    assert "after: 2d -> 3d" in lines
    assert "trigger removed: no_event_for 30d from [buyer]" in lines


def project_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///")).parent / "journeys" / "trial.yaml"


def test_diff_of_versions_that_are_not_there_says_which_are(store: str) -> None:
    code, out = invoke("diff", "trial", "--from", "1", "--to", "5")
    assert code == 1
    assert "journey 'trial' has no version 5 (registered in the store: 1;" in " ".join(out.split())

    code, out = invoke("diff", "trail", "--from", "1", "--to", "2")
    assert code == 1 and "unknown journey 'trail'" in out and "did you mean 'trial'" in out

    code, out = invoke("diff", "trial", "--from", "2", "--to", "1")
    assert code == 2 and "must be older" in out


# --- migrate ---------------------------------------------------------------------------


def test_the_dry_run_says_who_moves_where_and_changes_nothing(store: str) -> None:
    before = snapshot(store)

    code, out = invoke("migrate", "trial", "--to", "2", "--dry-run")

    assert code == 0, out
    assert snapshot(store) == before
    quarter = CUSTOMERS // 4
    lines = [line.strip() for line in out.splitlines()]
    assert f"{CAUSE} (dry run: nothing changes)" in lines
    # The first customers in active, in enrollment order: those with i % 4 == 1.
    first = ", ".join(f"c{i:05d}" for i in range(1, 20, 4))
    assert f"active -> buyer (mapping): {quarter} customers, e.g. {first}" in lines
    assert any(line.startswith(f"legacy: {quarter} customers stay on version 1") for line in lines)
    assert (
        f"in signup: signup.late (webhook): {quarter} cancelled - cancelled by {CAUSE}: "
        "stage signup of version 2 has no delayed webhook 'late'" in lines
    )
    assert f"would move {2 * quarter} customers" in out


def test_migrate_registers_the_new_version_moves_everyone_and_then_has_nothing_to_do(
    store: str,
) -> None:
    before = snapshot(store)

    code, out = invoke("migrate", "trial", "--to", "2", "--batch-size", "3")

    assert code == 0, out
    quarter = CUSTOMERS // 4
    assert "registered version 2 from" in out
    assert f"moved {2 * quarter} customers to version 2 in {-(-2 * quarter // 3)} batches" in out
    check(before, snapshot(store), datetime.now(UTC))

    after = snapshot(store)
    code, out = invoke("migrate", "trial", "--to", "2")
    assert code == 0 and "nobody to move" in out
    assert snapshot(store) == after


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        (
            ("migrations:\n  - from_version: 1\n    stages: {active: buyer}\n", ""),
            (),
            "declares no `migrations:`",
        ),
        (
            ("{active: buyer}", "{activ: buyer}"),
            (),
            "has no stage 'activ' (did you mean 'active'?)",
        ),
        (("{active: buyer}", "{active: buyr}"), (), "version 2 has no stage 'buyr'"),
        ((), ("--from", "3"), "declares no migration from version 3 (it declares from 1)"),
        ((), ("--to", "3"), "journey 'trial' has no version 3"),
    ],
)
def test_a_migration_that_cannot_run_says_why(
    store: str, change: tuple[str, ...], args: tuple[str, ...], message: str
) -> None:
    path = project_file(store)
    if change:
        path.write_text(V2.replace(*change), encoding="utf-8")
    before = snapshot(store)

    code, out = invoke("migrate", "trial", *(args if "--to" in args else ("--to", "2", *args)))

    assert code == 1
    assert message in " ".join(out.split())
    assert snapshot(store) == before


def test_a_version_already_registered_is_taken_from_the_store(store: str) -> None:
    """Once registered, a version is what ran: an edited file under the same number
    does not change what `diff` compares."""
    assert invoke("migrate", "trial", "--to", "2")[0] == 0
    edited = V2.replace("{key: thanks, after: 1d", "{key: thanks, after: 9d")
    project_file(store).write_text(edited, encoding="utf-8")

    code, out = invoke("diff", "trial", "--from", "1", "--to", "2")

    assert code == 0, out
    assert "journey trial: version 1 (store) -> 2 (store)" in out
    assert "after: 1d -> 9d" not in out
    # Nobody is on version 1 in a stage the migration covers any more.
    assert "customers in flight on version 1: 10" in out


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ref=st.text(max_size=60) | st.sampled_from(["", "x.yaml", "/dev/null", "a\x00b", "/"]),
    number=st.integers(-5, 10**20) | st.sampled_from([0, 2**31 - 1, 2**31, 2**63]),
)
def test_garbage_is_refused_with_a_message(store: str, ref: str, number: int) -> None:
    for args in (
        ["diff", ref, "--from", "1", "--to", str(number)],
        ["migrate", ref, "--to", str(number), "--dry-run"],
        ["migrate", "trial", "--to", "2", "--batch-size", str(number), "--dry-run"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            repr(result.exception),
        )
        if result.exit_code:
            assert result.output.strip()
