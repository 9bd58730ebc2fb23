"""`journeyflow messages`: the messages that wait for a person, not a dispatcher.

- `messages unknown`: sends whose outcome is unknown (the request left, no answer came,
  and no provider report has settled them since), held for longer than a window;
- `messages quarantined`: actions that kept crashing the dispatchers that held them;
- `messages release ID …`: an operator's decision to send them again, with a reason,
  recorded in the store (`action_release`).

Thin over `held` and `release`, which tests call.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from journeys.store.outbox.review import HeldAction

console = Console()
messages_app = typer.Typer(
    name="messages",
    help="Messages held back for a person: unknown outcomes, quarantined actions.",
    no_args_is_help=True,
)


def held(
    status: str, older_than: timedelta, *, now: datetime | None = None, limit: int = 1000
) -> list[HeldAction]:
    """Actions in `status` held for longer than `older_than`, oldest first."""
    from journeys.store import create_schema, database_url, get_engine, session_scope
    from journeys.store.outbox.review import held_actions

    engine = get_engine(database_url())
    create_schema(engine)
    before = (now or datetime.now(UTC)) - older_than
    with session_scope(engine, readonly=True) as session:
        return held_actions(session, status, before=before, limit=limit)


def release(
    ids: list[int], *, operator: str, reason: str, now: datetime | None = None
) -> list[int]:
    """Release these unknown or quarantined actions for one more send; the ids released."""
    from journeys.store import create_schema, database_url, get_engine, session_scope
    from journeys.store.outbox.review import release_actions

    engine = get_engine(database_url())
    create_schema(engine)
    with session_scope(engine) as session:
        return release_actions(
            session, ids, operator=operator, reason=reason, now=now or datetime.now(UTC)
        )


def _table(actions: list[HeldAction], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("id", "since (UTC)", "journey", "kind", "template", "customer", "why"):
        table.add_column(column, overflow="fold")
    for a in actions:
        table.add_row(
            str(a.id),
            f"{a.since:%Y-%m-%d %H:%M}",
            a.journey,
            a.kind,
            a.template or "",
            a.customer,
            a.last_error or "",
        )
    return table


def _duration(value: str) -> timedelta:
    from journeys.types import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _show(status: str, older_than: str, limit: int, hint: str) -> None:
    actions = held(status, _duration(older_than), limit=limit)
    if not actions:
        console.print(f"no {status} messages held for longer than {older_than}")
        return
    console.print(_table(actions, f"{len(actions)} {status} message(s), oldest first"))
    console.print(hint, highlight=False)


@messages_app.command("unknown")
def unknown_command(
    older_than: Annotated[
        str, typer.Option(help="Only those unknown for longer than this (e.g. 1h, 2d)")
    ] = "1h",
    limit: Annotated[int, typer.Option(min=1, help="Most rows to list")] = 1000,
) -> None:
    """List sends whose outcome is still unknown: the provider may have them."""
    _show(
        "unknown",
        older_than,
        limit,
        "A provider's report settles these by itself. Check the provider's activity log; "
        "only a message it never got should be released (journeyflow messages release).",
    )


@messages_app.command("quarantined")
def quarantined_command(
    older_than: Annotated[str, typer.Option(help="Only those held longer than this")] = "0s",
    limit: Annotated[int, typer.Option(min=1, help="Most rows to list")] = 1000,
) -> None:
    """List actions held back because dispatchers kept dying while they held them alone."""
    _show(
        "quarantined",
        older_than,
        limit,
        "Look at the template and the customer's data first; release once fixed.",
    )


@messages_app.command("release")
def release_command(
    ids: Annotated[list[int], typer.Argument(help="Ids of unknown or quarantined actions")],
    reason: Annotated[str, typer.Option(help="Why they may be sent again (recorded)")],
    by: Annotated[
        str | None, typer.Option(help="Who decides (recorded; default: the login name)")
    ] = None,
) -> None:
    """Send unknown or quarantined actions once more, recording who decided and why."""
    operator = by or getpass.getuser()
    try:
        released = release(ids, operator=operator, reason=reason)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    left = sorted(set(ids) - set(released))
    console.print(f"released {len(released)} action(s) for one more send, recorded as {operator}")
    if left:
        console.print(
            f"[yellow]not held, left alone:[/yellow] {', '.join(map(str, left))}", highlight=False
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `journeyflow messages …` to the command line."""
    app.add_typer(messages_app)
