"""Which journeys the demo runs, and why.

The shipped journeys are alternatives: four models of the same customer journey (each
thanks for an order) and the newsletter's double opt-in. A team enables one coherent
set, and so does the demo: with the shipped journeys and no setting it runs one
lifecycle, the opt-in, the event registration, the abandoned cart and the birthday
greeting. A team's own folder, or JOURNEYFLOW_ENABLED_JOURNEYS, decides
as it does in production (`journeys.validate.enabled`).
"""

from __future__ import annotations

from journeys import Journey, load_journeys
from journeys.config import SHIPPED_DEFINITIONS, definitions_dir, enabled_journeys
from journeys.validate import enabled

# One team's set of the shipped journeys: no two of them send the same message on the
# same event (`journeyflow validate` would warn).
DEMO_JOURNEYS = (
    "customer_lifecycle",
    "newsletter_opt_in",
    "event_registration",
    "abandoned_cart",
    "birthday_club",
)


def demo_journeys() -> tuple[list[Journey], str]:
    """The journeys the demo runs, and a phrase saying who chose them."""
    journeys = enabled(load_journeys())
    if enabled_journeys() is not None:
        return journeys, "as JOURNEYFLOW_ENABLED_JOURNEYS lists"
    if definitions_dir().resolve() != SHIPPED_DEFINITIONS.resolve():
        return journeys, "every journey not marked enabled: false"
    chosen = [j for j in journeys if j.journey in DEMO_JOURNEYS]
    return chosen, "the demo's set; JOURNEYFLOW_ENABLED_JOURNEYS=... runs others"
