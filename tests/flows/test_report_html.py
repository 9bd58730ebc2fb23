"""The HTML report: one file that opens offline, shows the figures it was given, is
accessible, and renders in a real browser at desktop and phone widths.

The page is made from a report written by hand (`report_page_data`), so each test
knows what the page must say. The browser test drives the distribution's Chromium
(CI installs it) through Playwright and keeps its screenshots in test-artifacts/.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import report_page_data as data

from flows.insight import Insight, previous_period
from flows.report_html import render_html, write_html
from journeys.config import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "report-html"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    insight: Insight = data.insight()  # type: ignore[assignment]
    return write_html(insight, tmp_path_factory.mktemp("page") / "report.html")


@pytest.fixture(scope="module")
def html(page: Path) -> str:
    return page.read_text(encoding="utf-8")


class Outline(HTMLParser):
    """Headings, scripts, links and the text of the page, as a reader meets them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[int, str]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.loads: list[str] = []  # src/href values that would load something
        self.text: list[str] = []
        self._heading: int | None = None
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang")
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = int(tag[1])
            self.headings.append((self._heading, ""))
        if tag == "script":
            self.scripts.append(found)
        for name in ("src", "href", "data", "srcset"):
            value = found.get(name)
            if value and not value.startswith("#"):
                self.loads.append(f"{tag} {name}={value}")
        if tag == "link":
            self.loads.append(f"link {found}")

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = None

    def handle_data(self, text: str) -> None:
        if self._heading is not None:
            level, before = self.headings[-1]
            self.headings[-1] = (level, before + text)
        self.text.append(text)


def outline(html: str) -> Outline:
    parsed = Outline()
    parsed.feed(html)
    return parsed


def test_the_page_needs_nothing_from_elsewhere(html: str) -> None:
    parsed = outline(html)
    assert parsed.loads == []  # no script, style, image or font from a file or a server
    assert parsed.scripts and all(s.get("src") is None for s in parsed.scripts)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    assert "connect-src" not in policy.group(1)  # falls back to 'none': no fetch, no XHR
    assert "cdn" not in html.lower().split("<script>")[0]  # the head names no CDN


def test_headings_language_and_alternatives(html: str) -> None:
    parsed = outline(html)
    assert parsed.lang == "en"
    levels = [level for level, _ in parsed.headings]
    assert levels.count(1) == 1 and levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels))  # no level skipped
    titles = [title.strip() for _, title in parsed.headings]
    for title in ("Funnel", "Time in stage", "Messages over time", "Journey map with live counts"):
        assert title in titles
    assert "A/B test: purchase · thank_you" in titles
    # Every chart has a name for screen readers and its figures as a table beside it.
    charts = re.findall(r'<div class="chart" id="([^"]+)" role="img" aria-label="([^"]+)"', html)
    assert len(charts) == 4
    for chart_id, label in charts:
        after = html.split(f'id="{chart_id}"', 1)[1].split('<div class="block">', 1)[0]
        assert "<details>" in after and "<table>" in after, chart_id
        assert label.endswith(".")
    assert re.search(r'<svg role="img" aria-label="Journey map of Shop', html)


def test_the_page_shows_the_figures_it_was_given(html: str) -> None:
    text = " ".join(" ".join(outline(html).text).split())
    # KPI tiles: value, counts, interval and the change on the period before.
    assert "CSAT 80.0 % 40 of 50 answers were 4 or 5 · 95 % interval 66.9 – 88.8 %" in text
    assert "▲ up 5.0 points on the period before (75.0 %)" in text
    assert "NPS +20.0 40 answers: 16 promoters, 16 passives, 8 detractors" in text
    assert "▼ down 5.0 points on the period before (+25.0)" in text
    assert "CRR 75.0 % 40 customers at the start, 42 at the end, 12 new" in text
    # The funnel's and the map's tables, the messages per day, the A/B decision.
    assert "browsing → purchase 48 40.0 %" in text
    assert "Purchase 36 90" in text  # the map's table: now, ever entered
    assert "2026-09-03 50 50 25 10 0" in text
    assert data.abtest().decision.text in text
    # The charts carry the same numbers (Plotly's JSON).
    assert '"x":[120,48,12]' in html.replace(" ", "")
    assert '"y":[40,50,40]' in html.replace(" ", "")


def test_text_from_journeys_is_escaped(html: str) -> None:
    assert data.HOSTILE not in html  # not in the page, the map or the charts' JSON
    assert "&lt;b&gt;Probe &amp; &#34;Test&#34;&lt;/b&gt;" in html  # in the map's table
    assert "\\u003cb\\u003eProbe" in html  # in Plotly's JSON


def test_a_period_without_records_says_so(tmp_path: Path) -> None:
    empty = data.report().model_copy(
        update={
            name: []
            for name in (
                "stages",
                "edges",
                "outcomes",
                "time_in_stage",
                "csat",
                "nps",
                "retention",
                "messages",
                "messages_by_day",
            )
        }
    )
    insight: Insight = data.insight(report=empty, previous=None, abtests=[], maps=[])  # type: ignore[assignment]
    text = " ".join(" ".join(outline(render_html(insight)).text).split())
    assert "no CSAT answers in the period" in text
    assert "no trend: the report has no start (--since)" in text


def test_the_period_before_is_as_long_and_ends_where_the_period_starts() -> None:
    assert previous_period(data.SINCE, data.UNTIL) == (data.BEFORE, data.SINCE)
    assert previous_period(None, data.UNTIL) is None


# --- in a real browser ---------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium is not installed (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_page_renders_in_chromium(browser: Any, page: Path, width: int) -> None:
    tab = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    tab.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    elsewhere: list[str] = []
    tab.on("request", lambda r: None if r.url == page.as_uri() else elsewhere.append(r.url))

    tab.goto(page.as_uri(), wait_until="load")
    tab.wait_for_function("document.querySelectorAll('.chart .main-svg').length >= 4")

    assert problems == [] and elsewhere == []
    drawn = tab.evaluate(
        """Array.from(document.querySelectorAll('.chart')).map(c => ({
            id: c.id,
            marks: c.querySelectorAll('.trace .point, .trace path.js-line, .scatterlayer .trace')
                .length,
            width: c.getBoundingClientRect().width}))"""
    )
    assert len(drawn) == 4
    for chart in drawn:
        assert chart["marks"] > 0, chart  # bars, lines: not an empty frame
        assert 0 < chart["width"] <= width
    nodes = tab.evaluate("document.querySelectorAll('svg.map g.node').length")
    assert nodes >= 3  # the journey's stages (and start/end) drawn by Graphviz
    overflow = tab.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert overflow[0] <= overflow[1], f"the page scrolls sideways at {width} px: {overflow}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"report-{width}.png"), full_page=True)
    tab.close()
