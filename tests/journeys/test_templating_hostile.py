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
from journeys.templating import make_environment, render_email, render_sms, sample_context
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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hi {{ ''.__class__ }}", "attribute '__class__' is not allowed"),
        ("Hi {{ cycler.__init__.__globals__ }}", "attribute '__init__' is not allowed"),
        ("Hi {{ customer['__class__'] }}", "attribute '__class__' is not allowed"),
        ("{{ 'x' * 10**9 }}", "a value of 1,000,000,000 characters"),
        ("{{ (10**100000)|string }}", "exponents go up to 64"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "range() of 100,000",
        ),
        (
            "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
            "loops run more than",
        ),
        ("{{ lipsum(100000) }}", "unknown variable 'lipsum'"),
        ("{% for i in range(5000) %}Hallo Welt {% endfor %}", "renders to more than 1,600"),
    ],
    ids=[
        "class",
        "globals",
        "getitem",
        "mul",
        "pow",
        "nested-range",
        "steps",
        "lipsum",
        "long-sms",
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


def test_an_email_that_overrides_the_layout_loses_its_footer_and_is_refused(
    tmp_path: Path, templates: Path
) -> None:
    template = (
        "{% extends '_layouts/email.j2' %}\n"
        "{% block subject %}Angebot{% endblock %}\n"
        "{% block text_body %}Hallo{% endblock %}\n"
        "{% block html_body %}<p>Hallo</p>{% endblock %}\n"
        "{% block html %}<p>Nur Werbung, keine Adresse.</p>{% endblock %}\n"
    )
    (templates / "de" / "hostile.email.j2").write_text(template, encoding="utf-8")
    shutil.copy(templates / "en" / "thank_you.email.j2", templates / "en" / "hostile.email.j2")
    errors = _errors(tmp_path, templates, EMAIL_JOURNEY)
    assert errors == [
        "template de/hostile.email.j2: the html part has no footer with the postal address "
        "and the unsubscribe link; fill in text_body and html_body instead of overriding the "
        "layout's html block"
    ]


def test_the_line_of_a_render_budget_error_is_named(tmp_path: Path, templates: Path) -> None:
    body = "Hallo\n{{ customer.first_name }}\n{{ 'ab' * 100000 }}\n"
    for locale in ("de", "en"):
        (templates / locale / "hostile.sms.j2").write_text(body, encoding="utf-8")
    errors = _errors(tmp_path, templates)
    assert any("hostile.sms.j2:3: does not render" in e for e in errors), errors


def test_rendering_stops_at_the_budget_at_send_time(templates: Path) -> None:
    (templates / "de" / "big.email.j2").write_text(
        "{% extends '_layouts/email.j2' %}{% block subject %}x{% endblock %}"
        "{% block text_body %}{% for i in range(10000) %}{{ 'y' * 99999 }}{% endfor %}"
        "{% endblock %}{% block html_body %}z{% endblock %}",
        encoding="utf-8",
    )
    env = make_environment(templates)
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match="text part renders to more than 1,000,000"):
        render_email(env, "de/big.email.j2", sample_context("de"))
    assert time.perf_counter() - started < 2


_PIECES = st.sampled_from(
    [
        "{{ customer.first_name }}",
        "{{ 'x' * N }}",
        "{{ N ** N }}",
        "{{ (N ** N)|string }}",
        "{% for i in range(N) %}",
        "{% endfor %}",
        "{% if N > 3 %}",
        "{% endif %}",
        "{{ ''.__class__ }}",
        "{{ cycler }}",
        "{{ [1, 2] * N }}",
        "{{ 'ab' ~ 'cd' }}",
        "{{ N|string|length }}",
        "{{ event.total|round }}",
        "{% set s = 'a' * N %}{{ s + s }}",
        "text ",
        "{{",
        "}}",
    ]
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pieces=st.lists(_PIECES, min_size=1, max_size=8),
    numbers=st.lists(st.sampled_from([0, 3, 64, 65, 9999, 10**5, 10**9]), min_size=8, max_size=8),
)
def test_garbage_templates_render_within_budget_or_fail_with_a_template_error(
    templates: Path, pieces: list[str], numbers: list[int]
) -> None:
    body = "".join(p.replace("N", str(numbers[i % len(numbers)])) for i, p in enumerate(pieces))
    (templates / "de" / "fuzz.sms.j2").write_text(body, encoding="utf-8")
    env = make_environment(templates)
    started = time.perf_counter()
    try:
        text = render_sms(env, "de/fuzz.sms.j2", sample_context("de"))
    except Exception as exc:  # only Jinja's own errors (syntax, sandbox, budget, undefined)
        import jinja2

        assert isinstance(exc, jinja2.TemplateError), repr(exc)
    else:
        assert len(text) <= 1_600
    assert time.perf_counter() - started < 3
