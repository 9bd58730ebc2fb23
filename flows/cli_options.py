"""Options several commands share, declared once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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


def company_settings() -> dict[str, Any]:
    """The company details messages carry (the environment's); exit 2 naming a bad one."""
    from channels.errors import ChannelConfigError
    from channels.render_settings import RenderSettings

    try:
        return dict(RenderSettings.from_env().company)
    except ChannelConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
