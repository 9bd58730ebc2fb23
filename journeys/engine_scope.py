"""What the engine's conditions see, and the deterministic A/B arm of a message.

Pure functions of their arguments: the scope of `customer.*`, `event.*`, `stage` and `now`
that a trigger's condition reads, and which variant a customer gets (a hash, so the same
customer always lands in the same arm, in production, replays and simulations alike).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .conditions import Condition
from .decisions import Event
from .model import _MessageAction


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def customer_scope(
    external_id: str, fields: Mapping[str, Any], attributes: Mapping[str, Any]
) -> dict[str, Any]:
    """The `customer` mapping conditions see: attributes, overlaid by profile fields.

    `customer.segment` reads an attribute; `customer.country` the profile field.
    """
    scope: dict[str, Any] = dict(attributes)
    scope.update({k: v for k, v in fields.items() if v is not None})
    scope["id"] = external_id
    scope["attributes"] = dict(attributes)
    return scope


def _variant(
    journey: str, customer_id: str, stage: str, action: _MessageAction
) -> tuple[str, str | None] | None:
    """Deterministic A/B assignment: the same customer always lands in the same arm."""
    if not action.variants:
        return None
    total = sum(v.weight for v in action.variants)
    digest = hashlib.blake2b(
        f"{journey}\x1f{customer_id}\x1f{stage}\x1f{action.action_key}".encode(), digest_size=8
    ).digest()
    point = int.from_bytes(digest, "big") % total
    for variant in action.variants:
        if point < variant.weight:
            return variant.key, variant.template
        point -= variant.weight
    raise AssertionError("unreachable: weights add up to total")


def _matches(rule: tuple[str, Condition | None], etype: str, scope: Mapping[str, Any]) -> bool:
    return rule[0] == etype and (rule[1] is None or rule[1].evaluate(scope))


def _event_scope(event: Event, customer: Mapping[str, Any], stage: str | None) -> dict[str, Any]:
    data = dict(event.data)
    data.setdefault("type", event.type)
    return {"event": data, "customer": customer, "stage": stage, "now": event.occurred_at}
