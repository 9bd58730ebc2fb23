"""The journey language's shared pieces: conditions, template names, localized text
and the strict base model every part of a journey derives from (model.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)

from .types import (
    Locale,
)


def _check_condition(source: str) -> str:
    from .conditions import compile_condition
    from .errors import ConditionSyntaxError

    try:
        compile_condition(source)
    except ConditionSyntaxError as exc:
        raise ValueError(f"{exc.reason} at position {exc.position} in '{source}'") from None
    return source


ConditionText = Annotated[
    str,
    AfterValidator(_check_condition),
    Field(
        description="A condition such as \"rating >= 4 and customer.segment in ['b2b', 'vip']\": "
        "comparisons (== != < <= > >= in, not in), and/or/not, dotted paths, literals. "
        "Bare names refer to the triggering event's data.",
    ),
]

TemplateName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$",
        # The name becomes a file path; longer than a file name may be, it is a typo.
        max_length=120,
        description="Template name, looked up as templates/<locale>/<name>.<channel>.j2",
    ),
]

PromoPrefix = Annotated[
    str, Field(pattern=r"^[A-Z0-9]{1,12}$", description="1 to 12 capital letters or digits")
]

Localized = Annotated[
    str | dict[Locale, str],
    Field(description="Text, or a mapping from locale to text, e.g. {de: Kauf, en: Purchase}"),
]


def _as_list(value: Any) -> Any:
    """Let a single trigger or action be written without a list around it."""
    return [value] if isinstance(value, dict) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _tag_of(tags: tuple[str, ...]) -> Any:
    def discriminate(value: Any) -> str | None:
        if isinstance(value, dict):
            return next((t for t in tags if t in value), None)
        return next((t for t in tags if getattr(value, t, None) is not None), None)

    return discriminate
