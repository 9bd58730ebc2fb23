"""The pages behind the signed links in messages: `GET` and `POST /l/{token}`.

The token's purpose decides the page:

* unsubscribe: GET asks, POST unsubscribes from the channel the message came on. A
  mail client's RFC 8058 one-click request (POST, body `List-Unsubscribe=One-Click`,
  no cookies) takes the same path.
* preferences: consent per channel with a checkbox each; POST saves the changed ones.
* confirm: double opt-in. GET asks, POST makes email consent `subscribed` with time and
  IP as proof and puts `newsletter.confirmed` into the inbox, once per link. An expired
  confirm link offers a new confirmation email (POST), at most one per hour per link.
* survey: `GET ?score=N` records the answer at once, because emails carry one link per
  score. A mail scanner that opens every link of a message would answer every score;
  only the last answer per link counts, so a customer's own click afterwards still
  wins, but a scanner that runs after the customer can overwrite their answer. POST
  adds an optional comment.
* review: a redirect to the review page (JOURNEYFLOW_REVIEW_URL, else the website).
* view: the email itself as a web page ("view in browser"), rendered again.

GET never changes anything except a survey answer: scanners and link previews open
links that nobody clicked. A forged or malformed link is a 404 page, an expired one 410.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.parser import BytesParser
from email.policy import default as default_policy
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from channels.links import LINK_TTL, LinkError, LinkSigner, SignedRef
from journeys.store.outbox.resend import resend_message

from .inbox import Inbox
from .page_data import (
    LinkTarget,
    answer_survey,
    confirm,
    is_confirmed,
    load_target,
    save_preferences,
    unsubscribe,
)
from .page_render import HEADERS, PageRenderer, choose_locale
from .page_view import VIEW_CSP, MessageViewer
from .request import RawRequest, read_request

MAX_FORM_BYTES = 16 * 1024
MAX_COMMENT = 2000
ONE_CLICK = ("List-Unsubscribe", "One-Click")

Handler = Callable[["LinkPages", Request, SignedRef, RawRequest | None], Awaitable[Response]]


def register_pages(app: FastAPI, inbox: Inbox, signer: LinkSigner) -> None:
    """Add `GET` and `POST /l/{token}` to `app`."""
    pages = LinkPages(inbox, signer)

    @app.get(
        "/l/{token}", tags=["links"], summary="Open a link from a message", response_model=None
    )
    async def open_link(token: str, request: Request) -> Response:
        return await pages.handle(token, request, post=False)

    @app.post("/l/{token}", tags=["links"], summary="Act on a link's page", response_model=None)
    async def act_on_link(token: str, request: Request) -> Response:
        return await pages.handle(token, request, post=True)


class LinkPages:
    def __init__(self, inbox: Inbox, signer: LinkSigner) -> None:
        self.inbox = inbox
        self.signer = signer
        self.render = PageRenderer()
        self.viewer = MessageViewer(signer, self.render.settings)
        self.review_url = (
            os.environ.get("JOURNEYFLOW_REVIEW_URL") or self.render.settings.company["website"]
        )

    async def handle(self, token: str, request: Request, *, post: bool) -> Response:
        now = self.inbox.now()
        try:
            link = self.signer.verify(token, now)
        except LinkError as exc:
            return await self._refused(token, exc, request, post=post)
        handler = _HANDLERS.get(link.purpose)
        if handler is None:
            return self._error(request, None, "invalid", 404)
        raw = None
        if post:
            raw = await read_request(request, max_bytes=MAX_FORM_BYTES, public_url=None, now=now)
        return await handler(self, request, link, raw)

    # --- the pages ----------------------------------------------------------------------

    async def unsubscribe(
        self, request: Request, link: SignedRef, raw: RawRequest | None
    ) -> Response:
        ip = _client_ip(request)
        if raw is None:
            target = await self.inbox.run(lambda session, now: load_target(session, link.ref))
        else:
            one_click = _form(raw).get(ONE_CLICK[0]) == ONE_CLICK[1]
            source = "list_unsubscribe" if one_click else "unsubscribe_link"
            target = await self.inbox.run(
                lambda session, now: unsubscribe(session, link.ref, source, now, ip)
            )
        if target is None:
            return self._error(request, None, "unknown", 404)
        status = target.consent.get(target.channel)
        return self.render.page(
            "unsubscribe",
            self._locale(request, target),
            done=raw is not None,
            # Nothing left to ask: the address gets no marketing messages as it is.
            already=raw is None and status in ("unsubscribed", "suppressed"),
            channel=target.channel,
            address=target.address,
            preferences_url=self._url("preferences", link.ref),
        )

    async def preferences(
        self, request: Request, link: SignedRef, raw: RawRequest | None
    ) -> Response:
        saved: list[str] = []
        if raw is None:
            target = await self.inbox.run(lambda session, now: load_target(session, link.ref))
        else:
            form = _form(raw)
            wanted = {channel: form.get(channel) == "on" for channel in ("email", "sms")}
            ip = _client_ip(request)
            target, saved = await self.inbox.run(
                lambda session, now: save_preferences(session, link.ref, wanted, now, ip)
            )
        if target is None:
            return self._error(request, None, "unknown", 404)
        return self.render.page(
            "preferences",
            self._locale(request, target),
            channels=[
                {"key": c, "status": target.consent.get(c), "address": target.addresses.get(c)}
                for c in target.channels
            ],
            posted=raw is not None,
            saved=saved,
        )

    async def confirm(self, request: Request, link: SignedRef, raw: RawRequest | None) -> Response:
        if raw is None:
            target, done = await self.inbox.run(
                lambda session, now: (
                    load_target(session, link.ref),
                    is_confirmed(session, link.ref),
                )
            )
            state = "already" if done else "ask"
        else:
            ip = _client_ip(request)
            target, first = await self.inbox.run(
                lambda session, now: confirm(session, link.ref, now, ip)
            )
            self.inbox.stored(1 if first else 0)
            state = "done" if first else "already"
        if target is None:
            return self._error(request, None, "unknown", 404)
        return self.render.page(
            "confirm",
            self._locale(request, target),
            state=state,
            address=target.addresses.get("email"),
            preferences_url=self._url("preferences", link.ref),
        )

    async def survey(self, request: Request, link: SignedRef, raw: RawRequest | None) -> Response:
        form = _form(raw) if raw is not None else dict(request.query_params)
        given = form.get("score")
        score = _integer(given)
        comment = (form.get("comment") or "").strip()[:MAX_COMMENT] or None
        if given is not None and score is None:
            score = -1  # not a number: answered as out of range, naming the scale
        result = await self.inbox.run(
            lambda session, now: answer_survey(session, link.ref, score, now, comment)
        )
        self.inbox.stored(result.new_events)
        target = result.target
        if target is None:
            return self._error(request, None, "unknown", 404)
        low, high = (0, 10) if result.kind == "nps" else (1, 5)
        if not result.in_range:
            return self._error(request, target, "range", 422, low=low, high=high)
        return self.render.page(
            "survey",
            self._locale(request, target),
            kind=result.kind,
            scores=list(range(low, high + 1)),
            score=score,
            comment_saved=raw is not None and comment is not None,
        )

    async def review(self, request: Request, link: SignedRef, raw: RawRequest | None) -> Response:
        return RedirectResponse(self.review_url, status_code=303)

    async def view(self, request: Request, link: SignedRef, raw: RawRequest | None) -> Response:
        found = await self.inbox.run(lambda session, now: self.viewer.load(session, link.ref))
        html = self.viewer.render(*found) if found is not None else None
        if html is None:
            return self._error(request, None, "unknown", 404)
        return HTMLResponse(html, headers={**HEADERS, "Content-Security-Policy": VIEW_CSP})

    # --- helpers ------------------------------------------------------------------------

    async def _refused(
        self, token: str, exc: LinkError, request: Request, *, post: bool = False
    ) -> Response:
        if exc.reason != "expired":
            return self._error(request, None, "invalid", 404)
        # The signature held, so the reference is genuine: answer in the customer's language.
        purpose, ref, expiry, _ = token.split(".")
        target = await self.inbox.run(lambda session, now: load_target(session, ref))
        expired_at = datetime.fromtimestamp(int(expiry, 16), self.inbox.now().tzinfo)
        if purpose == "confirm" and target is not None:
            return await self._confirm_expired(request, target, ref, post, expired_at)
        return self._error(request, target, "expired", 410, expired_at=expired_at)

    async def _confirm_expired(
        self, request: Request, target: LinkTarget, ref: str, post: bool, expired_at: datetime
    ) -> Response:
        """An expired confirmation offers a new one: no dead end for a late reader."""
        locale = self._locale(request, target)
        address = target.addresses.get("email")
        if target.consent.get("email") == "subscribed":
            return self.render.page(
                "confirm",
                locale,
                state="already",
                address=address,
                preferences_url=self._url("preferences", ref),
            )
        if not post:
            return self._error(request, target, "expired", 410, expired_at=expired_at, resend=True)
        resent = await self.inbox.run(
            lambda session, now: resend_message(session.connection(), ref, now)
        )
        if resent == "queued":
            self.inbox.stored(1)  # wakes the processor, which sends what fell due
        status = 202 if resent == "queued" else 429
        return self._error(
            request,
            target,
            "resent" if resent == "queued" else "resent_recently",
            status,
            address=address,
        )

    def _error(
        self,
        request: Request,
        target: LinkTarget | None,
        reason: str,
        status: int,
        **context: object,
    ) -> Response:
        locale = self._locale(request, target)
        return self.render.page("error", locale, status, reason=reason, **context)

    def _locale(self, request: Request, target: LinkTarget | None) -> str:
        customer = target.locale if target is not None else None
        return choose_locale(customer, request.headers.get("accept-language"))

    def _url(self, purpose: str, ref: str) -> str:
        # Relative: the page works under whatever host and scheme it was reached by.
        return f"/l/{self.signer.token(purpose, ref, self.inbox.now() + LINK_TTL[purpose])}"


_HANDLERS: dict[str, Handler] = {
    "unsubscribe": LinkPages.unsubscribe,
    "preferences": LinkPages.preferences,
    "confirm": LinkPages.confirm,
    "survey": LinkPages.survey,
    "review": LinkPages.review,
    "view": LinkPages.view,
}


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _form(raw: RawRequest) -> dict[str, str]:
    """A form body, urlencoded or multipart (RFC 8058 allows both); last value per key."""
    content_type = raw.header("content-type") or ""
    if content_type.lower().startswith("multipart/form-data"):
        message = BytesParser(policy=default_policy).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw.body
        )
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    fields[name] = payload.decode("utf-8", "replace").strip()
        return fields
    return dict(parse_qsl(raw.body.decode("utf-8", "replace"), keep_blank_values=True))
