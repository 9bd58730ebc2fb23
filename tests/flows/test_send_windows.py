"""Send windows through the production path (engine, store, send rules, renderer) on a
fake clock: a message falls due at its window, and a deferral lands in it too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flows.testing import JourneyKit, event
from journeys.config import templates_dir

JOURNEY = """\
journey: weekday_tips
version: 1
name: Weekday tips
locale: en
reentry: {policy: always}
stages:
  - key: buyer
    enter_when:
      - {event: order.completed}
      - {event: order.completed, from: [buyer]}
    on_enter:
      - email: getting_started
        at: "10:00"
        on: [mon, tue, wed, thu, fri]
  - key: lapsed
    enter_when: {no_event_for: 90d, from: [buyer]}
    final: true
settings:
  timezone: Europe/Berlin
  frequency_cap: {email: 1/2d12h}
"""


def _kit(tmp_path: Path) -> JourneyKit:
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "weekday_tips.yaml").write_text(JOURNEY, encoding="utf-8")
    return JourneyKit(folder, templates_dir(), tmp_path / "scenarios")


def test_a_message_waits_for_its_window_and_a_deferral_lands_in_it(tmp_path: Path) -> None:
    kit = _kit(tmp_path)
    # Scenarios start on Monday 2026-03-02 at 09:00 in Berlin.
    run = kit.run(
        "weekday_tips",
        events=[event("order.completed", total=20), event("order.completed", at="1d", total=30)],
        customer={"locale": "en"},
        until="7d",
    )
    sent = [(s.message.name, s.at) for s in run.sent]
    start = run.timeline.start
    assert [name for name, _ in sent] == ["getting_started", "getting_started"]
    # Monday 10:00: the window, an hour after the order.
    assert sent[0][1] - start == timedelta(hours=1)
    # Tuesday's is capped until Wednesday 22:00 (2.5 days after Monday's send), and the
    # window then lets it go on Thursday at 10:00, not at 22:00.
    assert sent[1][1] - start == timedelta(days=3, hours=1)
    assert [d.by for d in run.deferred] == ["frequency cap"]


def test_a_weekend_order_waits_for_monday(tmp_path: Path) -> None:
    kit = _kit(tmp_path)
    run = kit.run(
        "weekday_tips",
        events=[event("order.completed", at="5d4h", total=20)],  # Saturday 13:00
        customer={"locale": "en"},
        until="8d",
    )
    assert [s.at - run.timeline.start for s in run.sent] == [timedelta(days=7, hours=1)]
