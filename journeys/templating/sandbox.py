"""The sandbox every template runs in: Jinja's immutable sandbox, on the render budget.

Jinja's sandbox keeps templates from Python's internals and (the immutable variant) from
changing lists and dicts in place, which would let `l.extend(l)` double a list in every
loop step. On top of it, every hook a template passes through charges the budget:
operators (`*`, `**`, `+`, `%`), calls, filters, loop steps, `~` concatenation and the
output that macros and `{% set %}` blocks capture. Loop steps and `~` have no sandbox hook,
so the code generator routes them through the environment, as Jinja does for operators.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .budget import charge, checked_binop, loop_steps, refuse_size, spent
from .guards import STR_METHODS, check_printf, check_str_method

# Python-level attributes the sandbox refuses besides those starting with '_'
# (jinja2.sandbox.is_internal_attribute); the static check names them too.
UNSAFE_ATTRIBUTES = frozenset(
    [
        "mro",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_code",
        "ag_frame",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "f_back",
        "tb_frame",
        "tb_next",
        "co_code",
        "func_globals",
        "func_code",
        "im_func",
        "im_self",
        "im_class",
    ]
)


def _is_counted(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name == "loop_steps"
    )


class BudgetCodeGenerator(CodeGenerator):
    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # The iterable becomes environment.loop_steps(iterable); Jinja has no loop hook.
        if not _is_counted(node.iter):
            counter = nodes.EnvironmentAttribute("loop_steps", lineno=node.iter.lineno)
            node.iter = nodes.Call(counter, [node.iter], [], None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined(")
        super().visit_Concat(node, frame)
        self.write(")")


def _concat(parts: Iterable[str]) -> str:
    # What macros, {% set %} blocks and {% filter %} blocks return: their captured output.
    out, size = [], 0
    for part in parts:
        size += len(part)
        refuse_size(size, "captured output")
        out.append(part)
    joined: str = spent("".join(out), "captured output")
    return joined


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = BudgetCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_concat)

    @staticmethod
    def loop_steps(iterable: Iterable[Any]) -> Iterable[Any]:
        return loop_steps(iterable)

    @staticmethod
    def joined(value: Any) -> Any:
        return spent(value, "a value joined with ~")

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr not in STR_METHODS:
            return False
        return attr not in UNSAFE_ATTRIBUTES and super().is_safe_attribute(obj, attr, value)

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "%" and isinstance(left, str):
            check_printf(left, right)
        checked_binop(operator, left, right)
        return spent(super().call_binop(context, operator, left, right))

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        charge()
        # str.format reaches here wrapped by the sandbox; the method itself is __wrapped__.
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            args = check_str_method(owner, getattr(method, "__name__", ""), args, kwargs)
        return spent(super().call(__context, __obj, *args, **kwargs))
