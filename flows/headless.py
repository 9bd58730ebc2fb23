"""A headless Chromium driven over the DevTools protocol, for pictures and checks of pages.

One browser process serves many pages: Chromium talks the protocol over a pipe
(`--remote-debugging-pipe`: it reads commands from fd 3 and writes answers to fd 4, each
a JSON message ended by a NUL byte), so no port, no WebSocket client and no browser
download are needed, only the distribution's `chromium`. Starting Chromium costs about a
second; a page after that costs tens of milliseconds, which is what lets the browser
test look at every email and link page at two widths.

Nothing leaves the machine: every request goes to a proxy address where nothing listens,
so a page that needs the network shows it (a logo that does not load, a missing font).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from journeys.errors import JourneyflowError

# Where nothing listens: an external request fails at once instead of leaving the machine.
_NO_NETWORK = "http://127.0.0.1:9"
_TIMEOUT = 30.0


class BrowserError(JourneyflowError):
    """Chromium is missing, did not start, or answered a command with an error."""


def find_chromium() -> str | None:
    """The distribution's Chromium (`apt install chromium`), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one tab; use as a context manager.

    `open(url, width)` loads a page at a viewport width; `evaluate` runs JavaScript in it
    and returns the value; `screenshot` writes the full page as PNG.
    """

    def __init__(self, executable: str | None = None) -> None:
        found = executable or find_chromium()
        if found is None:
            raise BrowserError("Chromium is not installed: apt-get install chromium")
        self._profile = tempfile.TemporaryDirectory(prefix="journeyflow-chromium-")
        # The browser's ends of the two pipes, and ours.
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        command = [
            found,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--mute-audio",
            f"--proxy-server={_NO_NETWORK}",
            f"--user-data-dir={self._profile.name}",
            "--remote-debugging-pipe",
            "about:blank",
        ]

        # The shell puts the pipe ends where Chromium looks for them, then becomes it:
        # no code runs between fork and exec (a preexec function is unsafe with threads).
        # Above fd 9 first, so that neither end is itself fd 3 or 4 when they are moved.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        wire = f'exec "$0" "$@" 3<&{high_r} 4>&{high_w} {high_r}<&- {high_w}>&-'
        # What Chromium says, for the error when it exits early; closed in close().
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            # bash, not sh: dash takes no file descriptor above 9.
            [shutil.which("bash") or "/bin/bash", "-c", wire, *command],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(high_r, high_w),
        )
        os.close(high_r)
        os.close(high_w)
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None
        self._events: list[dict[str, Any]] = []
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session = attached["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
            self._frame = self.send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        except BaseException:
            self.close()
            raise

    # --- the protocol ------------------------------------------------------------------

    def _write(self, message: Mapping[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            try:
                written = os.write(self._to_browser, data)
            except BrokenPipeError:
                raise BrowserError(f"Chromium exited: {self._last_words()}") from None
            data = data[written:]

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], _TIMEOUT)
            if not ready:
                raise BrowserError(f"Chromium did not answer within {_TIMEOUT:.0f} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited: {self._last_words()}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _call(
        self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        wanted = self._next_id
        message: dict[str, Any] = {"id": wanted, "method": method, "params": dict(params or {})}
        if session is not None:
            message["sessionId"] = session
        self._write(message)
        while True:
            answer = self._read()
            if answer.get("id") == wanted:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error'].get('message')}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            if "method" in answer:
                self._events.append(answer)

    def send(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One command to the tab."""
        return self._call(method, params, self._session)

    def _wait_for(self, event: str) -> dict[str, Any]:
        while True:
            for i, seen in enumerate(self._events):
                if seen.get("method") == event and seen.get("sessionId") == self._session:
                    del self._events[: i + 1]
                    return seen
            self._events.clear()
            answer = self._read()
            if "method" in answer:
                self._events.append(answer)

    # --- pages -------------------------------------------------------------------------

    def viewport(self, width: int, height: int = 900) -> None:
        """Lay pages out at this width (a phone from 480 px down: touch, mobile viewport)."""
        mobile = width <= 480
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def dark(self, on: bool) -> None:
        """Prefer the dark colour scheme and let Chromium darken pages that have none."""
        features = [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]
        self.send("Emulation.setEmulatedMedia", {"features": features})
        self.send("Emulation.setAutoDarkModeOverride", {"enabled": on} if on else {})

    def open(self, url: str, width: int | None = None) -> None:
        """Load `url` (http:, file:) and wait for its load event."""
        if width is not None:
            self.viewport(width)
        self._events.clear()
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        self._wait_for("Page.loadEventFired")

    def show(self, html: str, width: int | None = None) -> None:
        """Make `html` the tab's document (no navigation: a few milliseconds)."""
        if width is not None:
            self.viewport(width)
        self.send("Page.setDocumentContent", {"frameId": self._frame, "html": html})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (returned by value, as JSON)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"the page's script failed: {text}")
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path) -> Path:
        """The whole page, as laid out at the current width, as a PNG file."""
        shot = self.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "optimizeForSpeed": True},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    # --- lifetime ----------------------------------------------------------------------

    def _last_words(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)  # it is exiting: let it finish saying why
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "(it said nothing)"

    def close(self) -> None:
        with contextlib.suppress(OSError, BrowserError):
            self._write({"id": 0, "method": "Browser.close"})
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()
        self._log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
