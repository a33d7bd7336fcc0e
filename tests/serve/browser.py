"""One headless Chromium tab kept open while a test clicks through a page and polls its DOM.

Built on ``tests/chromium.py`` (the DevTools protocol over a websocket, no driver binary):
``evaluate`` runs JavaScript in the page, ``wait`` polls an expression against a deadline,
``screenshot`` captures the page as a PNG.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chromium import FLAGS, _errors, _Session, browser_tab

# WebGL on the CPU (SwiftShader), for plotly's parallel coordinates
WEBGL = [f for f in FLAGS if f != "--disable-gpu"]
WEBGL += ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


class Tab:
    def __init__(self, session: _Session, tab: str) -> None:
        self.session, self.tab = session, tab

    def evaluate(self, expression: str) -> Any:
        self.session.deadline = time.monotonic() + 60  # each call gets its own deadline
        reply = self.session.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.tab,
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply.get("result", {}).get("value")

    def wait(self, expression: str, what: str, timeout: float = 30) -> tuple[Any, float]:
        """The first truthy value of ``expression`` and the seconds it took; fails naming
        ``what`` at the deadline."""
        start = time.monotonic()
        while not (value := self.evaluate(expression)):
            assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
            time.sleep(0.02)  # polling the DOM; the deadline bounds the wait
        return value, time.monotonic() - start

    def text(self, selector: str) -> str:
        return self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"
        )

    def click(self, selector: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def fill(self, selector: str, value: str) -> None:
        self.evaluate(
            f"(e => {{ e.value = {json.dumps(value)}; e.dispatchEvent(new Event('change')); }})"
            f"(document.querySelector({json.dumps(selector)}))"
        )

    def check(self, selector: str, on: bool = True) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).checked = {json.dumps(on)}")

    def screenshot(self, path: Path) -> None:
        reply = self.session.call("Page.captureScreenshot", {"format": "png"}, session=self.tab)
        path.write_bytes(base64.b64decode(reply["data"]))

    def errors(self) -> list[str]:
        return _errors(self.session.events)


@contextlib.contextmanager
def open_tab(
    url: str, width: int = 1280, height: int = 1600, profile: Path | None = None
) -> Iterator[Tab]:
    """``url`` loaded in a fresh headless Chromium, closed afterwards (``profile``: one kept
    across browsers, as a person's is)."""
    with browser_tab(WEBGL, time.monotonic() + 60, profile) as (session, tab):
        session.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=tab,
        )
        session.call("Page.navigate", {"url": url}, session=tab)
        session.wait_event("Page.loadEventFired")
        yield Tab(session, tab)
