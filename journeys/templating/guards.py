"""Filters and string methods that can grow a value far beyond their input, checked first.

`'x'|center(10**8)`, `'%0100000000d' % 1`, `s|replace('x', s)` or `sep.join(items)` build
their result in one step, so a check afterwards would come after the memory is gone. Each
of them is estimated here from its arguments and refused when the result would exceed the
value limit; every filter's result is then charged to the render (`budget.spent`).

String methods are limited to those that cannot grow a string much (no `ljust`, `zfill`,
`expandtabs`, `translate`): templates have filters for formatting.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from .budget import MAX_VALUE_CHARS, BudgetExceeded, charge, refuse_size, size_of, spent

STR_METHODS = frozenset(
    [
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "format",
        "format_map",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "striptags",
        "unescape",
    ]
)
MAX_WIDTH = 10_000  # a field width or precision in a format, an indent, a batch size
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _width(value: Any, what: str) -> None:
    if isinstance(value, int) and value > MAX_WIDTH:
        raise BudgetExceeded(f"{what} of {value:,} exceeds {MAX_WIDTH:,}")


def _numbers_in(args: Any) -> list[Any]:
    values = args.values() if isinstance(args, Mapping) else args
    return list(values) if isinstance(values, tuple | list) else [values]


def check_printf(fmt: str, args: Any) -> None:
    """`'%05d' % n` and `|format`: field widths and precisions within MAX_WIDTH."""
    for match in _PRINTF.finditer(fmt):
        for part in match.groups():
            if part == "*":
                for value in _numbers_in(args):
                    _width(value, "a width in a format")
            elif part:
                _width(int(part), "a width in a format")


def check_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """`'{:>8}'.format(x)`: field widths within MAX_WIDTH, nested ones too."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format reports a malformed format itself
    for _, _, spec, _ in fields:
        if not spec:
            continue
        for digits in re.findall(r"\d+", spec):
            _width(int(digits), "a width in a format")
        if "{" in spec:
            for value in [*args, *kwargs.values()]:
                _width(value, "a width in a format")


def _replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> int | None:
    if not all(isinstance(v, str) for v in (text, old, new)):
        return None
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _join_size(separator: Any, items: list[Any]) -> int:
    parts = sum(size_of(item) or 20 for item in items)
    return parts + max(0, len(items) - 1) * len(str(separator))


def check_str_method(
    owner: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    """Estimate a string method's result; returns the arguments to call it with."""
    if name == "replace":
        size = _replace_size(owner, *args[:3], **kwargs)
        if size is not None:
            refuse_size(size, "replace()")
    elif name == "join" and args:
        items = list(args[0])
        refuse_size(_join_size(owner, items), "join()")
        args = (items, *args[1:])
    elif name in ("format", "format_map"):
        mapping = args[0] if name == "format_map" and args else kwargs
        check_format(owner, args if name == "format" else (), mapping)
    return args


# --- filters ---------------------------------------------------------------------------------


def _bind(args: tuple[Any, ...], kwargs: Mapping[str, Any], names: str) -> dict[str, Any]:
    """Positional and keyword filter arguments by name (those given)."""
    bound = dict(zip(names.split(), args, strict=False))
    return bound | {k: v for k, v in kwargs.items() if k in names.split()}


def _check_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Refuse a filter call whose result would be too large; returns the value to use."""
    if name == "center":
        _width(_bind(args, kwargs, "width").get("width", 80), "center() to a width")
    elif name == "indent":
        width = _bind(args, kwargs, "width").get("width", 4)
        each = width if isinstance(width, int) else len(str(width))
        lines = value.count("\n") + 1 if isinstance(value, str) else 1
        refuse_size(len(str(value)) + lines * each, "indent()")
    elif name == "format" and isinstance(value, str):
        check_printf(value, args or kwargs)
    elif name == "replace":
        size = _replace_size(str(value), *args[:3])
        if size is not None:
            refuse_size(size, "replace()")
    elif name == "join":
        value = list(value) if not isinstance(value, str) else value
        separator = _bind(args, kwargs, "d").get("d", "")
        refuse_size(_join_size(separator, list(value)), "join()")
    elif name == "wordwrap":
        given = _bind(args, kwargs, "width break_long_words wrapstring")
        width, wrap = given.get("width", 79), given.get("wrapstring") or "\n"
        text = str(value)
        breaks = len(text) // max(1, width if isinstance(width, int) else 1) + text.count("\n")
        refuse_size(len(text) + (breaks + 1) * len(str(wrap)), "wordwrap()")
    elif name in ("batch", "slice"):
        _width(args[0] if args else 0, f"{name}() into a size")
    elif name == "tojson":
        _width(_bind(args, kwargs, "indent").get("indent"), "tojson() with an indent")
    elif name == "urlize":
        given = _bind(args, kwargs, "trim_url_limit nofollow target rel")
        extra = len(str(given.get("target") or "")) + len(str(given.get("rel") or ""))
        text = str(value)
        refuse_size(3 * len(text) + (len(text.split()) + 1) * extra, "urlize()")
    elif name == "sum" and not isinstance(value, str):
        value = list(value)
        refuse_size(sum(size_of(item) or 0 for item in value), "sum()")
    elif name in ("number",):
        _width(_bind(args, kwargs, "digits").get("digits"), "number() with digits")
    return value


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, charged to the render and checked before it grows a value.

    The wrapper takes the context, which also keeps Jinja from calling the filter while
    compiling a template (constant folding), where no budget would apply.
    """
    passes = getattr(getattr(func, "jinja_pass_arg", None), "name", None)

    @pass_context
    def guarded(ctx: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        charge()
        value = _check_filter(name, value, args, kwargs)
        if passes == "context":
            result = func(ctx, value, *args, **kwargs)
        elif passes == "eval_context":
            result = func(ctx.eval_ctx, value, *args, **kwargs)
        elif passes == "environment":
            result = func(ctx.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        return spent(result, f"the result of |{name}")

    guarded.__name__ = guarded.__qualname__ = name
    guarded.__doc__ = func.__doc__
    return guarded


__all__ = [
    "MAX_VALUE_CHARS",
    "STR_METHODS",
    "check_format",
    "check_printf",
    "check_str_method",
    "guard_filter",
]
