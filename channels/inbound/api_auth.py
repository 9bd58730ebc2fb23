"""Bearer tokens of the people API, from the settings.

JOURNEYFLOW_API_TOKENS="name:scope:token,…" (or JOURNEYFLOW_API_TOKENS_FILE, a file of
such lines). Scopes: `read` (GET) and `write` (everything, reading included). A token
is compared in constant time and never logged; its name is what the store records
as the author of a change ("api:<name>").
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from journeys.errors import JourneyflowError

from .errors import InboundError, Unauthorized

SCOPES = ("read", "write")
TOKENS_ENV = "JOURNEYFLOW_API_TOKENS"
TOKENS_FILE_ENV = "JOURNEYFLOW_API_TOKENS_FILE"
MIN_TOKEN = 16


class Forbidden(InboundError):
    status = 403


class ApiTokenError(JourneyflowError):
    """The token setting is malformed (named with its entry's position)."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    scope: str
    secret: bytes


def parse_tokens(text: str, where: str = TOKENS_ENV) -> list[ApiToken]:
    tokens: list[ApiToken] = []
    entries = [e.strip() for e in text.replace("\n", ",").split(",")]
    for n, entry in enumerate(entries, 1):
        if not entry or entry.startswith("#"):
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3 or not parts[0]:
            raise ApiTokenError(f"{where}: entry {n}: expected name:scope:token")
        name, scope, secret = parts
        if scope not in SCOPES:
            raise ApiTokenError(f"{where}: entry {n} ({name}): scope is read or write")
        if len(secret) < MIN_TOKEN:
            raise ApiTokenError(
                f"{where}: entry {n} ({name}): a token has at least {MIN_TOKEN} characters"
            )
        tokens.append(ApiToken(name, scope, secret.encode()))
    return tokens


def tokens_from_env(env: dict[str, str] | None = None) -> list[ApiToken]:
    source = dict(os.environ) if env is None else env
    tokens = parse_tokens(source.get(TOKENS_ENV, ""))
    path = source.get(TOKENS_FILE_ENV)
    if path:
        tokens += parse_tokens(Path(path).read_text(encoding="utf-8"), path)
    return tokens


_bearer = HTTPBearer(auto_error=False, description="name:scope:token from JOURNEYFLOW_API_TOKENS")


class TokenCheck:
    """A FastAPI dependency: the token's name, or 401 / 403."""

    def __init__(self, tokens: list[ApiToken], scope: str) -> None:
        self.tokens = tokens
        self.scope = scope

    async def __call__(self, request: Request) -> str:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            raise Unauthorized("a bearer token is required (Authorization: Bearer …)")
        given = credentials.credentials.encode("utf-8", "surrogateescape")
        match: ApiToken | None = None
        for token in self.tokens:  # every one compared: the time says nothing about which
            if hmac.compare_digest(given, token.secret):
                match = token
        if match is None:
            raise Unauthorized("the bearer token is not valid")
        if self.scope == "write" and match.scope != "write":
            raise Forbidden(f"token '{match.name}' may only read")
        return match.name
