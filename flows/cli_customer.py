"""`journeyflow customer`: answering a person's GDPR request.

- `customer export ID`: every stored fact about the customer as one JSON document
  (Art. 15 and 20), on stdout or into a file;
- `customer erase ID`: their personal data gone from every table and the outbox folder
  (Art. 17); a keyed hash of the id, address and number stays on the erased list, so a
  later event or import does not bring them back.

Thin over `export_customer` and `erase_customer_everywhere`, which tests call.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from journeys.store.people.erasure import Erasure

customer_app = typer.Typer(
    name="customer",
    help="One customer's data: export it, erase it (GDPR).",
    no_args_is_help=True,
)


def export_customer(external_id: str, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The customer's export document; None when there is no such customer."""
    from journeys.store import create_schema, database_url, get_engine, session_scope
    from journeys.store.people.view import customer_export

    engine = get_engine(database_url())
    create_schema(engine)
    with session_scope(engine, readonly=True) as session:
        return customer_export(session, external_id, now or datetime.now(UTC))


def erase_customer_everywhere(
    external_id: str, *, now: datetime | None = None, outbox: Path | None = None
) -> tuple[Erasure, int] | None:
    """Erase the customer in the store, then their outbox files; None when unknown.

    Returns what the store did and how many messages' files were removed.
    """
    from channels.outbox_erase import erase_outbox_files
    from channels.settings import ChannelSettings
    from journeys.store import create_schema, database_url, get_engine, session_scope
    from journeys.store.people.erasure import erase_customer

    engine = get_engine(database_url())
    create_schema(engine)
    with session_scope(engine) as session:
        done = erase_customer(session, external_id, now or datetime.now(UTC))
    if done is None:
        return None
    folder = outbox if outbox is not None else Path(ChannelSettings.from_env().outbox_dir)
    return done, erase_outbox_files(folder, done.message_keys)


def _unknown(external_id: str) -> typer.Exit:
    from journeys.store import database_url

    typer.echo(f"error: no customer '{external_id}' in {database_url()}", err=True)
    return typer.Exit(1)


@customer_app.command("export")
def export_command(
    customer_id: Annotated[str, typer.Argument(help="The customer's id in your CRM or shop")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout")
    ] = None,
) -> None:
    """Every stored fact about the customer, as one JSON document."""
    document = export_customer(customer_id)
    if document is None:
        raise _unknown(customer_id)
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    typer.echo(f"exported customer '{customer_id}' to {output}", err=True)


@customer_app.command("erase")
def erase_command(
    customer_id: Annotated[str, typer.Argument(help="The customer's id in your CRM or shop")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase the customer's personal data everywhere; counts stay, anonymous."""
    if not yes:
        typer.confirm(f"Erase customer '{customer_id}' for good?", abort=True)
    outcome = erase_customer_everywhere(customer_id)
    if outcome is None:
        raise _unknown(customer_id)
    done, files = outcome
    typer.echo(
        f"erased customer '{customer_id}': {done.cancelled} pending message(s) cancelled, "
        f"{len(done.message_keys)} message record(s) anonymised, {files} outbox message(s) "
        "deleted; the id, address and number are on the erased list"
    )


def register(app: typer.Typer) -> None:
    """Add `journeyflow customer …` to the command line."""
    app.add_typer(customer_app)
