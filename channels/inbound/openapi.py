"""The OpenAPI description of a source's endpoint: its signature headers and its body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def signed_request(
    headers: Sequence[str],
    schema: dict[str, Any],
    *,
    content_type: str = "application/json",
    query: Sequence[str] = (),
) -> dict[str, Any]:
    """FastAPI's `openapi_extra` for a POST with required `headers` and a `schema` body."""
    parameters: list[dict[str, Any]] = [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}} for h in headers
    ]
    parameters += [{"name": q, "in": "query", "schema": {"type": "string"}} for q in query]
    return {
        "parameters": parameters,
        "requestBody": {"required": True, "content": {content_type: {"schema": schema}}},
    }
