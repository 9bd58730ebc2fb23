"""`journeyflow diff` and `journeyflow migrate`: a new version of a journey and the
customers in flight on the old one.

- `diff JOURNEY --from 1 --to 2`: stages added, removed and renamed, triggers and
  actions changed, and how many customers in flight each change touches;
- `migrate JOURNEY --to 2 [--dry-run]`: the new version's `migrations:` executed for
  the customers in flight, in batches; the dry run says who moves where and which
  pending actions are carried, cancelled or kept.

Thin over `journeys.version_diff`, `journeys.migrate` and `journeys.store.state.migrating*`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from journeys.errors import JourneyflowError

if TYPE_CHECKING:
    from journeys.migrate import MigrationPlan
    from journeys.model import Journey
    from journeys.store.state.migrating import MigrationTally
    from journeys.version_diff import JourneyDiff, StageDiff

    from .versions import Found

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

JOURNEY_ARG = typer.Argument(help="Journey key, or a path to its YAML file")
# Versions are stored as 32-bit integers (PostgreSQL's INTEGER).
MAX_VERSION = 2**31 - 1


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def _n(count: int, what: str) -> str:
    plural = what + ("es" if what.endswith("ch") else "s")
    return f"{count:,} {what if count == 1 else plural}"


# --- diff ------------------------------------------------------------------------------


def _stage_lines(
    stage: StageDiff,
    diff: JourneyDiff,
    plan: MigrationPlan | None,
    counts: dict[str, int],
    pending: dict[tuple[str, str], int],
) -> list[str]:
    how = stage.how
    if how == "added":
        moved_in = sum(
            counts.get(s, 0)
            for s, t in (plan.moves if plan else {}).items()
            if t == stage.new and s != t
        )
        extra = f" · {_n(moved_in, 'customer')} move in by the migration" if moved_in else ""
        return [f"  + added     {stage.new}{extra}"]
    assert stage.old is not None
    flight = _n(counts.get(stage.old, 0), "customer") + " in flight"
    if plan is None:
        fate = f"they stay on version {diff.from_version}"
    elif plan.moves.get(stage.old) == stage.old:
        fate = f"they carry over to version {diff.to_version}"
    elif stage.old in plan.moves:
        fate = f"they move to {plan.moves[stage.old]}"
    else:
        fate = f"not in the migration: they stay on version {diff.from_version}"
    if how == "removed":
        return [f"  - removed   {stage.old} · {flight}, {fate}"]
    head = {"renamed": "~ renamed  ", "changed": "~ changed  ", "unchanged": "= unchanged"}[how]
    name = f"{stage.old} -> {stage.new}" if how == "renamed" else stage.old
    by = {"mapping": " (by the migration)", "content": " (same triggers and actions)"}
    lines = [f"  {head} {name}{by.get(stage.renamed or '', '')} · {flight}, {fate}"]
    lines += [f"      trigger removed: {t}" for t in stage.triggers_removed]
    lines += [f"      trigger added:   {t}" for t in stage.triggers_added]
    if stage.triggers_reordered:
        lines.append("      triggers in another order (the first that matches wins)")
    if stage.final_changed:
        lines.append("      final changed")
    for change in stage.actions:
        waiting = pending.get((stage.old, change.key), 0)
        tail = f" · {_n(waiting, 'pending action')}" if change.change != "added" else ""
        lines.append(f"      action {change.change}: {change.key}{tail}")
        lines += [f"          {d}" for d in change.details]
    return lines


def _print_diff(
    diff: JourneyDiff,
    plan: MigrationPlan | None,
    counts: dict[str, int],
    pending: dict[tuple[str, str], int],
) -> None:
    console.print(f"customers in flight on version {diff.from_version}: {sum(counts.values()):,}")
    console.print("stages:")
    for stage in diff.stages:
        for line in _stage_lines(stage, diff, plan, counts, pending):
            console.print(line, markup=False)
    for old, new in diff.moves:
        console.print(
            f"moved by the migration: {old} -> {new} · {_n(counts.get(old, 0), 'customer')}",
            markup=False,
        )
    if diff.other:
        console.print("other changes: " + ", ".join(diff.other))
    if not diff.changed:
        console.print("no changes")


def _versions(ref: str, from_version: int, to_version: int) -> tuple[Found, Found]:
    from journeys.store import create_schema, database_url, get_engine, session_scope

    from .versions import journey_file, require_version

    key, file, path = journey_file(ref)
    engine = get_engine(database_url())
    create_schema(engine)
    with session_scope(engine, readonly=True) as session:
        conn = session.connection()
        return (
            require_version(conn, key, from_version, file, path),
            require_version(conn, key, to_version, file, path),
        )


def diff_command(
    journey: Annotated[str, JOURNEY_ARG],
    from_version: Annotated[
        int, typer.Option("--from", min=1, max=MAX_VERSION, help="The older version")
    ],
    to_version: Annotated[
        int, typer.Option("--to", min=1, max=MAX_VERSION, help="The newer version")
    ],
) -> None:
    """What changed between two versions of a journey, and whom each change touches."""
    from journeys.migrate import MigrationError, plan_migration
    from journeys.store import database_url, get_engine, session_scope
    from journeys.store.state.migrating_preview import customers_by_stage, pending_by_action
    from journeys.version_diff import diff_journeys

    if from_version >= to_version:
        err_console.print(f"[red]--from {from_version} must be older than --to {to_version}[/red]")
        raise typer.Exit(2)
    try:
        old, new = _versions(journey, from_version, to_version)
    except JourneyflowError as exc:
        raise _fail(str(exc)) from None
    key = new.journey.journey
    console.print(
        f"journey {key}: version {from_version} ({old.source}) -> {to_version} ({new.source})"
    )
    diff = diff_journeys(old.journey, new.journey)
    plan: MigrationPlan | None = None
    try:
        plan = plan_migration(old.journey, new.journey)
    except MigrationError as exc:
        console.print(f"[yellow]{exc}[/yellow]")
    with session_scope(get_engine(database_url()), readonly=True) as session:
        conn = session.connection()
        counts = customers_by_stage(conn, key, from_version)
        pending = pending_by_action(conn, key, from_version)
    _print_diff(diff, plan, counts, pending)


# --- migrate ---------------------------------------------------------------------------


def _plans(
    ref: str, to_version: int, only: int | None
) -> tuple[Found, list[tuple[Journey, MigrationPlan]]]:
    from journeys.migrate import MigrationError, plan_migration
    from journeys.store import create_schema, database_url, get_engine, session_scope
    from journeys.store.registry import stored_journey

    from .versions import journey_file, require_version

    key, file, path = journey_file(ref)
    engine = get_engine(database_url())
    create_schema(engine)
    with session_scope(engine, readonly=True) as session:
        conn = session.connection()
        target = require_version(conn, key, to_version, file, path)
        new = target.journey
        sources = sorted(m.from_version for m in new.migrations)
        if only is not None:
            if only not in sources:
                raise MigrationError(
                    f"journey '{key}' version {to_version} declares no migration from version "
                    f"{only}"
                    + (f" (it declares from {', '.join(map(str, sources))})" if sources else "")
                )
            sources = [only]
        if not sources:
            raise MigrationError(
                f"journey '{key}' version {to_version} declares no `migrations:`; customers "
                "in flight stay on their version"
            )
        plans = []
        for version in sources:
            old = stored_journey(conn, key, version)
            if old is None:
                console.print(f"version {version}: never registered in this store, nobody to move")
                continue
            plans.append((new, plan_migration(old, new)))
    return target, plans


def _print_preview(plan: MigrationPlan, new: Journey, now: datetime) -> None:
    from journeys.store import database_url, get_engine, session_scope
    from journeys.store.state.migrating_preview import preview_migration

    with session_scope(get_engine(database_url()), readonly=True) as session:
        preview = preview_migration(session.connection(), plan, new, now)
    console.print(f"{plan.cause} (dry run: nothing changes)", markup=False)
    for move in preview.moves:
        how = "mapping" if move.declared else "same key"
        first = f", e.g. {', '.join(move.first)}" if move.first else ""
        console.print(
            f"  {move.stage} -> {move.target} ({how}): {_n(move.customers, 'customer')}{first}",
            markup=False,
        )
    for stage, n in preview.stays:
        console.print(
            f"  {stage}: {_n(n, 'customer')} stay on version {plan.from_version} "
            f"(version {plan.to_version} has no such stage and the mapping does not name it)",
            markup=False,
        )
    if preview.actions:
        console.print("  pending actions:")
    for g in preview.actions:
        console.print(
            f"    in {g.stage}: {g.action_stage}.{g.action_key} ({g.kind}): "
            f"{g.count:,} {g.fate} - {g.reason}",
            markup=False,
        )
    console.print(
        f"would move {_n(preview.moving, 'customer')}; pending actions: "
        f"{preview.count('carried'):,} carried, {preview.count('cancelled'):,} cancelled, "
        f"{preview.count('kept'):,} kept"
    )


def _run(plan: MigrationPlan, new: Journey, batch_size: int) -> MigrationTally:
    from journeys.store import database_url, get_engine, session_scope
    from journeys.store.state.migrating import remaining, run_migration

    engine = get_engine(database_url())
    with session_scope(engine, readonly=True) as session:
        total = remaining(session.connection(), plan)
    shown = [0.0]

    def progress(tally: MigrationTally) -> None:
        # A line a second at most: a million customers are two thousand batches.
        if time.monotonic() - shown[0] >= 1.0:
            shown[0] = time.monotonic()
            console.print(f"  moved {tally.moved:,} of {total:,} ({_n(tally.batches, 'batch')})")

    console.print(
        f"{plan.cause}: {_n(total, 'customer')} to move, in batches of {batch_size}",
        markup=False,
    )
    tally = run_migration(
        engine, plan, new, lambda: datetime.now(UTC), batch_size=batch_size, progress=progress
    )
    if not tally.moved and not tally.left:
        console.print(
            f"nobody to move: no customer in flight on version {plan.from_version} "
            "in a stage the migration covers"
        )
        return tally
    completed = (
        f" ({tally.completed:,} of them into a final stage: completed)" if tally.completed else ""
    )
    console.print(
        f"moved {_n(tally.moved, 'customer')}{completed} to version {plan.to_version} in "
        f"{_n(tally.batches, 'batch')}; pending actions: {tally.carried:,} carried, "
        f"{tally.cancelled:,} cancelled, {tally.kept:,} kept",
        markup=False,
    )
    return tally


def migrate_command(
    journey: Annotated[str, JOURNEY_ARG],
    to_version: Annotated[
        int, typer.Option("--to", min=1, max=MAX_VERSION, help="The version to move customers to")
    ],
    from_version: Annotated[
        int | None,
        typer.Option(
            "--from",
            min=1,
            max=MAX_VERSION,
            help="Only the migration from this version (default: every one declared)",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print who would move where and change nothing")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Customers moved per transaction")
    ] = 500,
) -> None:
    """Move customers in flight to a newer version by its declared `migrations:`."""
    from journeys.store import database_url, get_engine

    from .versions import VersionsError, register_file_version

    try:
        target, plans = _plans(journey, to_version, from_version)
        if target.from_file and not dry_run and plans:
            register_file_version(get_engine(database_url()), target)
            console.print(f"registered version {to_version} from {target.source}")
    except (JourneyflowError, VersionsError) as exc:
        raise _fail(str(exc)) from None
    left = 0
    for new, plan in plans:
        if dry_run:
            _print_preview(plan, new, datetime.now(UTC))
        else:
            left += _run(plan, new, batch_size).left
    if left:
        raise _fail(
            f"{_n(left, 'customer')} were being moved by other writers the whole time; "
            "run migrate again to move them"
        )


def register(app: typer.Typer) -> None:
    """Add `journeyflow diff` and `journeyflow migrate` to the command line."""
    app.command("diff")(diff_command)
    app.command("migrate")(migrate_command)
