"""Which journeys run is explicit: `enabled: false` in a journey, or the setting
JOURNEYFLOW_ENABLED_JOURNEYS; validate warns where enabled journeys overlap."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from journeys.config import definitions_dir, templates_dir
from journeys.errors import UnknownJourneyError
from journeys.loader import parse_journey
from journeys.store.registry import checksum
from journeys.validate import enabled, load_journeys, validate_paths

LIFECYCLE = (definitions_dir() / "customer_lifecycle.yaml").read_text(encoding="utf-8")


def test_the_setting_decides_which_journeys_run(monkeypatch: pytest.MonkeyPatch) -> None:
    journeys = load_journeys()
    assert len(enabled(journeys)) == len(journeys)  # the shipped ones are all enabled
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "customer_lifecycle, newsletter_opt_in")
    assert [j.journey for j in enabled(journeys)] == ["customer_lifecycle", "newsletter_opt_in"]
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "customer_lifecyle")
    with pytest.raises(UnknownJourneyError, match="did you mean 'customer_lifecycle'"):
        enabled(journeys)


def test_enabled_false_keeps_a_journey_out_without_a_new_version() -> None:
    on = parse_journey(LIFECYCLE)[0]
    off = parse_journey(LIFECYCLE.replace("\nstages:", "\nenabled: false\nstages:", 1))[0]
    assert (on.enabled, off.enabled) == (True, False)
    assert enabled([on, off]) == [on]
    assert checksum(on) == checksum(off)  # switching it off is no change of definition


def test_validate_warns_where_enabled_journeys_send_the_same_message_on_one_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "journeys"
    folder.mkdir()
    for name in ("customer_lifecycle", "moments_of_truth"):
        source = (definitions_dir() / f"{name}.yaml").read_text(encoding="utf-8")
        (folder / f"{name}.yaml").write_text(source, encoding="utf-8")

    def warnings() -> list[str]:
        report = validate_paths([folder], templates_dir())
        return [p.message for p in report.problems if p.severity == "warning"]

    # Both journeys and both stages named; the warning sits at the second one's line.
    report = validate_paths([folder], templates_dir())
    (thanks,) = [p for p in report.problems if "thank_you" in p.message]
    assert thanks.severity == "warning"
    assert thanks.file.endswith("moments_of_truth.yaml") and thanks.line
    assert (
        "journeys customer_lifecycle (stage decision, "
        f"{folder / 'customer_lifecycle.yaml'}:" in thanks.message
    )
    assert "moments_of_truth (stage fmot) both send thank_you (email) on order.completed" in (
        thanks.message
    )
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "moments_of_truth")
    assert not any("both send" in w for w in warnings())


def test_an_empty_setting_is_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # A blank line in .env must not switch every journey off.
    journeys = load_journeys()
    for blank in ("", " ", " , ,"):
        monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", blank)
        assert enabled(journeys) == journeys


JOURNEYS = load_journeys()  # once: validating them renders every template
KEYS = [j.journey for j in JOURNEYS]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(KEYS), st.text(max_size=20)).filter(lambda k: "\x00" not in k),
        max_size=6,
    ).map(",".join)
)
def test_any_setting_runs_the_listed_journeys_or_names_the_one_it_does_not_know(
    value: str,
) -> None:
    journeys = JOURNEYS
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", value)
        listed = [k.strip() for k in value.split(",") if k.strip()]
        try:
            running = enabled(journeys)
        except UnknownJourneyError as exc:
            assert exc.key in listed and exc.key not in KEYS
            assert exc.key in str(exc)
            return
    assert [j.journey for j in running] == [k for k in KEYS if not listed or k in listed]


def test_serve_names_a_setting_that_names_no_journey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import runtime
    from flows.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'j.db'}")
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "customer_lifecycle,newsleter_opt_in")
    runtime.forget()
    try:
        result = CliRunner().invoke(app, ["serve", "--once"])
    finally:
        runtime.forget()
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "JOURNEYFLOW_ENABLED_JOURNEYS" in result.output
    assert "did you mean 'newsletter_opt_in'" in result.output
