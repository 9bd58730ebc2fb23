"""The journey map a marketer reads: every stage and way once, in plain words, drawn by
Graphviz left to right in lanes that fit a screen."""

from __future__ import annotations

import html
import os
import re
import shutil
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from journeys import load_journeys
from journeys.journey_map import ANY, END, START, journey_map
from journeys.map_draw import render, to_dot
from journeys.map_words import Words
from journeys.model import DelayTrigger, EventTrigger, InactivityTrigger, MoveToAction

JOURNEYS = {j.journey: j for j in load_journeys()}
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and os.environ.get("CI") != "true",
    reason="Graphviz's dot is not installed (CI installs it)",
)


@pytest.mark.parametrize("key", sorted(JOURNEYS))
def test_every_stage_and_way_is_drawn_once(key: str) -> None:
    journey = JOURNEYS[key]
    drawn = journey_map(journey)
    stages = [n.key for n in drawn.nodes if n.kind in ("stage", "final")]
    assert stages == journey.stage_keys
    ways = Counter((e.source, e.target, e.kind) for e in drawn.edges)
    assert set(ways.values()) == {1}  # merged: one arrow per way, a label line per trigger
    pairs = {(e.source, e.target) for e in drawn.edges}
    entry = set(journey.entry_stages)
    for stage in journey.stages:
        for trigger in stage.enter_when:
            if isinstance(trigger, EventTrigger) and trigger.from_ is None:
                # Drawn once: from the start into an entry stage, else from "any stage".
                source = START if stage.key in entry else ANY
                assert (source, stage.key) in pairs
                assert ((ANY if source == START else START), stage.key) not in pairs
            elif isinstance(trigger, EventTrigger | DelayTrigger | InactivityTrigger):
                assert all((src, stage.key) in pairs for src in trigger.from_ or ())
        for action in stage.on_enter:
            if isinstance(action, MoveToAction):
                assert (stage.key, action.move_to) in pairs
    ends = [e for e in drawn.edges if e.target == END]
    assert len(ends) == (1 if journey.goal or journey.exit else 0)
    if ends:
        assert len(ends[0].labels) == len(journey.exit) + (1 if journey.goal else 0)


def test_labels_are_words_in_the_journeys_language_and_code_behind_technical() -> None:
    five = JOURNEYS["five_phases"]
    plain = journey_map(five)
    labels = " | ".join(label for e in plain.edges for label in e.labels)
    assert "==" not in labels and "null" not in labels and "stage in" not in labels
    assert "Neukunden" in labels  # `stage == null` in German
    assert "neu oder aus Bewusstsein" in labels  # `stage in [null, 'awareness']`
    assert "rating ≥ 4" in labels and "nach 30 Tagen" in labels
    english = journey_map(five, "en")
    assert "new customers" in " ".join(label for e in english.edges for label in e.labels)
    # With the tracking plan, events are named by its descriptions.
    from journeys.config import definitions_dir
    from journeys.tracking import load_plan

    described = journey_map(five, plan=load_plan(definitions_dir()))
    said = " | ".join(label for e in described.edges for label in e.labels)
    assert "Bestellung abgeschlossen" in said and "order completed" not in said
    technical = journey_map(five, technical=True)
    code = " | ".join(label for e in technical.edges for label in e.labels)
    assert "newsletter.subscribed if stage == null" in code


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("rating >= 4", "rating ≥ 4"),
        ("customer.segment in ['b2b', 'vip']", "segment is one of [‘b2b’, ‘vip’]"),
        ("not (total > 100) or vip == true", "not (total > 100) or vip is yes"),
        ("x not in [1, 2]", "x is none of [1, 2]"),
        ("stage == null", "new customers"),
        ("customer.last_order_at < now - 90d", "last order at < now - 90 days"),
        ("signup_at + 1d12h >= now", "signup at + 36 hours ≥ now"),
    ],
)
def test_conditions_in_words(source: str, said: str) -> None:
    assert Words("en").condition(source) == said


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_condition_text_is_said_or_shown_as_written(source: str) -> None:
    said = Words("de").condition(source)
    assert isinstance(said, str)


@needs_dot
@pytest.mark.parametrize("key", sorted(JOURNEYS))
def test_the_svg_shows_every_stage_and_fits_a_screen(key: str) -> None:
    journey = JOURNEYS[key]
    svg = render(journey_map(journey), "svg").decode("utf-8")
    size = re.search(r'width="([\d.]+)pt"', svg)
    assert size is not None
    width = float(size.group(1))
    # 1 pt = 4/3 px: at most a full-HD screen's width.
    assert width * 4 / 3 <= 1920, f"{key} is {width * 4 / 3:.0f} px wide"
    text = html.unescape(svg)
    words = " ".join(re.findall(r">([^<]*)</text>", text))
    for stage in journey.stages:
        # A long title wraps onto lines of its own: its words, in order.
        assert " ".join(stage.title_in(journey.locale).split()) in " ".join(words.split())
    assert "E-MAIL" in text and "Legende" in text  # a badge per channel and the legend


def test_dot_names_each_stage_once_per_lane() -> None:
    source = to_dot(journey_map(JOURNEYS["customer_lifecycle"]))
    lanes = re.findall(r"\{ rank=same; ([^}]*) \}", source)
    named = [k.strip('"') for lane in lanes for k in lane.split()]
    assert sorted(k for k in named if not k.startswith("__")) == sorted(
        JOURNEYS["customer_lifecycle"].stage_keys
    )


runner = CliRunner()


@needs_dot
def test_graph_command_writes_svg_png_and_mermaid(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    folder = Path(tmp_path)
    for name in ("map.svg", "map.png", "map.md", "map.dot"):
        result = runner.invoke(app, ["graph", "five_phases", "-o", str(folder / name)])
        assert result.exit_code == 0, result.output
    assert (folder / "map.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "map.svg").read_text("utf-8").lstrip().startswith("<?xml")
    assert (folder / "map.md").read_text("utf-8").startswith("```mermaid\nflowchart LR") is False
    assert "flowchart LR" in (folder / "map.md").read_text("utf-8")
    bad = runner.invoke(app, ["graph", "five_phases", "--format", "gif"])
    assert bad.exit_code == 2 and "choose one of" in bad.output
    png_out = runner.invoke(app, ["graph", "five_phases", "--format", "png"])
    assert png_out.exit_code == 2 and "-o map.png" in png_out.output
