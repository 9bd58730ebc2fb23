"""Safe boolean expressions for journey `where:` and `when:` fields.

    rating >= 4 and customer.segment in ['b2b', 'vip']

Tokenized and parsed here, never by `eval` or Python's parser, and compiled
once into closures so that an evaluation costs well under a few microseconds.

Syntax: literals (`4`, `-2`, `3.5`, `'text'` or `"text"` with `\\n \\t \\r \\\\
\\' \\" \\uXXXX` escapes, `true`/`false`/`null` or `True`/`False`/`None`, lists of
literals `[1, 'a']`); dotted paths (`customer.segment`); comparisons `==`, `!=`,
`<`, `<=`, `>`, `>=`, `in`, `not in`, which do not chain; `not`, `and`, `or` and
parentheses. Tightest first: comparison, not, and, or. A bare value is tested
for truthiness. At most 50 `(` and `not` nest, and a number has at most 30 digits.
Time: `now`, durations (`90d`, `1d12h`) and `+`/`-` of a duration, as in
`customer.last_order_at < now - 90d` (see journeys/condition_time.py).

Evaluation against a scope mapping:

* Path `a.b.c` starts from `scope["a"]`; when `a` is not a key of the scope the
  whole path is looked up under `scope["event"]`, so `rating` is the event
  payload's `rating`. Each further segment is a mapping key, or else a public
  attribute of any other object: names starting with `_` are never read as
  attributes, and names starting with `__` do not parse. A missing segment
  gives None, never an exception.
* `==` and `!=` are Python's (`1 == 1.0`). Ordering applies to pairs Python can
  order, except that None and bools are never ordered; any other pair
  (`'2' < 3`, `None > 3`, `true > 0`) is False, never an error. Numeric
  strings are not coerced.
* `x in y` is membership (keys of a mapping, substrings of a string); it is
  False when `y` is not a container (None, a number) or cannot hold `x`
  (`3 in 'abc'`). `not in` is its negation, except that it is also False when
  `y` is not a container.
* `evaluate` always returns a bool.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Container, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, NoReturn, TypeAlias

from journeys._condition_lexer import Token as _Token
from journeys._condition_lexer import tokenize as _tokenize
from journeys.condition_time import Clock, clock_function, instant_function, meeting_points
from journeys.errors import ConditionSyntaxError

__all__ = ["Condition", "compile_condition"]

Scope: TypeAlias = Mapping[str, Any]
Evaluator: TypeAlias = Callable[[Scope], Any]

_MISSING: Any = object()
_ORDERING = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
# Exact types, so that bool (a subclass of int) never takes the fast path.
_FAST = frozenset({int, float})
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict, str})
# Parsing and evaluating recurse once per '(' and 'not': a fixed bound, so that a condition
# that validates also evaluates wherever the engine calls it (Python's stack is ~1,000 deep).
MAX_NESTING = 50


class _Literal(NamedTuple):
    value: Any


Node: TypeAlias = Evaluator | _Literal | Clock


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = 0
        self.previous = ""  # text of the last token consumed, for "expected ... after ..."
        self.paths: set[tuple[str, ...]] = set()
        self.bare = False  # whether the last operand had no comparison, so one may follow
        self.depth = 0  # open '(' and 'not' around the current position
        # (the other side read as an instant, the offset of `now`) per comparison with now
        self.meetings: list[tuple[Evaluator, timedelta]] = []
        self.now_seen = False

    def parse(self) -> Evaluator:
        if self.tokens[0].kind == "end":
            raise ConditionSyntaxError(self.source, 0, "empty condition")
        root = self.parse_binary()
        token = self.peek()
        if self.at(")"):
            self.fail(token, "unexpected ')'")
        if token.kind != "end":
            wanted = "a comparison, 'and' or 'or'" if self.bare else "'and' or 'or'"
            self.fail(token, f"expected {wanted}{self.found(token)}")
        return _function(root)

    def fail(self, token: _Token, message: str) -> NoReturn:
        raise ConditionSyntaxError(self.source, token.pos, message)

    def found(self, token: _Token) -> str:
        if token.kind == "end":
            return ""
        return f", found {'name ' if token.kind == 'name' else ''}{token.text!r}"

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        self.previous = token.text
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.text == text and token.kind in ("word", "op", "punct")

    def parse_binary(self, level: int = 0) -> Node:
        if level == len(_BINARY):
            return self.parse_not()
        parts = [self.parse_binary(level + 1)]
        while self.at(_BINARY[level]):
            self.advance()
            parts.append(self.parse_binary(level + 1))
        return parts[0] if len(parts) == 1 else _join(_BINARY[level], list(map(_function, parts)))

    def nest(self, token: _Token, step: int) -> None:
        self.depth += step
        if self.depth > MAX_NESTING:
            self.fail(token, f"condition nests too deeply (more than {MAX_NESTING} '(' and 'not')")

    def parse_not(self) -> Node:
        if not self.at("not"):
            return self.parse_comparison()
        self.nest(self.advance(), 1)
        inner = _function(self.parse_not())
        self.nest(self.peek(), -1)
        return lambda scope: not inner(scope)

    def parse_comparison(self) -> Node:
        left = self.parse_term()
        op = self.operator()
        self.bare = op is None
        if op is None:
            return left
        right = self.parse_term()
        token = self.peek()
        if self.operator() is not None:
            self.fail(token, "comparisons cannot be chained; use 'and'")
        for clock, other in ((left, right), (right, left)):
            if isinstance(clock, Clock) and clock.base is None and not _on_now(other):
                self.meetings.append((instant_function(_function(other)), clock.offset))
        return _compare(op, left, right)

    def parse_term(self) -> Node:
        """An operand, shifted by durations: `now - 90d`, `customer.signup_at + 30d`."""
        start = self.peek()
        node = self.parse_operand()
        if isinstance(node, Clock):
            base, offset = node.base, node.offset
        elif start.kind == "name" and start.text == "now" and self.previous == "now":
            # `now` is the moment of the evaluation, not a path into the data.
            self.paths.discard(("now",))
            self.now_seen = True
            base, offset = None, timedelta(0)
        elif self.peek().kind == "arith":
            base, offset = _function(node), timedelta(0)
        else:
            return node
        while self.peek().kind == "arith":
            sign = self.advance()
            amount = self.peek()
            if amount.kind != "value" or type(amount.value) is not timedelta:
                self.fail(
                    amount,
                    f"expected a duration such as 90d after {sign.text!r}{self.found(amount)}",
                )
            self.advance()
            offset += amount.value if sign.text == "+" else -amount.value
        return Clock(base, offset)

    def operator(self) -> str | None:
        if self.peek().kind == "op" or self.at("in"):
            return self.advance().text
        if not self.at("not"):
            return None
        if not self.at("in", ahead=1):
            self.fail(self.peek(1), f"expected 'in' after 'not'{self.found(self.peek(1))}")
        self.advance()
        self.advance()
        self.previous = "not in"
        return "not in"

    def parse_operand(self) -> Node:
        token = self.peek()
        if token.kind == "value":
            self.advance()
            return _Literal(token.value)
        if token.kind == "name":
            return self.parse_path()
        if self.at("("):
            self.nest(self.advance(), 1)
            inner = self.parse_binary()
            if not self.at(")"):
                wanted = f"expected ')' to close the '(' from position {token.pos}"
                self.fail(self.peek(), wanted + self.found(self.peek()))
            self.nest(self.advance(), -1)
            return inner
        if self.at("["):
            return self.parse_list()
        after = f" after {self.previous!r}" if self.previous else ""
        hint = "; write -2 for a negative number" if token.text == "-" else ""
        self.fail(token, f"expected a value{after}{self.found(token)}{hint}")

    def parse_path(self) -> Evaluator:
        segments = [self.name()]
        while self.at("."):
            self.advance()
            segments.append(self.name())
        if self.at("("):
            self.fail(self.peek(), "function calls are not supported")
        if self.at("["):
            self.fail(self.peek(), "indexing with [] is not supported; use a dotted path")
        self.paths.add(tuple(segments))
        return _path(tuple(segments))

    def name(self) -> str:
        token = self.peek()
        if token.kind != "name":
            self.fail(token, f"expected a name after {self.previous!r}{self.found(token)}")
        if token.text.startswith("__"):
            self.fail(token, f"names starting with '__' are not allowed, found {token.text!r}")
        return str(self.advance().value)

    def parse_list(self) -> _Literal:
        items: list[Any] = []
        self.advance()
        while not self.at("]"):
            token = self.peek()
            if token.kind != "value":
                self.fail(token, f"expected a literal list element or ']'{self.found(token)}")
            items.append(self.advance().value)
            if self.at(","):
                self.advance()
            elif not self.at("]"):
                self.fail(self.peek(), f"expected ',' or ']'{self.found(self.peek())}")
        self.advance()
        return _Literal(items)


def _on_now(node: Node) -> bool:
    return isinstance(node, Clock) and node.base is None


def _function(node: Node) -> Evaluator:
    if isinstance(node, Clock):
        return clock_function(node)
    if isinstance(node, _Literal):
        value = node.value
        return lambda scope: value
    return node


_BINARY = ("or", "and")  # loosest first


def _join(word: str, parts: list[Evaluator]) -> Evaluator:
    # One loop rather than nested pairs, so that long chains cannot exhaust the stack.
    stop = word == "or"  # `or` stops at the first true part, `and` at the first false one

    def chain(scope: Scope) -> bool:
        for part in parts:
            if bool(part(scope)) is stop:
                return stop
        return not stop

    return chain


def _step(value: Any, name: str) -> Any:
    if type(value) is dict:
        return value.get(name)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    # Underscore attributes are implementation details, and a way out of the sandbox.
    return None if name[0] == "_" else getattr(value, name, None)


def _path(segments: tuple[str, ...]) -> Evaluator:
    head, rest = segments[0], segments[1:]

    def resolve(scope: Scope) -> Any:
        value = scope.get(head, _MISSING)
        if value is _MISSING:
            value = _step(scope.get("event"), head)
        for name in rest:
            value = _step(value, name)
        return value

    return resolve


def _ordered(compare: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    def test(a: Any, b: Any) -> bool:
        if (type(a) in _FAST and type(b) in _FAST) or (type(a) is str and type(b) is str):
            return bool(compare(a, b))
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return False
        try:
            return bool(compare(a, b))
        except TypeError:  # Python itself refuses to order the pair (str and int, ...)
            return False

    return test


def _is_in(item: Any, container: Any) -> bool:
    try:
        return item in container
    except TypeError:  # None or a number, an unhashable item, or a non-string in a string
        return False


def _is_not_in(item: Any, container: Any) -> bool:
    if type(container) in _CONTAINERS or isinstance(container, Container):
        return not _is_in(item, container)
    return False


_TESTS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "in": _is_in,
    "not in": _is_not_in,
    **{op: _ordered(compare) for op, compare in _ORDERING.items()},
}


def _compare(op: str, left_node: Node, right_node: Node) -> Evaluator:
    if isinstance(left_node, Clock) or isinstance(right_node, Clock):
        # A time on one side: the other is a date to be read as one.
        left_fn, right_fn = _function(left_node), _function(right_node)
        left_node = left_fn if isinstance(left_node, Clock) else instant_function(left_fn)
        right_node = right_fn if isinstance(right_node, Clock) else instant_function(right_fn)
    left, test = _function(left_node), _TESTS[op]
    if "in" in op and isinstance(right_node, _Literal) and type(right_node.value) is list:
        # Literal lists hold only hashable literals, so a set gives the same answers faster.
        right_node = _Literal(frozenset(right_node.value))
    right = _function(right_node)
    return lambda scope: test(left(scope), right(scope))


class Condition:
    """A compiled condition; `evaluate(scope)`, or call it, to test a scope."""

    __slots__ = ("_evaluate", "_meetings", "paths", "source", "uses_now")

    source: str
    paths: frozenset[tuple[str, ...]]
    uses_now: bool

    def __init__(self, source: str) -> None:
        if not isinstance(source, str):
            raise TypeError(f"a condition must be a string, not {type(source).__name__}")
        parser = _Parser(source)
        self._evaluate = parser.parse()
        self.source = source
        self.paths = frozenset(parser.paths)
        self._meetings = tuple(parser.meetings)
        self.uses_now = parser.now_seen

    def meeting_points(self, scope: Scope) -> list[datetime]:
        """The moments `now` meets a date it is compared with: where time alone can
        change the condition's truth."""
        return meeting_points(self._meetings, scope)

    def evaluate(self, scope: Scope) -> bool:
        return bool(self._evaluate(scope))

    __call__ = evaluate

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and self.source == other.source

    def __hash__(self) -> int:
        return hash((Condition, self.source))

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __reduce__(self) -> tuple[Callable[[str], Condition], tuple[str]]:
        # Closures cannot be pickled; the source is enough to rebuild the condition.
        return compile_condition, (self.source,)


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> Condition:
    """Parse `source` once; raises ConditionSyntaxError naming the offending position."""
    return Condition(source)
