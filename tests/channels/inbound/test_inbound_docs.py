"""/docs works offline: Swagger UI from the service's own files, no CDN.

The page is checked as HTML (every script and style it loads is the service's own and
answers 200) and, where Chromium is installed (CI installs it), in a real headless
browser that must render the operations of the OpenAPI description.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from receiver_harness import MakeReceiver, Receiver

CONFIG = {"sources": {"shop": {"kind": "standard_webhooks", "secrets": ["${SHOP}"]}}}
SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


@pytest.fixture
def receiver(make_receiver: MakeReceiver) -> Receiver:
    return make_receiver(CONFIG, env={"SHOP": SECRET})


def test_the_docs_page_loads_nothing_from_outside(receiver: Receiver) -> None:
    page = receiver.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    external = re.findall(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)""", html)
    assert external == [], external
    assets = re.findall(r"""(?:src|href)\s*=\s*["'](/[^"']+)""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        assert receiver.client.get(asset).status_code == 200, asset
    assert "/openapi.json" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_docs_page_renders_in_a_headless_browser(receiver: Receiver, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium is not installed (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Nothing but the service may be reached: an external load would fail here.
        "--proxy-server=http://127.0.0.1:9",
        "--virtual-time-budget=10000",
        "--dump-dom",
        f"{receiver.url}/docs",
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    # Swagger UI rendered the description: the title and the shop's operation.
    assert "journeyflow webhooks" in dom
    assert "/webhooks/shop" in dom
    assert "opblock" in dom  # an operation block, drawn by Swagger UI's script
