"""The headless Chromium driver: a clear error when there is no browser to drive."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.headless import Browser, BrowserError, find_chromium


def test_a_program_that_is_no_browser_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)

    with pytest.raises(BrowserError, match="Chromium exited: cannot open display"):
        Browser(str(fake))


def test_without_chromium_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_chromium() is None

    with pytest.raises(BrowserError, match="apt-get install chromium"):
        Browser()


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_a_page_is_measured_and_drawn_at_the_width_asked_for(tmp_path: Path) -> None:
    page = (
        "<!DOCTYPE html><meta name='viewport' content='width=device-width'>"
        "<body style='margin:0'><div style='height:1500px'>x</div></body>"
    )
    with Browser() as browser:
        browser.show(page, 390)
        width = browser.evaluate("document.documentElement.clientWidth")
        with pytest.raises(BrowserError, match="the page's script failed"):
            browser.evaluate("no_such_name.x")
        shot = browser.screenshot(tmp_path / "page.png")

    assert width == 390
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 390
    assert int.from_bytes(png[20:24], "big") == 1500  # the whole page, beyond the window
