"""A journey as a Mermaid flowchart (kept for `from journeys import mermaid`)."""

from __future__ import annotations

from .journey_map import journey_map
from .map_draw import to_mermaid
from .model import Journey


def mermaid(journey: Journey, locale: str | None = None, *, technical: bool = False) -> str:
    """Render the journey map as a Mermaid `flowchart LR`."""
    return to_mermaid(journey_map(journey, locale, technical=technical))
