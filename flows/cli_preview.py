"""`journeyflow preview JOURNEY ACTION`: one message as the customer would get it.

The text goes to the terminal, the HTML to a file to open; `--screenshot` also draws it
in headless Chromium (the distribution's `chromium`) as a PNG at `--width` pixels, the
way the README's picture of an email was made. Thin over `flows.preview`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def preview(
        journey: Annotated[str, typer.Argument(help="Journey key, or a path to its YAML file")],
        action: Annotated[str, typer.Argument(help="Action key, or stage.action if not unique")],
        customer: Annotated[
            Path | None, typer.Option(help="JSON file with the customer's profile fields")
        ] = None,
        sample: Annotated[bool, typer.Option("--sample", help="Use a sample customer")] = False,
        locale: Annotated[
            str | None, typer.Option(help="Render in this locale (de, en, de-AT)")
        ] = None,
        variant: Annotated[str | None, typer.Option(help="A/B variant to show")] = None,
        event: Annotated[
            Path | None,
            typer.Option(
                help="JSON file with the event that entered the stage: {type, data} "
                "(default: none, as after a timer)"
            ),
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="HTML file to write")
        ] = None,
        screenshot: Annotated[
            Path | None,
            typer.Option(help="Also draw the message as a PNG (headless Chromium)"),
        ] = None,
        width: Annotated[
            int, typer.Option(min=320, max=2000, help="Window width of the screenshot, px")
        ] = 680,
    ) -> None:
        """Render one message of a journey to the terminal and to an HTML file to open."""
        from journeys.config import folders_in_use

        from .cli import _find_journey
        from .preview import PreviewError, read_event
        from .preview import preview as render_preview

        if customer is not None and sample:
            err_console.print("[red]give either --customer FILE or --sample, not both[/red]")
            raise typer.Exit(2)
        # On stderr: stdout is the message itself.
        err_console.print(folders_in_use(), highlight=False, soft_wrap=True)
        found = _find_journey(journey)
        try:
            given = read_event(event) if event is not None else None
            shown = render_preview(
                found, action, locale=locale, customer_file=customer, variant=variant, event=given
            )
        except PreviewError as exc:
            err_console.print(f"[red]{exc}[/red]", highlight=False)
            raise typer.Exit(1) from None
        msg = shown.message
        console.print(f"[bold]{msg.channel}[/bold] to {msg.to}", highlight=False)
        for name, value in (
            ("From", msg.from_email),
            ("Reply-To", msg.reply_to),
            ("Subject", msg.subject),
            *msg.headers.items(),
        ):
            if value:
                console.print(f"[cyan]{name}:[/cyan] {value}", highlight=False, soft_wrap=True)
        console.print()
        console.print(msg.text or "", markup=False, highlight=False)
        where = output or Path("var/preview") / (
            f"{found.journey}.{shown.stage}.{shown.action}.{locale or found.locale}.html"
        )
        where.parent.mkdir(parents=True, exist_ok=True)
        page = shown.html_page()
        where.write_text(page, encoding="utf-8")
        console.print(f"\nHTML: {where}", highlight=False)
        if screenshot is not None:
            _screenshot(page, screenshot, width)
            console.print(f"PNG: {screenshot}", highlight=False)


def _screenshot(page: str, path: Path, width: int) -> None:
    from .headless import Browser, BrowserError

    try:
        with Browser() as browser:
            browser.show(page, width)
            browser.screenshot(path)
    except BrowserError as exc:
        err_console.print(f"[red]cannot draw the screenshot: {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        err_console.print(f"[red]cannot write {path}: {exc.strerror}[/red]", highlight=False)
        raise typer.Exit(1) from None
