"""What one render may cost: time, loop steps, the size of each value and of all of them.

A template is code that marketers write and journeyflow runs for every customer. The
sandbox keeps it from reaching Python's internals; the budget keeps it from running for
minutes or producing gigabytes: `'x' * 10**9`, `10**100000`, nested loops, a string
doubled in a loop. Jinja would even fold constant expressions like `'x' * 10**9` while
compiling, so the environment compiles without its optimizer and every operation that
can grow a value is checked here, before it runs when its size can be known in advance
(`*`, `**`, widths, replacements), after it when it cannot grow much.

A render opens a budget (`rendering`); the hooks of the sandboxed environment charge it.
Every message it raises says what exceeds which limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2

MAX_SECONDS = 2.0
MAX_ITERATIONS = 100_000  # loop steps in one render
MAX_RANGE = 10_000  # one range(): no message lists more
MAX_VALUE_CHARS = 1_000_000  # one value (string, list) and one part of a message
MAX_BUILT_CHARS = 10_000_000  # every value built in one render together: bounds memory
MAX_EXPONENT = 64
MAX_INT_BITS = 10_000  # about 3,000 digits; Python refuses to print more than 4,300


class BudgetExceeded(jinja2.TemplateRuntimeError):
    """A render went past its budget; the message says which limit it exceeds."""


@dataclass
class Budget:
    deadline: float
    iterations: int = 0
    built: int = 0

    def tick(self) -> None:
        if _clock() > self.deadline:
            raise BudgetExceeded(f"rendering exceeds the time limit of {MAX_SECONDS:g} s")


# The time a render costs is the processor time of the thread rendering it: a template
# cannot wait on anything (no I/O in the sandbox), and a busy machine that schedules the
# thread less often must not fail messages that render in milliseconds when it is quiet.
_clock = time.thread_time


_current: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def rendering(seconds: float = MAX_SECONDS) -> Iterator[Budget]:
    """A budget for the renders inside the block (nested blocks share the outer one)."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    budget = Budget(_clock() + seconds)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def charge() -> None:
    budget = _current.get()
    if budget is not None:
        budget.tick()


def size_of(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple | bytes | dict) else None


def refuse_size(size: int, what: str = "a value", limit: int = MAX_VALUE_CHARS) -> None:
    if size > limit:
        raise BudgetExceeded(f"{what}: {size:,} characters or items exceed the limit of {limit:,}")


def spent(value: Any, what: str = "a value") -> Any:
    """Charge a value just built to the render: its own size and the total so far."""
    size = size_of(value)
    if size is None:
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise BudgetExceeded(
                f"a number of {value.bit_length():,} bits exceeds {MAX_INT_BITS:,}"
            )
        return value
    refuse_size(size, what)
    budget = _current.get()
    if budget is not None:
        budget.built += size
        if budget.built > MAX_BUILT_CHARS:
            raise BudgetExceeded(
                f"rendering builds values of {budget.built:,} characters in all, "
                f"which exceeds {MAX_BUILT_CHARS:,}"
            )
        budget.tick()
    return value


def budget_range(*args: int) -> range:
    """`range` for templates: at most MAX_RANGE numbers (loops over it are charged too)."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise BudgetExceeded(f"range() of {len(numbers):,} numbers exceeds {MAX_RANGE:,}")
    return numbers


def loop_steps(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` iterates through this: its steps count against the render."""
    budget = _current.get()
    for item in iterable:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise BudgetExceeded(f"loops run more than {MAX_ITERATIONS:,} steps in all")
            if budget.iterations % 256 == 0:
                budget.tick()
        yield item


def _int_bits(value: Any) -> int | None:
    return abs(value).bit_length() if isinstance(value, int) else None


def checked_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `*`, `**` and `+` whose result would be too large, before computing it."""
    if operator == "**":
        if isinstance(right, int | float) and abs(right) > MAX_EXPONENT and abs(left) > 1:
            raise BudgetExceeded(f"a power of {right} exceeds the largest exponent, {MAX_EXPONENT}")
        bits = _int_bits(left)
        if bits is not None and isinstance(right, int) and bits * right > MAX_INT_BITS:
            raise BudgetExceeded(
                f"a power of {bits * right:,} bits exceeds the limit of {MAX_INT_BITS:,} bits"
            )
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            size = size_of(seq)
            if size is not None and isinstance(times, int):
                refuse_size(size * times)
        factors = (_int_bits(left), _int_bits(right))
        if None not in factors and sum(b or 0 for b in factors) > MAX_INT_BITS:
            raise BudgetExceeded(f"a product of numbers exceeds {MAX_INT_BITS:,} bits")
    elif operator == "+":
        sizes = (size_of(left), size_of(right))
        if None not in sizes:
            refuse_size(sum(s or 0 for s in sizes))
