"""Validating journeys as a whole: the stage graph, cross-references and templates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from jf_factories import POST_PURCHASE_YAML, write_file

from journeys.errors import JourneyError, Problem
from journeys.validate import Report, load_journeys, validate_paths

WriteJourney = Callable[[str, str], Path]
Validate = Callable[..., Report]


# Every email carries the postal address and the unsubscribe link (validate checks).
FOOTER = "{{ company.name }}, {{ company.address }} | Abmelden: {{ links.unsubscribe }}"


def email_template(subject: str = "Hallo {{ customer.first_name }}", body: str = "Danke!") -> str:
    return (
        f"{{% block subject %}}{subject}{{% endblock %}}\n"
        f"{{% block text %}}{body}\n{FOOTER}{{% endblock %}}\n"
        f"{{% block html %}}<p>{body}</p><p>{FOOTER}</p>{{% endblock %}}\n"
    )


SMS_TEMPLATE = "Hallo {{ customer.first_name }}, wir vermissen Sie! STOP zum Abmelden\n"
POST_PURCHASE_EMAILS = (
    "thank_you",
    "review_request",
    "referral_request",
    "referral_personal",
    "apology",
    "voucher",
)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A templates folder holding every template the post-purchase journey needs, in en."""
    folder = tmp_path / "templates"
    for name in POST_PURCHASE_EMAILS:
        write_file(folder, f"en/{name}.email.j2", email_template())
    write_file(folder, "en/we_miss_you.sms.j2", SMS_TEMPLATE)
    return folder


@pytest.fixture
def validate(templates: Path) -> Validate:
    def run(*paths: Path, templates_dir: Path = templates) -> Report:
        return validate_paths(paths, templates=templates_dir)

    return run


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) >= occurrence, f"{marker!r} not in the journey"
    return hits[occurrence - 1]


def only_problem(report: Report, fragment: str) -> Problem:
    found = [p for p in report.problems if fragment in p.message]
    assert len(found) == 1, f"expected one problem with {fragment!r}, got {report.problems}"
    return found[0]


def journey_text(stages: str, head: str = "") -> str:
    """A small journey around the given stages block (indented like a top-level list)."""
    return f"journey: graph\nversion: 1\nname: Graph\nlocale: en\n{head}stages:\n{stages}"


# --- a sound journey --------------------------------------------------------------------


def test_the_post_purchase_journey_is_sound(
    write_journey: WriteJourney, validate: Validate
) -> None:
    report = validate(write_journey("post_purchase.yaml", POST_PURCHASE_YAML))

    assert report.problems == []
    assert report.ok
    assert [j.journey for j in report.journeys] == ["post_purchase"]


# --- stage references -------------------------------------------------------------------

REFERENCES = {
    "from": (
        journey_text(
            "  - key: purchase\n"
            "    enter_when: {event: order.completed}\n"
            "  - key: loyalty\n"
            "    enter_when: {event: review.submitted, from: [purchase]}\n"
            "  - key: dormant\n"
            "    enter_when: {no_event_for: 60d, from: [loyalt]}\n"
            "    final: true\n"
        ),
        "stages.2.enter_when.0.from.0",
        "from: [loyalt]",
        "dormant, loyalty, purchase",
    ),
    "move_to": (
        journey_text(
            "  - key: purchase\n"
            "    enter_when: {event: order.completed}\n"
            "    on_enter:\n"
            "      - after: 3d\n"
            "        move_to: loyalt\n"
            "  - key: loyalty\n"
            "    enter_when: {event: review.submitted, from: [purchase]}\n"
            "    final: true\n"
        ),
        "stages.0.on_enter.0.move_to",
        "move_to: loyalt",
        "loyalty, purchase",
    ),
    "entry.stages": (
        journey_text(
            "  - key: purchase\n"
            "    enter_when: {event: order.completed}\n"
            "  - key: loyalty\n"
            "    enter_when: {event: review.submitted}\n"
            "    final: true\n",
            head="entry: {stages: [purchase, loyalt]}\n",
        ),
        "entry.stages.1",
        "entry:",
        "loyalty, purchase",
    ),
}


@pytest.mark.parametrize(
    ("text", "field", "marker", "valid"), REFERENCES.values(), ids=list(REFERENCES)
)
def test_an_unknown_stage_is_named_with_a_suggestion_and_the_valid_keys(
    write_journey: WriteJourney,
    validate: Validate,
    text: str,
    field: str,
    marker: str,
    valid: str,
) -> None:
    path = write_journey("refs.yaml", text)

    report = validate(path)

    problem = only_problem(report, "unknown stage")
    assert (
        problem.message == f"unknown stage 'loyalt' (did you mean 'loyalty'?); valid are: {valid}"
    )
    assert (problem.file, problem.line, problem.field) == (str(path), line_of(text, marker), field)
    assert not report.ok
    assert report.journeys == []


# --- reachability and dead ends ---------------------------------------------------------

UNREACHABLE = journey_text(
    "  - key: purchase\n"
    "    enter_when: {event: order.completed}\n"
    "  - key: evaluation\n"
    "    enter_when: {event: order.delivered, from: [purchase]}\n"
    "    final: true\n"
    "  - key: orphan\n"
    "    enter_when: {after: 3d, from: [orphan]}\n"
    "    final: true\n"
)


def test_a_stage_no_trigger_leads_to_is_unreachable(
    write_journey: WriteJourney, validate: Validate
) -> None:
    report = validate(write_journey("unreachable.yaml", UNREACHABLE))

    problem = only_problem(report, "unreachable")
    assert "'orphan'" in problem.message
    assert "entry.stages" in problem.message  # the hint: how to make it reachable
    assert (problem.field, problem.line) == ("stages.2.key", line_of(UNREACHABLE, "key: orphan"))
    assert len(report.problems) == 1


def test_a_stage_reached_only_by_move_to_is_reachable(
    write_journey: WriteJourney, validate: Validate
) -> None:
    text = UNREACHABLE.replace(
        "    enter_when: {event: order.completed}\n",
        "    enter_when: {event: order.completed}\n    on_enter: [{move_to: orphan, after: 1d}]\n",
    )

    assert validate(write_journey("reachable.yaml", text)).problems == []


DEAD_END = journey_text(
    "  - key: welcome\n"
    "    enter_when: {event: signup.created}\n"
    "    on_enter:\n"
    "      - webhook: crm_sync\n"
)


def test_a_stage_nothing_leads_out_of_is_a_dead_end_unless_final(
    write_journey: WriteJourney, validate: Validate
) -> None:
    report = validate(write_journey("dead_end.yaml", DEAD_END))

    problem = only_problem(report, "dead end")
    assert "'welcome'" in problem.message
    assert "final: true" in problem.message
    assert (problem.field, problem.line) == ("stages.0.key", line_of(DEAD_END, "key: welcome"))

    final = validate(write_journey("final.yaml", DEAD_END + "    final: true\n"))
    assert final.problems == []


# --- loops, action keys, set_attribute --------------------------------------------------

LOOP = journey_text(
    "  - key: start\n"
    "    enter_when: {event: signup.created}\n"
    "    on_enter: [{move_to: ping}]\n"
    "  - key: ping\n"
    "    on_enter:\n"
    "      - move_to: pong\n"
    "  - key: pong\n"
    "    on_enter:\n"
    "      - move_to: ping\n"
    "  - key: done\n"
    "    enter_when: {event: order.completed, from: [ping, pong]}\n"
    "    final: true\n"
)


def test_a_loop_of_move_to_without_delay_is_refused(
    write_journey: WriteJourney, validate: Validate
) -> None:
    report = validate(write_journey("loop.yaml", LOOP))

    problem = only_problem(report, "loop without a delay")
    assert "ping -> pong -> ping" in problem.message
    assert "after:" in problem.message
    # Reported at the actions of the stage that closes the loop.
    assert problem.field.startswith("stages.2.on_enter")
    assert problem.line == line_of(LOOP, "      - move_to: ping")
    assert len(report.problems) == 1


def test_a_loop_with_a_delay_is_fine(write_journey: WriteJourney, validate: Validate) -> None:
    text = LOOP.replace("      - move_to: ping\n", "      - {move_to: ping, after: 1d}\n")

    assert validate(write_journey("slow_loop.yaml", text)).problems == []


DUPLICATE_ACTIONS = journey_text(
    "  - key: purchase\n"
    "    enter_when: {event: order.completed}\n"
    "    on_enter:\n"
    "      - email: thank_you\n"
    "      - after: 7d\n"
    "        email: thank_you\n"
    "    final: true\n"
)


def test_two_actions_with_the_same_key_in_a_stage_are_refused(
    write_journey: WriteJourney, validate: Validate
) -> None:
    report = validate(write_journey("dup_actions.yaml", DUPLICATE_ACTIONS))

    problem = only_problem(report, "used twice")
    assert "action key 'thank_you'" in problem.message
    assert "'key:'" in problem.message  # the hint: how to tell them apart
    assert (problem.field, problem.line) == (
        "stages.0.on_enter.1",
        line_of(DUPLICATE_ACTIONS, "- after: 7d"),
    )

    keyed = DUPLICATE_ACTIONS.replace(
        "        email: thank_you\n", "        email: thank_you\n        key: thank_you_again\n"
    )
    assert validate(write_journey("keyed.yaml", keyed)).problems == []


def test_set_attribute_cannot_be_delayed(write_journey: WriteJourney, validate: Validate) -> None:
    text = journey_text(
        "  - key: purchase\n"
        "    enter_when: {event: order.completed}\n"
        "    on_enter:\n"
        "      - set_attribute: {buyer: true}\n"
        "        after: 2d\n"
        "    final: true\n"
    )

    report = validate(write_journey("delayed_set.yaml", text))

    problem = only_problem(report, "set_attribute")
    assert "cannot be delayed" in problem.message
    assert (problem.field, problem.line) == (
        "stages.0.on_enter.0.after",
        line_of(text, "after: 2d"),
    )


def test_an_entry_stage_needs_an_event_trigger_without_from(
    write_journey: WriteJourney, validate: Validate
) -> None:
    text = journey_text(
        "  - key: purchase\n"
        "    enter_when: {event: order.completed}\n"
        "  - key: evaluation\n"
        "    enter_when: {event: order.delivered, from: [purchase]}\n"
        "    final: true\n",
        head="entry: {stages: [purchase, evaluation]}\n",
    )

    report = validate(write_journey("entry.yaml", text))

    problem = only_problem(report, "entry stage")
    assert "'evaluation' has no event trigger without 'from'" in problem.message
    assert (problem.field, problem.line) == (
        "stages.1.enter_when",
        line_of(text, "event: order.delivered"),
    )


# --- several files ----------------------------------------------------------------------


def test_a_journey_key_may_be_defined_only_once(
    write_journey: WriteJourney, validate: Validate
) -> None:
    first = write_journey("a_post_purchase.yaml", POST_PURCHASE_YAML)
    second = write_journey("b_copy.yaml", "# a copy\n" + POST_PURCHASE_YAML)

    report = validate(first.parent)

    problem = only_problem(report, "already defined")
    assert "journey key 'post_purchase'" in problem.message
    assert str(first) in problem.message
    assert (problem.file, problem.line, problem.field) == (str(second), 2, "journey")
    assert [j.journey for j in report.journeys] == ["post_purchase"]


def test_load_journeys_raises_one_error_with_the_problems_of_every_file(
    write_journey: WriteJourney, templates: Path
) -> None:
    loop = write_journey("loop.yaml", LOOP)
    dead = write_journey("dead_end.yaml", DEAD_END)
    write_journey("post_purchase.yaml", POST_PURCHASE_YAML)

    with pytest.raises(JourneyError) as caught:
        load_journeys([loop.parent], templates=templates)

    assert {p.file for p in caught.value.problems} == {str(loop), str(dead)}


def test_validate_never_raises_for_bad_files_and_keeps_the_good_ones(
    write_journey: WriteJourney, validate: Validate
) -> None:
    good = write_journey("post_purchase.yaml", POST_PURCHASE_YAML)
    bad = write_journey("broken.yaml", "journey: [unclosed\n")
    missing = good.parent / "missing.yaml"

    report = validate(good, bad, missing)

    assert [j.journey for j in report.journeys] == ["post_purchase"]
    assert {p.file for p in report.problems} == {str(bad), str(missing)}
    assert not report.ok


# --- templates --------------------------------------------------------------------------

TEMPLATED = """\
journey: templated
version: 1
name: Templated
locale: de
locales: [de, en]
stages:
  - key: welcome
    enter_when: {event: signup.created}
    on_enter:
      - email: x
      - after: 60d
        sms: come_back
    final: true
"""


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    folder = tmp_path / "tmpl"
    for locale in ("de", "en"):
        write_file(folder, f"{locale}/x.email.j2", email_template())
        write_file(folder, f"{locale}/come_back.sms.j2", SMS_TEMPLATE)
    return folder


def test_complete_templates_pass(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    assert validate(write_journey("t.yaml", TEMPLATED), templates_dir=tdir).problems == []


def test_a_template_missing_in_one_locale_is_reported_with_the_file_to_create(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    (tdir / "en" / "x.email.j2").unlink()

    report = validate(write_journey("t.yaml", TEMPLATED), templates_dir=tdir)

    problem = only_problem(report, "missing")
    assert "template 'x' for email is missing in locale 'en'" in problem.message
    assert str(tdir / "en" / "x.email.j2") in problem.message
    assert (problem.field, problem.line) == (
        "stages.0.on_enter.0.email",
        line_of(TEMPLATED, "email: x"),
    )


def test_a_regional_locale_falls_back_to_its_language(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    text = TEMPLATED.replace("locales: [de, en]", "locales: [de-AT]")

    assert validate(write_journey("t.yaml", text), templates_dir=tdir).problems == []


def test_an_undefined_template_variable_is_reported_with_its_template_line(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    template = write_file(tdir, "de/x.email.j2", email_template(body="Danke, {{ custmer.name }}!"))

    report = validate(write_journey("t.yaml", TEMPLATED), templates_dir=tdir)

    problem = only_problem(report, "custmer")
    assert "unknown variable 'custmer' (did you mean 'customer'?)" in problem.message
    assert f"template {template}:2:" in problem.message
    assert problem.line == line_of(TEMPLATED, "email: x")


def test_promo_code_in_a_template_needs_one_on_the_action(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    for locale in ("de", "en"):
        write_file(tdir, f"{locale}/come_back.sms.j2", "Code {{ promo_code.code }}. STOP\n")
    path = write_journey("t.yaml", TEMPLATED)

    report = validate(path, templates_dir=tdir)
    assert len(report.problems) == 2  # one per locale
    assert all("declares no promo code" in p.message for p in report.problems)
    assert {p.line for p in report.problems} == {line_of(TEMPLATED, "sms: come_back")}

    with_code = TEMPLATED.replace(
        "        sms: come_back\n", "        sms: come_back\n        promo_code: {discount: 10%}\n"
    )
    assert validate(write_journey("t.yaml", with_code), templates_dir=tdir).problems == []


def test_a_variant_template_is_checked_too(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    text = TEMPLATED.replace(
        "      - email: x\n",
        "      - email: x\n"
        "        variants:\n"
        "          - {key: short, template: x_short}\n"
        "          - {key: holdout}\n",
    )
    write_file(tdir, "de/x_short.email.j2", email_template())

    report = validate(write_journey("t.yaml", text), templates_dir=tdir)

    problem = only_problem(report, "x_short")
    assert "missing in locale 'en'" in problem.message


def test_a_template_syntax_error_is_reported(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    template = write_file(tdir, "en/come_back.sms.j2", "Hallo\n{{ customer.first_name \n")

    report = validate(write_journey("t.yaml", TEMPLATED), templates_dir=tdir)

    problem = only_problem(report, "syntax error")
    assert f"template {template}:" in problem.message
    assert problem.field == "stages.0.on_enter.1.sms"


SMS_JOURNEY = """\
journey: sms_length
version: 1
name: SMS length
locale: de
settings: {sms_max_segments: 2}
stages:
  - key: quiet
    enter_when: {event: customer.quiet}
    on_enter:
      - sms: nudge
    final: true
"""


@pytest.mark.parametrize(
    ("body", "severity", "segments"),
    [
        ("Hallo {{ customer.first_name }}, schön, dass Sie da sind!", None, 1),
        # GSM-7: 160 characters a segment, 153 when split.
        ("Hallo {{ customer.first_name }}! " + "x" * 200, "warning", 2),
        # One emoji switches the whole message to UCS-2: 70 characters, 67 when split.
        ("Hallo {{ customer.first_name }} 😊 " + "x" * 150, "error", 3),
    ],
)
def test_sms_templates_are_measured_in_billed_segments(
    tmp_path: Path, body: str, severity: str | None, segments: int
) -> None:
    (tmp_path / "sms_length.yaml").write_text(SMS_JOURNEY, encoding="utf-8")
    (tmp_path / "templates" / "de").mkdir(parents=True)
    (tmp_path / "templates" / "de" / "nudge.sms.j2").write_text(body, encoding="utf-8")

    report = validate_paths([tmp_path / "sms_length.yaml"], tmp_path / "templates")

    found = [p for p in report.problems if "SMS segments" in p.message]
    if severity is None:
        assert found == []
        return
    [problem] = found
    assert problem.severity == severity
    assert f"= {segments} SMS segments" in problem.message
    assert problem.line == 10  # the `- sms: nudge` line
    assert report.ok is (severity == "warning")


# --- promo code prefixes per language and the legal footer ---------------------------------


def test_a_prefix_per_language_should_name_every_language_of_the_journey(
    write_journey: WriteJourney, validate: Validate, tdir: Path
) -> None:
    text = TEMPLATED.replace(
        "      - email: x\n",
        "      - email: x\n"
        "        promo_code: {discount: '10%', prefix: {de-AT: SERVUS, de: DANKE}}\n",
    )

    report = validate(write_journey("t.yaml", text), templates_dir=tdir)

    problem = only_problem(report, "prefix")
    assert problem.severity == "warning" and report.ok
    assert problem.message == (
        "the promo code prefix has none for locale 'en': its customers get 'DANKE'; "
        "add en: <PREFIX>"
    )
    assert (problem.field, problem.line) == (
        "stages.0.on_enter.0.promo_code.prefix",
        line_of(text, "prefix:"),
    )
    complete = text.replace("de: DANKE}", "de: DANKE, en: THANKS}")
    assert validate(write_journey("t.yaml", complete), templates_dir=tdir).problems == []


LEGAL = {
    "name": "Acme GmbH",
    "address": "Hauptstraße 1, 10115 Berlin",
    "registered_office": "Berlin",
    "register_court": "Amtsgericht Berlin-Charlottenburg",
    "register_number": "HRB 1 B",
    "managing_directors": "A. Beispiel",
    "vat_id": None,
    "privacy_url": "https://acme.example/privacy",
    "imprint_url": "https://acme.example/imprint",
}


@pytest.mark.parametrize(
    "empty",
    [
        (),
        ("register_court",),
        ("registered_office", "managing_directors", "imprint_url"),
        ("privacy_url",),
    ],
)
def test_legal_details_left_empty_are_named_for_german_recipients(
    write_journey: WriteJourney, tdir: Path, empty: tuple[str, ...]
) -> None:
    from journeys.templating.context import COMPANY_SETTINGS

    company = {**LEGAL, **dict.fromkeys(empty)}
    path = write_journey("t.yaml", TEMPLATED)

    report = validate_paths([path], templates=tdir, company=company)

    warnings = [p for p in report.problems if "German recipients" in p.message]
    assert report.ok
    if not empty:
        assert warnings == []  # the VAT ID is shown where set, never asked for
        return
    [warning] = warnings
    assert warning.severity == "warning"
    assert (warning.field, warning.line) == ("locales", line_of(TEMPLATED, "locales:"))
    named = warning.message.rsplit("; set ", 1)[1].split(", ")
    assert named == [COMPANY_SETTINGS[key] for key in COMPANY_SETTINGS if key in empty]


def test_a_journey_without_german_recipients_needs_no_german_footer(
    write_journey: WriteJourney, tdir: Path
) -> None:
    english = TEMPLATED.replace("locale: de\nlocales: [de, en]\n", "locale: en\n")
    path = write_journey("t.yaml", english)
    company = dict.fromkeys(LEGAL)

    report = validate_paths([path], templates=tdir, company=company)

    assert [p for p in report.problems if "German" in p.message] == []
