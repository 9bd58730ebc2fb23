"""Signed, expiring links in messages: unsubscribe, preferences, review, survey, confirm,
view (the message as a web page).

A token names a purpose, an opaque reference and an expiry, and carries an HMAC-SHA256
signature over them. The reference is the action's idempotency key (a hash), so a link
identifies the customer and the order through the store without showing either id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from journeys.errors import JourneyflowError, did_you_mean

Purpose = Literal["unsubscribe", "preferences", "review", "survey", "confirm", "view"]
PURPOSES: tuple[str, ...] = get_args(Purpose)

# How long each link works. Unsubscribe and preferences must keep working as long as a
# mail may be read (RFC 8058 expects one-click unsubscribe to work for a long time).
LINK_TTL: dict[str, timedelta] = {
    "unsubscribe": timedelta(days=365),
    "preferences": timedelta(days=365),
    "review": timedelta(days=30),
    "survey": timedelta(days=30),
    "confirm": timedelta(days=7),
    # The message as a web page, for as long as its offers may matter to the reader.
    "view": timedelta(days=90),
}
_SECRET_FILE = Path("var/link_secret")


class LinkError(JourneyflowError):
    """A link token is malformed, forged, expired or meant for another purpose."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class SignedRef:
    purpose: str
    ref: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _check_ref(ref: str) -> None:
    if "." in ref or not ref:
        raise LinkError("ref", f"a link reference may not be empty or contain '.': {ref!r}")


def _expiry(expires_at: datetime) -> str:
    return f"{int(expires_at.timestamp()):x}"


class LinkSigner:
    """Makes and checks link tokens with one secret; rotate by giving older secrets too."""

    def __init__(
        self, secret: str | bytes, base_url: str, *, older: tuple[str | bytes, ...] = ()
    ) -> None:
        if len(secret) < 16:
            raise LinkError("config", "the link secret must have at least 16 characters")
        self._keys = [s.encode() if isinstance(s, str) else s for s in (secret, *older)]
        # The key schedule is done once; each signature starts from a copy of it.
        self._macs = [hmac.new(key, digestmod=hashlib.sha256) for key in self._keys]
        self.base_url = base_url.rstrip("/")
        # The expiries of the last send time: a batch renders many messages at one time.
        self._expiries: tuple[datetime, dict[str, str]] | None = None

    @classmethod
    def from_env(cls) -> LinkSigner:
        """JOURNEYFLOW_LINK_SECRET and JOURNEYFLOW_PUBLIC_URL.

        Without a secret (the embedded default), one is made once and kept in
        var/link_secret, so links stay valid across restarts of one installation.
        """
        secret = os.environ.get("JOURNEYFLOW_LINK_SECRET")
        if not secret:
            if not _SECRET_FILE.exists():
                _SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
                _SECRET_FILE.write_text(secrets.token_urlsafe(32), encoding="utf-8")
                _SECRET_FILE.chmod(0o600)
            secret = _SECRET_FILE.read_text(encoding="utf-8").strip()
        base = os.environ.get("JOURNEYFLOW_PUBLIC_URL", "http://127.0.0.1:8000")
        return cls(secret, base)

    def _sign(self, key: int, body: str) -> str:
        mac = self._macs[key].copy()
        mac.update(body.encode())
        return _b64(mac.digest())

    def token(self, purpose: str, ref: str, expires_at: datetime) -> str:
        if purpose not in PURPOSES:
            raise LinkError(
                "purpose", f"unknown link purpose '{purpose}'{did_you_mean(purpose, PURPOSES)}"
            )
        _check_ref(ref)
        return self._token(purpose, ref, _expiry(expires_at))

    def _token(self, purpose: str, ref: str, expiry: str) -> str:
        body = f"{purpose}.{ref}.{expiry}"
        return f"{body}.{self._sign(0, body)}"

    def url(self, purpose: str, ref: str, expires_at: datetime) -> str:
        return f"{self.base_url}/l/{self.token(purpose, ref, expires_at)}"

    def links(self, ref: str, sent_at: datetime) -> dict[str, str]:
        """The links of one message, for the render context's `links`."""
        _check_ref(ref)
        cached = self._expiries  # read once: another thread may replace it
        if cached is None or cached[0] != sent_at:
            cached = (sent_at, {p: _expiry(sent_at + ttl) for p, ttl in LINK_TTL.items()})
            self._expiries = cached
        base, expiries = f"{self.base_url}/l/", cached[1]
        return {p: base + self._token(p, ref, expiries[p]) for p in PURPOSES}

    def verify(self, token: str, now: datetime, purpose: str | None = None) -> SignedRef:
        parts = token.split(".")
        if len(parts) != 4:
            raise LinkError("invalid", "the link is malformed")
        body, signature = ".".join(parts[:3]), parts[3]
        signs = (self._sign(k, body) for k in range(len(self._keys)))
        if not any(hmac.compare_digest(sign, signature) for sign in signs):
            raise LinkError("invalid", "the link's signature does not match")
        kind, ref, expiry = parts[:3]
        try:
            expires_at = datetime.fromtimestamp(int(expiry, 16), UTC)
        except ValueError:
            raise LinkError("invalid", "the link is malformed") from None
        if purpose is not None and kind != purpose:
            raise LinkError("purpose", f"the link is for '{kind}', not '{purpose}'")
        if now >= expires_at:
            raise LinkError("expired", f"the link expired on {expires_at:%Y-%m-%d}")
        return SignedRef(kind, ref, expires_at)
