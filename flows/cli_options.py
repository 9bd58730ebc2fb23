"""Options several commands share, declared once."""

from __future__ import annotations

from datetime import timedelta

import typer

LEASE_OPTION = typer.Option(
    "--lease",
    min=5,
    max=3600,
    metavar="SECONDS",
    help="How long a dispatcher's claim holds without renewal (default 60; renewed at "
    "every chunk): a crashed dispatcher's messages are sent by another after it",
    show_default=False,
)


def lease_of(seconds: float | None) -> timedelta | None:
    """The lease the option names, or None for the deployments' default."""
    return None if seconds is None else timedelta(seconds=seconds)
