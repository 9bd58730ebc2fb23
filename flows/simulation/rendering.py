"""Rendering in a simulation: every kind of message rendered, not every message.

A template error shows in the first messages of its kind: a variable the way into the
stage does not bring (`event.data.total` after a timer), a filter that fails on the
locale, a promo code that was never issued. Rendering each of a hundred thousand
customers' messages would show the same errors again at ten times the cost of the
rest of the simulation. So `SampledRenderer` renders, through the production
`Renderer`, the first `first` messages of each kind (journey, stage, action,
template, the customer's locale, the event that entered the stage, with or without a
promo code), then one in `every`, and every message of a kind that failed once; the
others are counted as the message they would be, without their text. `every=1`
renders all of them.

The defaults (the first 10, then 1 in 50) render about one message in seven of a
simulation of the shipped journeys: a kind's first ten messages already differ in
customer, data and event, and a failure that only some customers' data cause still
shows in one in fifty, after which every message of its kind is rendered.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from channels.message import OutboundMessage, SendResult
from channels.render import Renderer
from channels.render_context import PromoCodeLike
from journeys.model import Journey
from journeys.store.outbox.claims import ClaimedAction

from .defaults import RENDER_EVERY, RENDER_FIRST

Kind = tuple[Any, ...]
STAND_IN = "(counted by the simulation, not rendered)"


class SampledRenderer(Renderer):
    """The production renderer, rendering a sample of each kind of message."""

    def __init__(
        self, *args: Any, first: int = RENDER_FIRST, every: int = RENDER_EVERY, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sample(first, every)

    def sample(self, first: int, every: int) -> None:
        """Render the first `first` messages of each kind, then one in `every`."""
        if first < 0 or every < 1:
            raise ValueError("render the first N >= 0 messages of a kind, then 1 in N >= 1")
        self.first, self.every = first, every
        self.seen: Counter[Kind] = Counter()
        self.failing: set[Kind] = set()
        self.rendered = 0
        self.counted = 0

    def render(
        self,
        action: ClaimedAction,
        journey: Journey,
        promo: PromoCodeLike | None,
        now: datetime,
    ) -> OutboundMessage | SendResult:
        kind = _kind(action, promo)
        self.seen[kind] += 1
        n = self.seen[kind]
        if (
            action.kind == "webhook"  # no template: as cheap to make as to count
            or n <= self.first
            or n % self.every == 0
            or kind in self.failing
            or not self._renderable(action, journey, promo)
        ):
            self.rendered += 1
            made = super().render(action, journey, promo, now)
            if isinstance(made, SendResult):
                self.failing.add(kind)
            return made
        self.counted += 1
        return OutboundMessage(
            idempotency_key=action.idempotency_key,
            channel="email" if action.kind == "email" else "sms",
            to=(action.customer.email if action.kind == "email" else action.customer.phone) or "-",
            subject=STAND_IN,
            text=STAND_IN,
            metadata=self._metadata(action),
        )

    def _renderable(
        self, action: ClaimedAction, journey: Journey, promo: PromoCodeLike | None
    ) -> bool:
        """What the renderer checks before any template (a holdout, a promo code that was
        not issued, a template missing in every locale): such a message is always
        rendered, so that it fails as it would in production."""
        if action.template is None or ("promo_code" in action.params and promo is None):
            return False
        choice = self._choose(journey, action.customer.locale, action.template, action.kind)
        return choice is not None


def _kind(action: ClaimedAction, promo: PromoCodeLike | None) -> Kind:
    entered_by = None if action.event is None else action.event.get("type")
    return (
        action.journey,
        action.version,
        action.stage,
        action.action_key,
        action.template,
        action.customer.locale,
        entered_by,
        promo is None,
    )
