"""Hostile templates: refused by `validate` with their file and line, and bounded in time
and size when they render (a render error fails the message, never the dispatcher)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.config import templates_dir
from journeys.model import Journey
from journeys.templating import (
    TemplateIssue,
    check_template,
    make_environment,
    render_email,
    render_sms,
    sample_context,
    sms_segments,
)
from journeys.templating.budget import BudgetExceeded
from journeys.validate import validate_paths

JOURNEY = """\
journey: hostile
version: 1
name: Hostile
locale: de
stages:
  - key: start
    enter_when: {event: account.created}
    on_enter:
      - {sms: hostile, marketing: false}
    final: true
"""
NESTED = "{{% for i in range({n}) %}}{{% for j in range({n}) %}}{{% endfor %}}{{% endfor %}}"
EMAIL_JOURNEY = JOURNEY.replace("{sms: hostile, marketing: false}", "{email: hostile}")


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(templates_dir(), folder)
    return folder


def _errors(tmp_path: Path, templates: Path, journey: str = JOURNEY) -> list[str]:
    path = tmp_path / "hostile.yaml"
    path.write_text(journey, encoding="utf-8")
    report = validate_paths([path], templates)
    return [p.message for p in report.problems if p.severity == "error"]


S = "{% set s = 'x' * 30000 %}"  # a string at the value limit's scale, for amplifiers


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hi {{ ''.__class__ }}", "attribute '__class__' is not allowed"),
        ("Hi {{ cycler.__init__.__globals__ }}", "attribute '__init__' is not allowed"),
        ("Hi {{ customer['__class__'] }}", "attribute '__class__' is not allowed"),
        ("Hi {{ ''|attr('__class__') }}", "attribute '__class__' is not allowed"),
        ("Hi {{ customer.attributes.mro }}", "attribute 'mro' is not allowed"),
        ("{{ 'x' * 10**9 }}", "1,000,000,000 characters or items exceed the limit"),
        ("{{ (10**100000)|string }}", "exceeds the largest exponent, 64"),
        ("{{ (((2**64)**64)**64)**64 }}", "bits exceeds the limit of 10,000 bits"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "range() of 100,000 numbers exceeds",
        ),
        (
            "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
            "loops run more than 100,000 steps",
        ),
        (S + "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", "loops run more than"),
        ("{{ lipsum(100000) }}", "unknown variable 'lipsum'"),
        ("{% for i in range(5000) %}Hallo Welt {% endfor %}", "the SMS exceeds 16,000"),
        ("{% for i in range(200) %}Hallo Welt {% endfor %}", "the SMS exceeds 10 segments"),
        ("{{ 'x'|center(100000000) }}", "center() to a width of 100,000,000 exceeds"),
        ("{{ '%0100000000d' % 1 }}", "a width in a format of 100,000,000 exceeds"),
        ("{{ '%0100000000d'|format(1) }}", "a width in a format of 100,000,000 exceeds"),
        ("{{ '{:>100000000}'.format(1) }}", "a width in a format of 100,000,000 exceeds"),
        ("{{ 'x'.ljust(100000000) }}", "access to attribute 'ljust' of 'str' object is unsafe"),
        (S + "{{ s|replace('x', s) }}", "replace(): 900,000,000 characters"),
        (S + "{{ s.replace('x', s) }}", "replace(): 900,000,000 characters"),
        ("{{ range(10000)|join('x' * 99999) }}", "join(): 1,000,090,001 characters"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "a value joined with ~: 1,048,576 characters",
        ),
        (
            "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
            "access to attribute 'extend' of 'list' object is unsafe",
        ),
        (
            S + "{% macro m() %}{% for i in range(100) %}{{ s }}{% endfor %}{% endmacro %}"
            "{% set y = m() %}",
            "captured output: 1,020,000 characters",
        ),
        (
            S + "{% set l = [s] * 10000 %}{{ l|map('upper')|list|length }}",
            "rendering builds values of",
        ),
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "RecursionError"),
        ("{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}", "nests expressions or blocks too deeply"),
        ("{% if 1 %}" * 500 + "{% endif %}" * 500, "nests expressions or blocks too deeply"),
    ],
    ids=[
        "class",
        "globals",
        "getitem",
        "attr-filter",
        "mro",
        "mul",
        "pow",
        "pow-chain",
        "nested-range",
        "steps",
        "empty-loops-over-a-string",
        "lipsum",
        "long-sms",
        "sms-segments",
        "center",
        "printf-width",
        "format-filter-width",
        "str-format-width",
        "ljust",
        "replace-filter",
        "replace-method",
        "join-separator",
        "concat-doubling",
        "list-extend",
        "macro-capture",
        "map-churn",
        "zero-division",
        "recursion",
        "deep-expression",
        "deep-blocks",
    ],
)
def test_validate_refuses_a_hostile_sms_template_quickly_with_its_place(
    tmp_path: Path, templates: Path, body: str, expected: str
) -> None:
    for locale in ("de", "en"):
        (templates / locale / "hostile.sms.j2").write_text(body + "\n", encoding="utf-8")
    started = time.perf_counter()
    errors = _errors(tmp_path, templates)
    assert time.perf_counter() - started < 10
    assert any(expected in e for e in errors), errors
    assert any("hostile.sms.j2" in e for e in errors), errors


@pytest.mark.parametrize("part", ["html", "text"])
def test_an_email_that_overrides_the_layout_loses_its_footer_and_is_refused(
    tmp_path: Path, templates: Path, part: str
) -> None:
    template = (
        "{% extends '_layouts/email.j2' %}\n"
        "{% block subject %}Angebot{% endblock %}\n"
        "{% block text_body %}Hallo{% endblock %}\n"
        "{% block html_body %}<p>Hallo</p>{% endblock %}\n"
        f"{{% block {part} %}}Nur Werbung, keine Adresse.{{% endblock %}}\n"
    )
    (templates / "de" / "hostile.email.j2").write_text(template, encoding="utf-8")
    shutil.copy(templates / "en" / "thank_you.email.j2", templates / "en" / "hostile.email.j2")
    errors = _errors(tmp_path, templates, EMAIL_JOURNEY)
    assert errors == [
        f"template de/hostile.email.j2: the {part} part has no footer with the postal address "
        "and the unsubscribe link; fill in text_body and html_body instead of overriding the "
        f"layout's {part} block"
    ]


def test_the_line_of_a_render_budget_error_is_named(tmp_path: Path, templates: Path) -> None:
    body = "Hallo\n{{ customer.first_name }}\n{{ 'ab' * 1000000 }}\n"
    for locale in ("de", "en"):
        (templates / locale / "hostile.sms.j2").write_text(body, encoding="utf-8")
    errors = _errors(tmp_path, templates)
    assert any("hostile.sms.j2:3: does not render" in e for e in errors), errors
    assert any("2,000,000 characters or items exceed the limit" in e for e in errors), errors


def test_rendering_stops_at_the_budget_at_send_time(templates: Path) -> None:
    (templates / "de" / "big.email.j2").write_text(
        "{% extends '_layouts/email.j2' %}{% block subject %}x{% endblock %}"
        "{% block text_body %}{% for i in range(10000) %}{{ 'y' * 99999 }}{% endfor %}"
        "{% endblock %}{% block html_body %}z{% endblock %}",
        encoding="utf-8",
    )
    env = make_environment(templates)
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match="text part exceeds 1,000,000 characters"):
        render_email(env, "de/big.email.j2", sample_context("de"))
    assert time.perf_counter() - started < 2


def test_a_render_budget_error_fails_the_message_with_a_clear_reason(templates: Path) -> None:
    """The dispatcher records the renderer's failed result: its reason must say what broke."""
    from datetime import UTC, datetime

    from channels.links import LinkSigner
    from channels.render import Renderer
    from channels.render_settings import RenderSettings
    from channels.settings import ChannelSettings
    from journeys.store.outbox.claimed import ClaimedAction, ClaimedCustomer

    (templates / "de" / "hostile.sms.j2").write_text(
        "Hallo {{ customer.first_name }}\n{{ 'x' * 10**9 }}\n", encoding="utf-8"
    )
    journey = next(iter(_journeys(templates)))
    now = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    customer = ClaimedCustomer(
        1, "c-1", None, "+491701234567", "Max", None, "de", "Europe/Berlin", "DE", {}
    )
    action = ClaimedAction(
        id=1,
        claim="c",
        idempotency_key="k",
        journey=journey.journey,
        version=1,
        enrollment_id=1,
        stage="start",
        stage_entry=1,
        action_key="sms",
        kind="sms",
        template="hostile",
        variant=None,
        params={"marketing": False},
        due_at=now,
        attempts=1,
        lease_expires_at=now,
        customer=customer,
        promo=None,
        event=None,
    )
    renderer = Renderer(
        templates,
        LinkSigner(b"k" * 32, "https://example.com"),
        RenderSettings.from_env(),
        ChannelSettings.from_env(),
    )
    result = renderer.render(action, journey, None, now)
    assert getattr(result, "status", None) == "failed", result
    reason = getattr(result, "reason", "") or ""
    assert reason.startswith("render error: template "), reason
    assert "hostile.sms.j2:2:" in reason and "exceed the limit of 1,000,000" in reason


def _journeys(templates: Path) -> list[Journey]:
    from journeys.loader import parse_journey

    return [parse_journey(JOURNEY, "hostile.yaml")[0]]


# --- garbage templates ---------------------------------------------------------------------

_NUMBERS = st.sampled_from(["0", "3", "64", "65", "9999", "100000", "1000000000", "10**100"])
_ATOMS = st.one_of(
    _NUMBERS,
    st.sampled_from(
        [
            "'x'",
            "'%0100000000d'",
            "'{:>100000000}'",
            "customer.first_name",
            "event.total",
            "customer",
            "cycler",
            "[1, 2]",
            "s",
            "range(N)",
            "{'a': 1}",
        ]
    ),
)
_FILTERS = st.sampled_from(
    [
        "center(N)",
        "indent(N, true)",
        "format(N)",
        "replace('x', s)",
        "join(s)",
        "wordwrap(1, wrapstring=s)",
        "batch(N, 'x')",
        "slice(N)",
        "tojson(N)",
        "string",
        "list",
        "length",
        "upper",
        "sum",
        "map('upper')",
        "first",
        "urlize(target=s)",
        "truncate(N)",
        "round(N)",
        "int",
        "attr('__class__')",
        "number(N)",
        "money",
        "bogus",
    ]
)
_ATTRS = st.sampled_from(
    ["__class__", "mro", "upper()", "ljust(N)", "replace('x', s)", "format(s)", "first_name"]
)


def _expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        ops = st.sampled_from(["*", "**", "+", "-", "/", "//", "%", "~"])
        return st.one_of(
            st.tuples(inner, ops, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, _FILTERS).map(lambda t: f"({t[0]})|{t[1]}"),
            st.tuples(inner, _ATTRS).map(lambda t: f"({t[0]}).{t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
        )

    return st.recursive(_ATOMS, extend, max_leaves=5)


def _statements() -> st.SearchStrategy[str]:
    expr = _expressions()
    leaf = st.one_of(
        expr.map(lambda e: f"{{{{ {e} }}}}"),
        expr.map(lambda e: f"{{% set s = {e} %}}"),
        st.sampled_from(["Hallo ", "{{", "{% endfor %}", "\n"]),
    )

    def nest(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        body = st.lists(inner, max_size=3).map("".join)
        return st.one_of(
            st.tuples(expr, body).map(lambda t: f"{{% for i in {t[0]} %}}{t[1]}{{% endfor %}}"),
            st.tuples(expr, body).map(lambda t: f"{{% if {t[0]} %}}{t[1]}{{% endif %}}"),
            body.map(lambda b: f"{{% macro m() %}}{b}{{% endmacro %}}{{{{ m() }}}}"),
        )

    return st.recursive(leaf, nest, max_leaves=6)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.lists(_statements(), min_size=1, max_size=4).map("".join),
    number=_NUMBERS,
    channel=st.sampled_from(["sms", "email"]),
)
def test_garbage_templates_are_checked_and_rendered_within_budget_or_refused_clearly(
    templates: Path, body: str, number: str, channel: str
) -> None:
    """A random template: the validator's check and a render give only journeyflow's own
    errors (template issues, Jinja template errors), each in bounded time and size."""
    import jinja2

    source = "{% set s = 'x' * 3000 %}" + body.replace("N", number)
    if channel == "email":
        source = (
            "{% extends '_layouts/email.j2' %}{% block subject %}Hallo{% endblock %}"
            f"{{% block text_body %}}{source}{{% endblock %}}"
            f"{{% block html_body %}}{source}{{% endblock %}}"
        )
    name = f"de/fuzz.{channel}.j2"
    (templates / name).write_text(source, encoding="utf-8")
    env = make_environment(templates)

    started = time.perf_counter()
    issues = check_template(env, name)
    assert all(isinstance(issue, TemplateIssue) for issue in issues)
    assert time.perf_counter() - started < 2

    started = time.perf_counter()
    try:
        if channel == "sms":
            text = render_sms(env, name, sample_context("de"))
            assert sms_segments(text).segments <= 10
        else:
            email = render_email(env, name, sample_context("de"))
            assert max(len(email.text), len(email.html)) <= 1_000_000
    except jinja2.TemplateError:
        pass  # syntax, sandbox, budget, undefined variable: all say what and where
    assert time.perf_counter() - started < 2.5


def test_an_expression_jinja_folds_and_fails_is_a_template_issue(templates: Path) -> None:
    # Jinja evaluates constant expressions while it reads a template; one that fails is
    # a problem of the template, found by the check, not a traceback.
    (templates / "de/folded.sms.j2").write_text("{{ (0 ~ (0).mro) }}", encoding="utf-8")
    issues = check_template(make_environment(templates), "de/folded.sms.j2")
    assert [i.message for i in issues] == [
        "an expression fails on every render: 'int object' has no attribute 'mro'"
    ]
