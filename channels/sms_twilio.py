"""SMS through Twilio's Messages API (2010-04-01), with the official ``twilio`` SDK.

Numbers are normalised to E.164 in the customer's country before anything is sent,
so a malformed number costs nothing and never reaches Twilio. Twilio's error codes
decide the outcome where the HTTP status alone would mislead: 20429 is a rate limit
(retry), 21610 means the recipient replied STOP (a consent change, never retry).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests  # type: ignore[import-untyped,unused-ignore]
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError

from channels.classify import is_retryable_status, not_sent, outcome_unknown, retry_after
from channels.errors import ChannelConfigError, MessageError, RetryableSendError
from channels.message import ChannelKind, OutboundMessage, SendResult
from channels.ratelimit import RateLimiter
from channels.settings import ChannelSettings
from journeys.phone import InvalidPhoneNumber, normalize_e164

TWILIO_API = "https://api.twilio.com"
RATE_LIMITED = 20429
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
# Refusals that say the number must not be used again. 21610: the recipient replied STOP
# (a consent change). 21211 (invalid 'To' number) and 21614 (not a mobile number): the
# number is unusable for SMS, so it is suppressed, not unsubscribed.
REFUSAL_CONSENT: dict[int, str] = {
    OPTED_OUT: "unsubscribed",
    21211: "suppressed",
    21614: "suppressed",
}
# Codes that are retryable whatever HTTP status carries them.
RETRYABLE_CODES = frozenset({RATE_LIMITED, 20500, 20503})


class _RoutedHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """The SDK's HTTP client, sent to ``base_url`` with (connect, read) timeouts, over
    kept-alive connections (one ``requests`` session).

    It also keeps each thread's last response, because ``TwilioRestException`` drops
    the headers and a 429's ``Retry-After`` is needed to schedule the retry.
    """

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float) -> None:
        super().__init__(pool_connections=True)
        self.timeout = (connect_timeout, read_timeout)
        self.base_url = base_url.rstrip("/")
        self._local = threading.local()
        # requests reads proxies and the CA bundle from the environment again for every
        # request (a walk over all of os.environ, a third of a send's time). Every
        # request goes to base_url: read them once, for it, when the channel is built.
        env = self.session.merge_environment_settings(self.base_url, {}, None, None, None)
        self.session.trust_env = False
        self.session.proxies.update(env["proxies"])
        self.session.verify = env["verify"]
        self._send_settings = {"proxies": self.session.proxies, "verify": self.session.verify}
        self._headers = dict(self.session.headers)

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: Any = None,
        allow_redirects: bool = False,
    ) -> Response:
        """The SDK's request, prepared without the session's per-request merging.

        ``Session.prepare_request`` and ``merge_environment_settings`` merge every
        session setting again for each request, through checks against runtime
        protocols that cost Python 3.11 a third of a send. The session's settings are
        the ones read in ``__init__``; the request itself is prepared and sent by
        ``requests`` as before, so its errors are the ones the channel classifies.
        """
        if url.startswith(TWILIO_API) and self.base_url != TWILIO_API:
            url = self.base_url + url[len(TWILIO_API) :]
        self._local.response = None
        as_json = (headers or {}).get("Content-Type", "").endswith("json")  # as the SDK does
        prepared = requests.Request(
            method.upper(),
            url,
            params=dict(params or {}),
            headers={**self._headers, **(headers or {})},
            auth=auth,
            data=None if as_json else dict(data or {}),
            json=dict(data or {}) if as_json else None,
        ).prepare()
        response = self.session.send(
            prepared,
            allow_redirects=allow_redirects,
            timeout=self.timeout if timeout is None else timeout,
            **self._send_settings,
        )
        self._local.response = response
        return Response(int(response.status_code), response.text, response.headers)

    def last_headers(self) -> Mapping[str, str] | None:
        response = getattr(self._local, "response", None)
        return None if response is None else response.headers


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to (or replacing those in) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _before_sending(exc: Exception) -> bool:
    """Did ``requests`` fail before the request was written (refused, DNS, TLS, proxy)?"""
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(exc, requests.exceptions.ProxyError):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        # MaxRetryError(reason=NewConnectionError) when the TCP connect failed;
        # a ProtocolError (reset, remote disconnect) comes after the request left.
        return isinstance(getattr(exc.args[0], "reason", None), ConnectTimeoutError)
    return False


class TwilioChannel:
    """``Channel`` for SMS via Twilio."""

    name = "twilio"
    kind: ChannelKind = "sms"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = TWILIO_API,
        status_callback_url: str | None = None,
        default_country: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not (account_sid and auth_token):
            raise ChannelConfigError("Twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        self.http = _RoutedHttpClient(base_url, connect_timeout, read_timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback_url = status_callback_url
        self.default_country = default_country
        self._limiter = limiter

    @classmethod
    def from_settings(
        cls, settings: ChannelSettings, limiter: RateLimiter | None = None
    ) -> TwilioChannel:
        if settings.twilio_account_sid is None or settings.twilio_auth_token is None:
            raise ChannelConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set")
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            base_url=settings.twilio_base_url,
            status_callback_url=settings.sms_status_callback_url,
            default_country=settings.sms_default_country,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            limiter=limiter,
        )

    def create_params(self, message: OutboundMessage) -> dict[str, Any]:
        """Keyword arguments for ``client.messages.create``; raises ``InvalidPhoneNumber``."""
        if message.channel != "sms":
            raise MessageError(f"{self.name} sends sms messages; got channel '{message.channel}'")
        params: dict[str, Any] = {
            "to": normalize_e164(message.to, message.country or self.default_country),
            "body": message.text,
        }
        from_number = message.from_number or self.from_number
        service = message.messaging_service_sid or self.messaging_service_sid
        if from_number:
            params["from_"] = from_number
        if service:
            params["messaging_service_sid"] = service
        if not (from_number or service):
            raise MessageError(
                "no SMS sender: set from_number or messaging_service_sid on the message, "
                "or TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"
            )
        callback = message.status_callback or self.status_callback_url
        if callback:
            # Twilio posts status updates here; the key matches them to the action.
            params["status_callback"] = with_query(
                callback, idempotency_key=message.idempotency_key, message_id=message.message_id
            )
        return params

    def send(self, message: OutboundMessage) -> SendResult:
        try:
            params = self.create_params(message)
        except InvalidPhoneNumber as exc:
            return SendResult(
                "failed", reason=str(exc), error_code="invalid_phone_number", channel=self.name
            )
        if self._limiter is not None:
            sender = params.get("from_") or params["messaging_service_sid"]
            self._limiter.acquire(self.name, sender)
        try:
            created = self.client.messages.create(**params)
        except TwilioException as exc:
            return self._refusal(exc)
        except requests.exceptions.RequestException as exc:
            if _before_sending(exc):
                raise not_sent(self.name, exc) from exc
            return outcome_unknown(self.name, exc)
        except ValueError as exc:
            # A 2xx whose body is not the Message JSON: Twilio took the request.
            return outcome_unknown(self.name, exc)
        status = str(created.status or "")
        if status in ("failed", "undelivered", "canceled"):
            return SendResult(
                "failed",
                provider_message_id=created.sid,
                reason=f"Twilio accepted the request but reports status '{status}': "
                f"{created.error_message or 'no detail'}",
                error_code=None if created.error_code is None else str(created.error_code),
                channel=self.name,
            )
        return SendResult(
            "sent", provider_message_id=created.sid, http_status=201, channel=self.name
        )

    def _refusal(self, exc: TwilioException) -> SendResult:
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        if not isinstance(status, int):
            raise ChannelConfigError(f"{self.name}: the SDK refused to send: {exc!r}") from exc
        detail = getattr(exc, "msg", None) or getattr(exc, "detail", None) or "no detail"
        error_code = None if code is None else str(code)
        if code in RETRYABLE_CODES or is_retryable_status(status):
            raise RetryableSendError(
                f"{self.name}: HTTP {status}, Twilio error {code}: {detail}",
                retry_after=retry_after(self.http.last_headers()),
                http_status=status,
                error_code=error_code,
            ) from exc
        return SendResult(
            "failed",
            reason=f"HTTP {status}, Twilio error {code}: {detail}",
            error_code=error_code,
            http_status=status,
            consent_change=("sms", REFUSAL_CONSENT[code]) if code in REFUSAL_CONSENT else None,
            channel=self.name,
        )

    def close(self) -> None:
        session = getattr(self.http, "session", None)
        if session is not None:
            session.close()
