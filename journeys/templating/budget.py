"""What one render may cost: time, output, loop iterations, and the size of values.

A template is code that marketers write and journeyflow runs for every customer. The
sandbox keeps it from reaching Python's internals; the budget keeps it from running for
minutes or producing megabytes: `'x' * 10**9`, `10**100000`, nested `range(100000)`
loops. Jinja would even fold constant expressions like `'x' * 10**9` while compiling,
so the environment compiles without its optimizer and computes them here, checked.

A render opens a budget (`rendering`); the hooks of the sandboxed environment charge it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2

MAX_SECONDS = 2.0
MAX_ITERATIONS = 100_000  # loop steps over range() in one render
MAX_RANGE = 10_000  # one range(): no message lists more
MAX_VALUE_CHARS = 100_000  # a string or list built by * (or +) in a template
MAX_EXPONENT = 64


class BudgetExceeded(jinja2.TemplateRuntimeError):
    """A render went past its budget; the message says which and how to fix it."""


@dataclass
class Budget:
    deadline: float
    iterations: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"rendering takes longer than {MAX_SECONDS:g} s")


_current: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def rendering(seconds: float = MAX_SECONDS) -> Iterator[Budget]:
    """A budget for the renders inside the block (nested blocks share the outer one)."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    budget = Budget(time.monotonic() + seconds)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def charge() -> None:
    budget = _current.get()
    if budget is not None:
        budget.tick()


def budget_range(*args: int) -> Iterator[int]:
    """`range` for templates: at most MAX_RANGE numbers, each step charged to the render."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise BudgetExceeded(f"range() of {len(numbers):,} numbers; at most {MAX_RANGE:,}")
    budget = _current.get()
    for number in numbers:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise BudgetExceeded(f"loops run more than {MAX_ITERATIONS:,} steps")
            if budget.iterations % 1000 == 0:
                budget.tick()
        yield number


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple | bytes) else None


def checked_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `*` and `**` (and `+` of sequences) whose result would be too large."""
    if operator == "**":
        if isinstance(right, int | float) and abs(right) > MAX_EXPONENT and abs(left) > 1:
            raise BudgetExceeded(f"a power of {right}; exponents go up to {MAX_EXPONENT}")
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            size = _size(seq)
            if size is not None and isinstance(times, int) and size * times > MAX_VALUE_CHARS:
                raise BudgetExceeded(
                    f"a value of {size * times:,} characters or items; at most {MAX_VALUE_CHARS:,}"
                )
    elif operator == "+":
        sizes = (_size(left), _size(right))
        if None not in sizes and sum(s or 0 for s in sizes) > MAX_VALUE_CHARS:
            raise BudgetExceeded(f"a value of more than {MAX_VALUE_CHARS:,} characters or items")
