"""Message templates: environment, render context, static checks, SMS length, shipped files."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.config import PROJECT_ROOT
from journeys.loader import journey_files
from journeys.model import Journey, _MessageAction
from journeys.templating import (
    CONTEXT_SPEC,
    TemplateEnvironment,
    check_template,
    find_template,
    make_environment,
    render_email,
    render_sms,
    sample_context,
    sms_segments,
    template_path,
)
from journeys.validate import load_journeys, validate_paths

TEMPLATES = PROJECT_ROOT / "templates"
DEFINITIONS = PROJECT_ROOT / "journeys" / "definitions"
LOCALES = ("de", "en")
SHIPPED = sorted(
    p.relative_to(TEMPLATES).as_posix()
    for locale in LOCALES
    for p in (TEMPLATES / locale).glob("*.j2")
)
JOURNEY_FILES = sorted(journey_files([DEFINITIONS]))
# The templates whose actions in the shipped journeys declare a promo code.
PROMO_TEMPLATES = {
    name
    for journey in load_journeys()
    for stage in journey.stages
    for action in stage.on_enter
    if isinstance(action, _MessageAction) and action.promo_code
    for name in action.templates
}
assert {"review_request", "welcome", "we_miss_you", "birthday_greeting"} <= PROMO_TEMPLATES


@pytest.fixture(scope="module")
def env() -> TemplateEnvironment:
    return make_environment(TEMPLATES)


def _nbsp(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def _probe_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    """A templates folder with the shipped German layout and the given templates."""
    shutil.copytree(TEMPLATES / "de" / "_layouts", tmp_path / "de" / "_layouts")
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source, encoding="utf-8")
    return tmp_path


def _issues(tmp_path: Path, source: str, *, promo: bool = False, name: str = "x.email.j2") -> str:
    tdir = _probe_dir(tmp_path, {f"de/{name}": source})
    issues = check_template(make_environment(tdir), tdir / "de" / name, has_promo_code=promo)
    return "\n".join(str(i) for i in issues)


LAYOUT_HEAD = '{% extends "_layouts/email.j2" %}\n'
GOOD = (
    LAYOUT_HEAD
    + "{% block subject %}Hallo {{ customer.first_name }}{% endblock %}\n"
    + "{% block text_body %}{{ company.name }}{% endblock %}\n"
    + "{% block html_body %}<p>{{ company.name }}</p>{% endblock %}\n"
)
TEXT_BODY = "{{ company.name }}{% endblock %}"  # the end of the text_body block in GOOD


# --- shipped templates ----------------------------------------------------------------------


def test_both_locales_ship_the_same_templates() -> None:
    de = {n.split("/", 1)[1] for n in SHIPPED if n.startswith("de/")}
    en = {n.split("/", 1)[1] for n in SHIPPED if n.startswith("en/")}
    assert de == en
    assert len(de) >= 10


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_template_renders_with_sample_context(env: TemplateEnvironment, name: str) -> None:
    locale, base = name.split("/", 1)
    ctx = sample_context(locale, promo_code=base.split(".")[0] in PROMO_TEMPLATES)
    if base.endswith(".sms.j2"):
        text = render_sms(env, name, ctx)
        assert "STOP" in text and "None" not in text
        return
    mail = render_email(env, name, ctx)
    assert mail.subject and "\n" not in mail.subject and "None" not in mail.subject
    for part in (mail.text, mail.html):
        assert "Musterstraße 1, 10115 Berlin" in part  # postal address in the footer
        assert "None" not in part and "{{" not in part
    assert ctx["links"]["unsubscribe"] in mail.text
    assert ctx["links"]["unsubscribe"].replace("&", "&amp;") in mail.html
    assert mail.html.startswith("<!DOCTYPE html>") and f'<html lang="{locale}">' in mail.html
    assert "\n\n\n" not in mail.text


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_template_passes_check(env: TemplateEnvironment, name: str) -> None:
    promo = name.split("/", 1)[1].split(".")[0] in PROMO_TEMPLATES
    assert check_template(env, name, has_promo_code=promo) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_sms_templates_fit_one_gsm7_segment(env: TemplateEnvironment, locale: str) -> None:
    for name in [n for n in SHIPPED if n.startswith(f"{locale}/") and n.endswith(".sms.j2")]:
        text = render_sms(env, name, sample_context(locale))
        assert sms_segments(text)[::2] == ("GSM-7", 1), (name, text)


def test_promo_template_without_promo_code_does_not_render(env: TemplateEnvironment) -> None:
    ctx = sample_context("de", promo_code=False)
    assert "promo_code" not in ctx
    with pytest.raises(jinja2.UndefinedError):
        render_email(env, "de/review_request.email.j2", ctx)


# --- escaping -------------------------------------------------------------------------------


def test_html_is_escaped_but_subject_and_text_are_verbatim(tmp_path: Path) -> None:
    tdir = _probe_dir(tmp_path, {"de/probe.email.j2": GOOD})
    env = make_environment(tdir)
    ctx = sample_context("de")
    ctx["customer"]["first_name"] = "<script>alert(1)</script>"
    ctx["company"]["name"] = "Müller & Söhne"
    mail = render_email(env, "de/probe.email.j2", ctx)
    assert mail.subject == "Hallo <script>alert(1)</script>"
    assert "Hallo <script>alert(1)</script>," in mail.text
    assert "Müller & Söhne" in mail.text and "&amp;" not in mail.text
    assert "<script>" not in mail.html
    assert "Hallo &lt;script&gt;alert(1)&lt;/script&gt;," in mail.html
    assert "<title>Hallo &lt;script&gt;" in mail.html
    assert "<p>Müller &amp; Söhne</p>" in mail.html


def test_shipped_greeting_is_escaped_only_in_html(env: TemplateEnvironment) -> None:
    ctx = sample_context("en", promo_code=True)
    ctx["customer"]["first_name"] = "<b>Emma</b>"
    mail = render_email(env, "en/review_request.email.j2", ctx)
    assert "Hi <b>Emma</b>," in mail.text
    assert "Hi &lt;b&gt;Emma&lt;/b&gt;," in mail.html and "<b>Emma</b>" not in mail.html


def test_sms_is_not_escaped_and_stays_gsm7(env: TemplateEnvironment) -> None:
    ctx = sample_context("de")
    ctx["customer"]["first_name"] = "Jürgen & Co"
    text = render_sms(env, "de/we_miss_you.sms.j2", ctx)
    assert "Hallo Jürgen & Co," in text
    assert "10 % Rabatt" in text  # babel's no-break space would force UCS-2
    assert sms_segments(text).encoding == "GSM-7"


# --- check_template -------------------------------------------------------------------------


def test_check_accepts_a_good_template(tmp_path: Path) -> None:
    assert _issues(tmp_path, GOOD) == ""


def test_check_reports_misspelled_customer_attribute(tmp_path: Path) -> None:
    source = GOOD.replace(TEXT_BODY, "{{ customer.frist_name }}{% endblock %}")
    report = _issues(tmp_path, source)
    assert "'customer' has no attribute 'frist_name'" in report
    assert "did you mean 'first_name'?" in report
    assert "valid are: attributes, country, email, first_name" in report
    assert "x.email.j2:3:" in report


def test_check_reports_unknown_root(tmp_path: Path) -> None:
    report = _issues(tmp_path, GOOD.replace("Hallo {{ customer.", "Hallo {{ custmer."))
    assert "unknown variable 'custmer' (did you mean 'customer'?)" in report
    assert "valid are: brand, company, customer, event, journey, links, now, promo_code" in report
    assert "x.email.j2:2:" in report


def test_check_reports_promo_code_without_declared_promo_code(tmp_path: Path) -> None:
    source = GOOD.replace(TEXT_BODY, "{{ promo_code.code }}{% endblock %}")
    assert "declares no promo code" in _issues(tmp_path, source, promo=False)
    assert _issues(tmp_path / "b", source, promo=True) == ""
    bad_attr = source.replace("promo_code.code", "promo_code.percent")
    report = _issues(tmp_path / "c", bad_attr, promo=True)
    assert "'promo_code' has no attribute 'percent'" in report


def test_check_reports_unknown_filter_and_test(tmp_path: Path) -> None:
    source = GOOD.replace("{{ company.name }}<", "{{ 5|monye }}{% if 1 is evn %}{% endif %}<")
    report = _issues(tmp_path, source)
    assert "unknown filter 'monye' (did you mean 'money'?)" in report
    assert "unknown test 'evn' (did you mean 'even'?)" in report


def test_check_reports_missing_blocks(tmp_path: Path) -> None:
    unfilled = "\n".join(line for line in GOOD.splitlines() if "text_body" not in line)
    assert "block 'text_body' must be filled in" in _issues(tmp_path, unfilled)
    standalone = "{% block subject %}Hallo{% endblock %}{% block html %}<p></p>{% endblock %}"
    report = _issues(tmp_path / "b", standalone)
    assert "email has no 'text' block" in report
    assert "'html'" not in report and "'subject'" not in report


def test_check_reports_syntax_error_with_line(tmp_path: Path) -> None:
    source = GOOD.replace(TEXT_BODY, "\n\n{% if x %}{% endblock %}")
    report = _issues(tmp_path, source)
    assert "syntax error" in report
    assert "x.email.j2:5:" in report


def test_check_reports_missing_layout(tmp_path: Path) -> None:
    report = _issues(tmp_path, GOOD.replace("_layouts/email.j2", "_layouts/mail.j2"))
    assert "template 'de/_layouts/mail.j2' not found" in report


def test_check_does_not_report_local_variables(tmp_path: Path) -> None:
    body = (
        "{% set total = 3 %}{% for item in [1, 2] %}{{ loop.index }}{{ item }}{% endfor %}"
        "{% macro box(label) %}{{ label }}{% endmacro %}{{ box(total) }}"
        "{% set customer = {'frist_name': 'x'} %}{{ customer.frist_name }}"
    )
    source = GOOD.replace("{% block html_body %}", "{% block html_body %}" + body)
    assert _issues(tmp_path, source) == ""


def test_check_sms_needs_no_blocks(tmp_path: Path) -> None:
    name = "x.sms.j2"
    assert _issues(tmp_path, "Hallo {{ customer.first_name }}", name=name) == ""
    report = _issues(tmp_path / "b", "Hallo {{ customer.phone_number }}", name=name)
    assert "'customer' has no attribute 'phone_number'" in report


# --- SMS length -----------------------------------------------------------------------------


def test_sms_segments_gsm7() -> None:
    assert sms_segments("Hallo Max, Ihr Paket ist da!") == ("GSM-7", 28, 1)
    assert sms_segments("äöüßÄÖÜ @£$¥") == ("GSM-7", 12, 1)
    assert sms_segments("a" * 160) == ("GSM-7", 160, 1)
    assert sms_segments("a" * 161) == ("GSM-7", 161, 2)
    assert sms_segments("a" * 306) == ("GSM-7", 306, 2)
    assert sms_segments("a" * 307) == ("GSM-7", 307, 3)


def test_sms_segments_extension_characters_count_double() -> None:
    assert sms_segments("Nur 5 €") == ("GSM-7", 8, 1)
    assert sms_segments("€" * 80) == ("GSM-7", 160, 1)
    assert sms_segments("€" * 81) == ("GSM-7", 162, 2)
    assert sms_segments("[{}]|^~\\") == ("GSM-7", 16, 1)
    # an escape sequence is never split across two segments
    assert sms_segments("a" * 152 + "€" + "a" * 152) == ("GSM-7", 306, 3)


def test_sms_segments_ucs2() -> None:
    assert sms_segments("Wir vermissen Sie 😀") == ("UCS-2", 20, 1)
    assert sms_segments("ê" * 70) == ("UCS-2", 70, 1)
    assert sms_segments("ê" * 71) == ("UCS-2", 71, 2)
    assert sms_segments("ê" * 134) == ("UCS-2", 134, 2)
    assert sms_segments("😀" * 35) == ("UCS-2", 70, 1)
    assert sms_segments("„Angebot“") == ("UCS-2", 9, 1)


# --- locale filters -------------------------------------------------------------------------


def _render(env: TemplateEnvironment, source: str, **ctx: Any) -> str:
    return _nbsp(env.from_string(source).render(**ctx))


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "1.234,56 € | 1.234,5 | 10 % | 14.03.2025 | 14. März 2025 | 10 % Rabatt"),
        ("de-AT", "| 1.234,5 | 10 % | 14.03.2025 |"),
        ("en", "€1,234.56 | 1,234.5 | 10% | Mar 14, 2025 | March 14, 2025 | 10% off"),
    ],
)
def test_locale_filters(env: TemplateEnvironment, locale: str, expected: str) -> None:
    source = (
        "{{ 1234.56|money }} | {{ 1234.5|number }} | {{ 0.1|percent }} | {{ day|date }} | "
        "{{ day|date('long') }} | {{ '10%'|discount }}"
    )
    ctx = sample_context(locale)
    out = _render(env, source, customer=ctx["customer"], day=datetime(2025, 3, 14, 12, tzinfo=UTC))
    assert expected in out


def test_filters_take_an_explicit_locale_and_currency(env: TemplateEnvironment) -> None:
    out = _render(env, "{{ 5|money('USD', locale='en') }} {{ 2.5|number(2, locale='de') }}")
    assert out == "$5.00 2,50"
    assert _render(env, "{{ '5 EUR'|discount(locale='de') }}") == "5,00 € Rabatt"
    assert _render(env, "{{ 'free_shipping'|discount(locale='en') }}") == "free shipping"


def test_date_uses_the_customers_time_zone(env: TemplateEnvironment) -> None:
    late = datetime(2025, 3, 14, 23, 30, tzinfo=UTC)  # already the 15th in Berlin
    berlin = {"locale": "de", "timezone": "Europe/Berlin"}
    assert _render(env, "{{ t|date }}", t=late, customer=berlin) == "15.03.2025"
    assert _render(env, "{{ t|date }}", t=late.isoformat(), customer=berlin) == "15.03.2025"


def test_template_folder_decides_the_language(env: TemplateEnvironment) -> None:
    # An English-speaking customer receiving a German template gets German numbers.
    ctx = sample_context("en")
    ctx["customer"]["first_name"] = "Emma"
    text = _nbsp(render_sms(env, "de/we_miss_you.sms.j2", ctx))
    assert "10 % Rabatt bis 13.04.2025" in text


# --- lookup and context -----------------------------------------------------------------------


def test_find_template_falls_back_to_the_language(tmp_path: Path) -> None:
    tdir = _probe_dir(tmp_path, {"de/hi.sms.j2": "Hallo", "de-AT/servus.sms.j2": "Servus"})
    assert find_template(tdir, "de-AT", "hi", "sms") == tdir / "de" / "hi.sms.j2"
    assert find_template(tdir, "de-AT", "servus", "sms") == tdir / "de-AT" / "servus.sms.j2"
    assert find_template(tdir, "de", "servus", "sms") is None
    assert find_template(tdir, "de", "hi", "email") is None
    assert template_path(tdir, "en", "hi", "sms") == tdir / "en" / "hi.sms.j2"
    with pytest.raises(ValueError, match="valid are: email, sms"):
        template_path(tdir, "de", "hi", "fax")


def test_regional_template_extends_the_language_layout(tmp_path: Path) -> None:
    tdir = _probe_dir(tmp_path, {"de-AT/probe.email.j2": GOOD.replace("Hallo", "Servus")})
    env = make_environment(tdir)
    assert check_template(env, "de-AT/probe.email.j2") == []
    assert render_email(env, "de-AT/probe.email.j2", sample_context("de-AT")).subject == (
        "Servus Max"
    )


def test_context_spec_matches_sample_context() -> None:
    ctx = sample_context("de")
    assert set(ctx) == set(CONTEXT_SPEC)
    for root, attributes in CONTEXT_SPEC.items():
        if attributes is not None:
            assert set(ctx[root]) == attributes, root
    assert CONTEXT_SPEC["customer"] is not None and "first_name" in CONTEXT_SPEC["customer"]
    assert CONTEXT_SPEC["event"] is None
    assert ctx["customer"]["name"] == "Max Mustermann"
    assert ctx["event"]["data"]["rating"] == ctx["event"]["rating"]
    assert sample_context("en")["customer"]["locale"] == "en"


# --- shipped journeys -----------------------------------------------------------------------


def test_all_four_journeys_are_shipped() -> None:
    assert {p.stem for p in JOURNEY_FILES} >= {
        "customer_lifecycle",
        "five_phases",
        "moments_of_truth",
        "omnichannel_retail",
    }


@pytest.mark.parametrize("path", JOURNEY_FILES, ids=lambda p: p.stem)
def test_journey_validates_and_its_templates_pass(env: TemplateEnvironment, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../journey.schema.json\n")
    journey = Journey.model_validate(yaml.safe_load(text))
    assert journey.locale == "de" and journey.all_locales == ["de", "en"]
    for stage in journey.stages:
        assert isinstance(stage.title, dict) and set(stage.title) == {"de", "en"}, stage.key
    for stage in journey.stages:
        for action in stage.on_enter:
            if not isinstance(action, _MessageAction):
                continue
            for name in action.templates:
                for locale in LOCALES:
                    found = find_template(TEMPLATES, locale, name, action.kind)
                    assert found is not None, (stage.key, name, locale)
                    issues = check_template(env, found, action.promo_code is not None)
                    assert issues == [], (stage.key, [str(i) for i in issues])
    report = validate_paths([path], TEMPLATES)
    assert report.ok, "\n".join(str(p) for p in report.problems)
    assert report.problems == []


def test_lifecycle_has_the_required_parts() -> None:
    path = DEFINITIONS / "customer_lifecycle.yaml"
    journey = Journey.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert len(journey.stages) == 9
    dormant = journey.stage("dormant")
    assert dormant.enter_when[0].model_dump(by_alias=True)["from"] == ["loyalty", "recommendation"]
    assert dormant.on_enter[0].kind == "sms"
    thanks = journey.stage("decision").on_enter[0]
    assert isinstance(thanks, _MessageAction) and thanks.marketing is False
    referral = journey.stage("recommendation").on_enter[0]
    assert isinstance(referral, _MessageAction) and referral.variants is not None
    assert [v.template for v in referral.variants][-1] is None  # holdout group
    review = journey.stage("evaluation").on_enter[0]
    assert isinstance(review, _MessageAction) and review.promo_code is not None
    assert journey.settings.model_dump(mode="json")["quiet_hours"] == "21:00-08:00"
    week = timedelta(days=7)
    assert journey.settings.frequency_cap == {"email": (3, week), "sms": (1, week)}


# --- the order in the thank-you mail ------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ITEMS = (
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={"name": JSON_VALUES, "quantity": JSON_VALUES, "price": JSON_VALUES},
        )
        | JSON_VALUES,
        max_size=4,
    )
    | JSON_VALUES
)


URLS = st.from_regex(r"(https?|javascript):(//)?[a-z.]{1,12}/[a-z0-9/]{0,10}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(items=ITEMS, url=JSON_VALUES | URLS)
def test_the_thank_you_mail_takes_whatever_items_and_url_an_event_carries(
    env: TemplateEnvironment, items: Any, url: Any
) -> None:
    for locale in LOCALES:
        ctx = sample_context(locale, promo_code=False)
        ctx["event"]["data"] |= {"items": items, "url": url}

        mail = render_email(env, f"{locale}/thank_you.email.j2", ctx)

        # Only an https link to the order becomes a button; nothing else becomes a link.
        if isinstance(url, str) and not set(url) & set("&<>\"'"):  # as written in HTML
            button = url.startswith("https://")
            assert (f'href="{url}"' in mail.html) is button
        assert 'href="javascript:' not in mail.html
