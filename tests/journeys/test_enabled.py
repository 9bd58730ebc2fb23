"""Which journeys run is explicit: `enabled: false` in a journey, or the setting
JOURNEYFLOW_ENABLED_JOURNEYS; validate warns where enabled journeys overlap."""

from __future__ import annotations

from pathlib import Path

import pytest

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

    assert any(
        "journey customer_lifecycle also sends thank_you (email) on order.completed" in w
        for w in warnings()
    )
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "moments_of_truth")
    assert not any("also sends" in w for w in warnings())
