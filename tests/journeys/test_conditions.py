"""The journey condition language: syntax, evaluation semantics, errors and safety."""

from __future__ import annotations

import operator
import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journeys._condition_lexer import MAX_NUMBER_DIGITS
from journeys.conditions import MAX_NESTING, Condition, compile_condition
from journeys.errors import ConditionSyntaxError

SCOPE: dict[str, Any] = {
    "event": {"rating": 5, "order": {"total": 120.5, "items": 3}, "comment": "great"},
    "customer": {
        "segment": "vip",
        "vip": True,
        "tags": ["newsletter", "beta"],
        "attributes": {"tier": "gold", "score": 0},
    },
}


def check(source: str, scope: Mapping[str, Any] = SCOPE) -> bool:
    return compile_condition(source).evaluate(scope)


def syntax_error(source: str) -> ConditionSyntaxError:
    with pytest.raises(ConditionSyntaxError) as caught:
        compile_condition(source)
    return caught.value


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("rating >= 4 and customer.segment in ['b2b', 'vip']", True),
        ("rating >= 6 and customer.segment in ['b2b', 'vip']", False),
        ("rating >= 4 and customer.segment in ['b2b', 'smb']", False),
        ("event.order.total > 100", True),
        ("order.total <= 120.5", True),
        ("customer.attributes.tier == 'gold'", True),
        ('customer.attributes.tier != "gold"', False),
        ("customer.vip and rating > 3", True),
        ("customer.attributes.score", False),
        ("rating == 5.0", True),
        ("rating > -2", True),
        ("order.total < 3.5", False),
        ("customer.vip == true", True),
        ("customer.vip == True", True),
        ("customer.missing == null", True),
        ("customer.missing == None", True),
        ("true", True),
        ("false or null", False),
        ("[]", False),
        ("[0]", True),
    ],
)
def test_conditions_evaluate_against_a_dict_scope(source: str, expected: bool) -> None:
    assert check(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true or false and false", True),  # and binds tighter than or
        ("(true or false) and false", False),
        ("not false and false", False),  # not binds tighter than and
        ("not (false and false)", True),
        ("not rating == 4", True),  # comparisons bind tighter than not
        ("not not customer.vip", True),
        ("false or false or rating == 5", True),
        ("true and true and rating == 4", False),
        ("((rating > 3)) == true", True),
        ("not customer.vip or rating < 3 and true", False),
    ],
)
def test_precedence_and_parentheses(source: str, expected: bool) -> None:
    assert check(source) is expected


def test_bare_name_is_the_event_field_unless_the_scope_has_that_key() -> None:
    assert check("rating == 5", {"event": {"rating": 5}})
    assert check("rating == 1", {"rating": 1, "event": {"rating": 5}})
    assert check("rating == null", {"rating": None, "event": {"rating": 5}})
    assert check("rating == null", {"customer": {}})  # no event at all


@pytest.mark.parametrize(
    "source",
    [
        "nothing == null",
        "nothing.at.all == null",
        "customer.segment.deeper == null",
        "customer.tags.first == null",
        "nothing != 3",
        "not nothing",
    ],
)
def test_missing_paths_are_none(source: str) -> None:
    assert check(source)


@pytest.mark.parametrize(
    "source",
    [
        "nothing > 3",
        "nothing < 3",
        "nothing >= null",
        "nothing == 0",
        "nothing == false",
        "nothing.deep",
        "customer.segment > 3",
        "customer.segment < 3",
        "rating <= 'z'",
        "customer.tags > 1",
        "customer.vip > 0",  # bools are not numbers for ordering
        "customer.vip >= false",
        "null < null",
        "order.total > [1]",
    ],
)
def test_missing_values_and_type_mismatches_are_false(source: str) -> None:
    assert check(source) is False


def test_numbers_and_strings_are_not_coerced() -> None:
    scope = {"event": {"price": "10", "count": 10}}
    assert not check("price > 5", scope)
    assert not check("price == 10", scope)
    assert check("price == '10'", scope)
    assert check("count == 10.0", scope)
    assert check("'abc' < 'abd'", scope)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("customer.segment in ['vip', 'b2b']", True),
        ("customer.segment not in ['vip', 'b2b']", False),
        ("'beta' in customer.tags", True),
        ("'alpha' not in customer.tags", True),
        ("'rea' in comment", True),
        ("'bad' not in comment", True),
        ("'tier' in customer.attributes", True),  # keys of a mapping
        ("'gold' in customer.attributes", False),
        ("rating in [1, 2.5, 5]", True),
        ("rating in []", False),
        ("nothing in [null]", True),
        ("5 in comment", False),  # a string cannot hold a number
        ("5 not in comment", True),
        ("customer.tags in ['beta']", False),  # unhashable value
        ("customer.tags not in ['beta']", True),
        ("'a' in nothing", False),  # not a container
        ("'a' not in nothing", False),
        ("1 in rating", False),
        ("1 not in rating", False),
    ],
)
def test_membership(source: str, expected: bool) -> None:
    assert check(source) is expected


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r"'it\'s'", "it's"),
        ('"it\'s"', "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'line\nbreak\ttab\rret'", "line\nbreak\ttab\rret"),
        (r"'caf\u00e9'", "café"),
        ("'café ☕'", "café ☕"),
        ("''", ""),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    assert check(f"text == {literal}", {"event": {"text": value}})


@pytest.mark.parametrize(
    ("source", "position", "expected"),
    [
        ("rating >=", 9, "expected a value after '>='"),
        ("x == 'abc", 5, "unterminated string starting"),
        ("x == 'abc\\", 5, "unterminated string starting"),
        ("(rating > 3))", 12, "unexpected ')'"),
        ("rating > 3 < 5", 11, "comparisons cannot be chained; use 'and'"),
        ("a == b in c", 7, "comparisons cannot be chained; use 'and'"),
        ("a < b not in c", 6, "comparisons cannot be chained; use 'and'"),
        ("", 0, "empty condition"),
        ("   ", 0, "empty condition"),
        ("a and", 5, "expected a value after 'and'"),
        ("and a", 0, "expected a value, found 'and'"),
        ("not", 3, "expected a value after 'not'"),
        ("a not in", 8, "expected a value after 'not in'"),
        ("a b", 2, "expected a comparison, 'and' or 'or', found name 'b'"),
        ("a == 1 b", 7, "expected 'and' or 'or', found name 'b'"),
        ("(a == 1", 7, "expected ')' to close the '(' from position 0"),
        ("(a == 1 b)", 8, "expected ')' to close the '(' from position 0, found name 'b'"),
        ("x in [1, 2", 10, "expected ',' or ']'"),
        ("x in [1 2]", 8, "expected ',' or ']', found '2'"),
        ("x in [1, y]", 9, "expected a literal list element or ']', found name 'y'"),
        ("x in [[1]]", 6, "expected a literal list element"),
        ("x = 1", 2, "unexpected '='; use '=='"),
        ("a && b", 2, "unexpected '&'; use 'and'"),
        ("a || b", 2, "unexpected '|'; use 'or'"),
        ("x == - 2", 5, "found '-'; write -2 for a negative number"),
        ("a.b.", 4, "expected a name after '.'"),
        ("a.in", 2, "expected a name after '.', found 'in'"),
        ("a not b", 6, "expected 'in' after 'not', found name 'b'"),
        ("x == 'a\\q'", 7, "unknown escape '\\q'"),
        ("x == 3abc", 5, "malformed number"),
        ("x == 1.2.3", 5, "malformed number"),
        ("x == 2 @ 3", 7, "unexpected '@'"),
        ("in == 3", 0, "expected a value, found 'in'"),
    ],
)
def test_syntax_errors_name_position_and_expectation(
    source: str, position: int, expected: str
) -> None:
    error = syntax_error(source)
    assert error.position == position
    assert expected in error.reason
    assert error.expression == source
    assert str(error).splitlines()[0] == f"{error.reason} at position {position}"


def test_error_message_reads_as_documented() -> None:
    assert str(syntax_error("rating >=")).startswith("expected a value after '>=' at position 9")
    assert str(syntax_error("x == 'abc")).startswith("unterminated string starting at position 5")
    assert str(syntax_error("")).startswith("empty condition at position 0")


@pytest.mark.parametrize(
    ("source", "position", "expected"),
    [
        ("__import__('os')", 0, "names starting with '__' are not allowed"),
        ("a.__class__", 2, "names starting with '__' are not allowed"),
        ("event.__class__.__bases__", 6, "names starting with '__'"),
        ("a[0]", 1, "indexing with [] is not supported"),
        ("customer.tags[0] == 'x'", 13, "indexing with [] is not supported"),
        ("len(x) > 2", 3, "function calls are not supported"),
        ("customer.segment.upper() == 'VIP'", 22, "function calls are not supported"),
        ("open('/etc/passwd')", 4, "function calls are not supported"),
        ("(lambda: 1)", 7, "unexpected ':'"),
        ("x if y else z", 2, "found name 'if'"),
        ("'a' + 'b'", 6, "expected a duration such as 90d after '+'"),
    ],
)
def test_code_execution_shapes_are_rejected_at_parse_time(
    source: str, position: int, expected: str
) -> None:
    error = syntax_error(source)
    assert (error.position, expected in error.reason) == (position, True)


@dataclass
class Customer:
    segment: str
    _secret: str = "hidden"
    tags: list[str] = field(default_factory=list)


def test_attributes_of_objects_but_not_private_ones() -> None:
    scope = {"customer": Customer("vip"), "event": Customer("b2b")}
    assert check("customer.segment == 'vip'", scope)
    assert check("segment == 'b2b'", scope)
    assert check("customer._secret == null", scope)
    assert not check("customer._secret", scope)
    assert check("customer.nothing == null", scope)


def test_mapping_segments_are_keys_only() -> None:
    # A dict's methods are not reachable as if they were payload fields.
    assert check("customer.items == null and customer.keys == null")
    assert check("_private == 1", {"_private": 1})
    assert check("customer._id == 7", {"customer": {"_id": 7}})


class Payload(Mapping[str, Any]):
    """A read-only mapping that is not a dict, as some event sources deliver."""

    def __init__(self, **data: Any) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_any_mapping_works_as_scope_and_segment() -> None:
    scope = Payload(event=Payload(order=Payload(total=10)), customer=Payload(segment="vip"))
    assert check("order.total == 10 and customer.segment == 'vip'", scope)
    assert check("order.missing == null", scope)


def test_paths_lists_every_reference() -> None:
    condition = compile_condition(
        "rating >= 4 and customer.segment in ['b2b'] or not (event.order.total > rating)"
    )
    assert condition.paths == frozenset(
        {("rating",), ("customer", "segment"), ("event", "order", "total")}
    )
    assert compile_condition("true and 'x' in ['x']").paths == frozenset()


def test_condition_api() -> None:
    condition = compile_condition("rating")
    assert condition.source == "rating"
    assert condition.evaluate(SCOPE) is True  # a real bool, not the value 5
    assert condition(SCOPE) is True
    assert compile_condition("order.items").evaluate(SCOPE) is True
    assert compile_condition("rating and comment").evaluate(SCOPE) is True
    assert compile_condition("nothing or comment").evaluate(SCOPE) is True
    assert repr(condition) == "Condition('rating')"
    assert Condition("rating") == condition
    assert hash(Condition("rating")) == hash(condition)
    assert Condition("rating") != Condition("rating ")
    assert condition != "rating"
    assert compile_condition("rating") is condition  # compiled once, cached
    assert pickle.loads(pickle.dumps(condition)) == condition


def test_non_string_source_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        Condition(4)  # type: ignore[arg-type]


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


LITERALS = st.integers(min_value=-(10**MAX_NUMBER_DIGITS - 1), max_value=10**MAX_NUMBER_DIGITS - 1)


@given(st.integers(), LITERALS, st.sampled_from(sorted(COMPARISONS)))
def test_integer_comparisons_match_python(a: int, b: int, op: str) -> None:
    assert compile_condition(f"x {op} {b}").evaluate({"event": {"x": a}}) is COMPARISONS[op](a, b)


@pytest.mark.parametrize("digits", [MAX_NUMBER_DIGITS + 1, 4301, 5000])
def test_a_number_of_too_many_digits_is_a_syntax_error(digits: int) -> None:
    with pytest.raises(ConditionSyntaxError, match=f"a number of {digits} digits"):
        compile_condition("rating >= " + "9" * digits)


@given(st.text())
def test_any_string_literal_round_trips(text: str) -> None:
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    assert check(f"x == {quoted}", {"event": {"x": text}})


FUZZ_SCOPE: dict[str, Any] = {
    "event": {"n": 3, "f": 2.5, "s": "vip", "b": True, "z": None, "l": [1, "vip", None]},
    "customer": {"segment": "b2b", "tags": ["a"], "score": 0},
}
OPERANDS = st.sampled_from(
    ["n", "f", "s", "b", "z", "l", "nope", "nope.deeper", "customer.segment", "customer.tags",
     "customer.score", "event.n", "3", "-2", "2.5", "'vip'", "'a'", "''", "true", "false",
     "null", "[1, 'vip', null]", "[]"]
)  # fmt: skip
OPERATORS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])
ATOMS = OPERANDS | st.builds(lambda a, op, b: f"{a} {op} {b}", OPERANDS, OPERATORS, OPERANDS)
EXPRESSIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.builds(lambda e: f"not {e}", inner),
        st.builds(lambda e: f"({e})", inner),
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
    ),
    max_leaves=12,
)


@given(EXPRESSIONS)
def test_not_is_always_the_negation(expression: str) -> None:
    value = compile_condition(expression).evaluate(FUZZ_SCOPE)
    assert isinstance(value, bool)
    assert compile_condition(f"not ({expression})").evaluate(FUZZ_SCOPE) is (not value)
    assert compile_condition(f"({expression}) and not ({expression})").evaluate(FUZZ_SCOPE) is False


@given(
    st.text(alphabet=st.sampled_from(list("ab.0123456789 ()[],'\"\\=!<>-_n")), max_size=30)
    | st.text(max_size=30)
)
def test_arbitrary_text_parses_or_fails_cleanly(source: str) -> None:
    try:
        condition = compile_condition(source)
    except ConditionSyntaxError as error:
        assert 0 <= error.position <= len(source)
    else:
        assert isinstance(condition.evaluate(FUZZ_SCOPE), bool)


def test_long_chains_evaluate_and_deep_nesting_is_a_syntax_error() -> None:
    assert check(" and ".join(["rating == 5"] * 3000))
    assert not check(" and ".join(["rating == 5"] * 2999 + ["rating == 4"]))
    assert check(" or ".join(["rating == 4"] * 2999 + ["rating == 5"]))
    assert check("(" * 40 + "rating == 5" + ")" * 40)
    assert check("not " * 40 + "customer.vip")
    assert "nests too deeply" in syntax_error("(" * 3000 + "x" + ")" * 3000).reason
    assert "nests too deeply" in syntax_error("not " * 3000 + "x").reason


def _from_a_deep_stack(frames: int, call: Callable[[], bool]) -> bool:
    """Call as the engine might: with most of Python's stack already in use."""
    return _from_a_deep_stack(frames - 1, call) if frames else call()


def test_nesting_evaluates_anywhere_within_the_limit_and_is_refused_past_it() -> None:
    # A condition that validates (compiled when the journey loads) must evaluate
    # wherever the engine calls it.
    deep_not = compile_condition("not " * MAX_NESTING + "customer.vip")  # even: still True
    assert _from_a_deep_stack(800, lambda: deep_not(SCOPE)) is True
    parens = compile_condition("(" * MAX_NESTING + "rating == 5" + ")" * MAX_NESTING)
    assert _from_a_deep_stack(800, lambda: parens(SCOPE)) is True

    error = syntax_error("not " * (MAX_NESTING + 1) + "customer.vip")
    assert "nests too deeply" in error.reason
    assert error.position == 4 * MAX_NESTING  # the first 'not' past the limit
    mixed = "(not " * MAX_NESTING + "x" + ")" * MAX_NESTING  # '(' and 'not' both count
    assert syntax_error(mixed).position == 5 * (MAX_NESTING // 2)


def test_an_error_in_a_long_condition_shows_its_place_not_the_whole_condition() -> None:
    source = "rating == 5 and " * 20_000 + "rating = 5 and customer.vip"
    error = syntax_error(source)
    assert error.expression == source
    _, shown, pointer = str(error).splitlines()
    assert len(shown) < 120
    assert shown[len(pointer) - 1] == "="
    assert shown[len(pointer) - 8 : len(pointer) + 3] == "rating = 5 "
