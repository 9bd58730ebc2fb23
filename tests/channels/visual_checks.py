"""What a designer checks on a page, measured in the browser from computed styles.

`inspect(browser)` runs one script in the page and returns what it found: horizontal
overflow, text below WCAG AA contrast (4.5:1, 3:1 for large text), form borders below
3:1 (WCAG 1.4.11), text that must stay on one line but wraps, and the boxes of the
elements the tests look at more closely. Contrast is computed the way WCAG defines
it (relative luminance of sRGB), against the backgrounds actually painted behind the
text (every ancestor's background colour, composited).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.headless import Browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "visual"

# The script that measures; its value is the object it ends with.
_SCRIPT = (Path(__file__).parent / "visual_checks.js").read_text(encoding="utf-8")


def inspect(browser: Browser) -> dict[str, Any]:
    found: dict[str, Any] = browser.evaluate(_SCRIPT)
    return found


def problems(found: dict[str, Any]) -> list[str]:
    """What fails a designer's review, in words; empty when the page passes."""
    out = []
    if found["scrollWidth"] > found["width"]:
        out.append(
            f"overflows horizontally: {found['scrollWidth']} px in {found['width']} px "
            f"({'; '.join(found['overflow'])})"
        )
    out += [
        f"contrast {c['ratio']}:1 ({c['color']} on {c['background']}): {c['text']!r}"
        for c in found["lowContrast"]
    ]
    out += [f"{b['element']} border contrast {b['ratio']}:1" for b in found["weakBorders"]]
    out += [f"wraps or overflows its box: {text!r}" for text in found["wrapped"]]
    return out


def see(browser: Browser, html: str, width: int) -> dict[str, Any]:
    """Show `html` at `width` and return what was found."""
    browser.show(html, width)
    return inspect(browser)


def look(browser: Browser, html: str, width: int, shot: Path) -> dict[str, Any]:
    """`see`, and keep a screenshot as an artifact."""
    found = see(browser, html, width)
    browser.screenshot(ARTIFACTS / shot)
    return found


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


def scale_problems(found: dict[str, Any], low: int, high: int, one_row: bool) -> list[str]:
    """A score scale: every number once, in order, on one row, big enough to tap."""
    out = []
    scores = found["scores"]
    if [s["text"] for s in scores] != [str(n) for n in range(low, high + 1)]:
        out.append(f"scores {[s['text'] for s in scores]}, expected {low} to {high}")
    if one_row and len({round(s["box"]["top"]) for s in scores}) != 1:
        out.append("the scores do not sit on one row")
    out += [
        f"score {s['text']} is {s['box']['width']:.0f} px wide"
        for s in scores
        if s["box"]["width"] < 24
    ]
    labels = found["labels"]
    if len(labels) != 2:
        out.append(f"expected the two end labels, found {[lab['text'] for lab in labels]}")
    elif _overlap(labels[0]["box"], labels[1]["box"]):
        out.append(f"the end labels overlap: {labels[0]['text']!r}, {labels[1]['text']!r}")
    if labels and f"{labels[0]['text']}{labels[-1]['text']}" in found["text"]:
        out.append("the end labels run together in the text")
    return out
