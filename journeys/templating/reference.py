"""docs/templates.md, generated from the render context's types and the filters: the
contract a template is written against (`journeyflow schema --write` writes it; a test
checks the committed page is current)."""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints

from .context import RenderContext
from .filters import FILTERS

_ABOUT = {
    "customer": "The recipient, as the store knows them when the message is rendered.",
    "event": "The event behind the stage entry: `type`, `occurred_at`, `data`, and the "
    "data's keys at the top level. See *What each way into a stage provides* below.",
    "stage": "The stage the message belongs to.",
    "journey": "The journey (and the version the customer entered).",
    "promo_code": "Only when the action declares `promo_code:`; the validator refuses "
    "`promo_code` in a template whose action has none.",
    "links": "Signed, expiring, per-customer URLs, made at send time.",
    "company": "The sender's company, from the settings (legally required details).",
    "variant": "The A/B variant the customer was assigned, or nothing.",
    "now": "The moment of rendering (UTC).",
}


def reference_text() -> str:
    """The page, as Markdown."""
    lines = [
        "# Templates: what a message can read",
        "",
        "Generated from `journeys/templating/context.py` and `filters.py` by `journeyflow "
        "schema --write`; do not edit by hand. Templates are Jinja2 in a sandbox with "
        "strict undefined variables: reading anything not listed here is an error "
        "`journeyflow validate` reports before a message is sent.",
        "",
        "## Variables",
    ]
    hints = get_type_hints(RenderContext, include_extras=True)
    for root, hint in hints.items():
        lines += ["", f"### `{root}`", "", _ABOUT.get(root, "")]
        fields = getattr(hint, "__args__", (hint,))[0] if "NotRequired" in str(hint) else hint
        if isinstance(fields, type) and hasattr(fields, "__annotations__"):
            lines += ["", "| field | type |", "|---|---|"]
            for name, field in get_type_hints(fields).items():
                shown = _short(field).replace("|", "\\|")  # a pipe would end the cell
                lines.append(f"| `{root}.{name}` | `{shown}` |")
        else:
            lines += ["", f"Type: `{_short(hint)}`."]
    lines += ["", "## Filters", "", "| filter | what it does |", "|---|---|"]
    for name, function in sorted(FILTERS.items()):
        doc = inspect.getdoc(function) or ""
        first = doc.splitlines()[0].replace("|", "\\|") if doc else ""
        lines.append(f"| `{name}` | {first} |")
    lines += [
        "",
        "Besides these, Jinja's own filters and tests (`default`, `upper`, `round`, "
        "`is defined`, …) work as documented by Jinja.",
        "",
        "## What each way into a stage provides",
        "",
        "| the stage was entered by | `event` holds |",
        "|---|---|",
        "| an event trigger (`enter_when: {event: …}`) | that event: its `type`, "
        "`occurred_at` and `data` |",
        "| a wait (`after`, `no_event_for`) | the event that entered the stage the customer "
        "waited in (after a chain of waits, the one before the first): an abandoned-cart "
        "reminder shows the cart as it last changed |",
        "| a yearly date or a schedule (`every_year`, `every`) | no event: `event.data` is empty |",
        "| a `move_to` from another stage | no event: `event.data` is empty |",
        "| a person (the people API, by hand) | no event: `event.data` is empty |",
        "",
        "A delayed or timed action renders with the event of its stage entry, however "
        "long after it falls due. Where a stage can be entered without an event, read its "
        "data guarded: `{% if event.data.total is defined %}…{% endif %}` (also as the "
        "left side of an `and`, or `a if event.data.x is defined else b`) or with a "
        "default: `{{ event.data.total|default(0) }}`. With a tracking plan, `journeyflow "
        "validate` checks every `event.data.<field>` against the events that enter the "
        "stage (see docs/tracking-plan.md).",
    ]
    return "\n".join(lines) + "\n"


def _short(hint: Any) -> str:
    text = str(hint)
    for noise in ("typing.", "<class '", "'>", "datetime.", "NotRequired[", "Required["):
        text = text.replace(noise, "")
    if text.endswith("]") and "NotRequired" in str(hint):
        text = text[:-1]
    return text.split(".")[-1] if "." in text and "[" not in text else text
