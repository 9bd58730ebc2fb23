"""A webhook request as its sender signed it: method, public URL, headers and raw body.

Signatures cover the bytes as sent and, for Twilio and HubSpot, the URL the sender
called. Behind a proxy or tunnel that URL is the public one, not what the service sees
on its socket, so it is rebuilt from `public_url` when one is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.requests import Request

from .errors import BadRequest, TooLarge


@dataclass(frozen=True, slots=True)
class RawRequest:
    method: str
    url: str
    path: str
    headers: Mapping[str, str]  # case-insensitive (starlette's Headers)
    body: bytes
    client_ip: str | None
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body (Twilio), last value of each key."""
        content_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise BadRequest(
                "expected an application/x-www-form-urlencoded body, "
                f"got '{content_type or 'none'}'"
            )
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the form body is not UTF-8") from None
        form = dict(parse_qsl(text, keep_blank_values=True))
        for name, value in form.items():
            # %00 decodes to a NUL, which PostgreSQL keeps in no text column.
            if "\x00" in name or "\x00" in value:
                shown = name.replace("\x00", "\\x00")[:40]
                raise BadRequest(f"the form field {shown} holds a NUL character (%00)")
        return form


async def read_request(
    request: Request, *, max_bytes: int, public_url: str | None, now: datetime
) -> RawRequest:
    """Read the body up to `max_bytes` (413 beyond) and the URL as the sender called it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if size > max_bytes:
            raise TooLarge(f"the body has {size} bytes; at most {max_bytes} are accepted")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"the body has more than {max_bytes} bytes")
        parts.append(chunk)
    path = request.url.path
    if public_url:
        url = public_url.rstrip("/") + path
        if request.url.query:
            url += "?" + request.url.query
    else:
        url = str(request.url)
    return RawRequest(
        method=request.method,
        url=url,
        path=path,
        headers=request.headers,
        body=b"".join(parts),
        client_ip=request.client.host if request.client else None,
        received_at=now,
    )
