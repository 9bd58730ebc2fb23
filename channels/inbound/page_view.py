"""The page behind a "view in browser" link: the email rendered again, as it was sent.

Nothing of a message is kept but what rendered it: the action (template, variant,
parameters), the customer, the journey's version, the promo code and the event that
caused the stage entry are all in the store, so the same renderer makes the same email
(its links signed at the message's due time, as the dispatcher signed them). A message
that cannot be rendered any more (its template was removed) is no page: 404.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlmodel import Session

from channels.links import LinkSigner
from channels.message import OutboundMessage
from channels.render import Renderer
from channels.render_settings import RenderSettings
from journeys.model import Journey
from journeys.store.feedback.message_events import find_actions
from journeys.store.outbox.claimed import ClaimedAction
from journeys.store.outbox.load import load_claimed
from journeys.store.registry import JourneyRegistry

# The email's own images (a logo) may come from the web; nothing else may load.
VIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


class MessageViewer:
    """Loads a sent email from the store and renders it again."""

    def __init__(
        self, signer: LinkSigner, settings: RenderSettings, templates: Path | None = None
    ) -> None:
        self.signer = signer
        self.settings = settings
        self.templates = templates
        self.registry = JourneyRegistry()
        self._renderer: Renderer | None = None
        self._lock = threading.Lock()

    def load(self, session: Session, ref: str) -> tuple[ClaimedAction, Journey] | None:
        """The email with idempotency key `ref` and its journey version (in a transaction)."""
        conn = session.connection()
        found = find_actions(conn, keys=[ref])[0].get(ref)
        if found is None or found.kind != "email":
            return None
        claimed = load_claimed(conn, [found.id], "view")
        if not claimed:
            return None
        action = claimed[0]
        with self._lock:  # the registry's cache is shared by the writer threads
            self.registry.load_versions(conn, {(action.journey, action.version)})
            return action, self.registry.get(action.journey, action.version)

    def render(self, action: ClaimedAction, journey: Journey) -> str | None:
        """The email's HTML, or None when it cannot be rendered any more."""
        result = self.renderer().render(action, journey, action.promo, action.due_at)
        if isinstance(result, OutboundMessage) and result.html:
            return result.html
        return None

    def renderer(self) -> Renderer:
        if self._renderer is None:
            from journeys.config import templates_dir

            folder = self.templates if self.templates is not None else templates_dir()
            self._renderer = Renderer(folder, self.signer, self.settings)
        return self._renderer
