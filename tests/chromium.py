"""Load a page in real headless Chromium and read it back over the DevTools protocol.

A minimal CDP client (``websocket-client`` only, no driver binary): start Chromium with
``--remote-debugging-port=0``, read the port it chose from ``DevToolsActivePort``, open a tab,
collect console errors, uncaught exceptions and failed loads while the page loads, then
evaluate an expression in the page. Every wait polls against a deadline.

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/install-test-services.sh`` installs it).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class PageResult:
    """What the page produced: the expression's value and every error it logged."""

    value: Any
    errors: list[str] = field(default_factory=list)


class _Session:
    def __init__(self, url: str, deadline: float) -> None:
        import websocket

        self.deadline = deadline
        self.ws = websocket.create_connection(url, timeout=self._left(), suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("Chromium did not answer before the deadline")
        return left

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = self._receive()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._receive()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _receive(self) -> dict:
        self.ws.settimeout(self._left())
        return json.loads(self.ws.recv())

    def close(self) -> None:
        self.ws.close()


def load_page(
    path: Path,
    expression: str,
    done: Callable[[Any], bool] = bool,
    timeout: float = 60.0,
) -> PageResult:
    """Open ``path`` (a local file) and evaluate ``expression`` until ``done(value)``.

    Gives up waiting for ``done`` after ``timeout`` seconds and returns the last value, with
    the page's errors: console.error calls, uncaught exceptions, and browser log entries at
    level error (such as a script that failed to load).
    """
    give_up = time.monotonic() + timeout
    with browser_tab(FLAGS, give_up + 30) as (session, tab):  # +30 s: start, navigate, close
        session.call("Page.navigate", {"url": path.resolve().as_uri()}, session=tab)
        session.wait_event("Page.loadEventFired")
        while True:
            reply = session.call(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=tab
            )
            value = reply.get("result", {}).get("value")
            if done(value) or time.monotonic() > give_up:
                break
            time.sleep(0.05)  # polling interval; the deadline bounds the wait
        return PageResult(value, _errors(session.events))


@contextlib.contextmanager
def browser_tab(
    flags: Sequence[str], deadline: float, profile: Path | None = None
) -> Iterator[tuple[_Session, str]]:
    """A fresh headless Chromium and one tab (Page, Runtime and Log enabled): the protocol
    session and the tab's session id; afterwards the browser is closed, its profile removed
    unless given (``profile``: a later browser finds the caches of this one)."""
    keep = profile is not None
    profile = profile if keep else Path(tempfile.mkdtemp(prefix="hydratune-chromium-"))
    (profile / "DevToolsActivePort").unlink(missing_ok=True)  # the last browser's port
    process = subprocess.Popen(
        # about:blank: without a page to open, Chromium opens its new-tab page, a WebUI
        # renderer that takes a core for a second while the tested page loads
        [
            str(CHROMIUM),
            *flags,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    session = None
    try:
        session = _Session(_browser_url(profile, process, deadline), deadline)
        target = session.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        tab = session.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        for domain in ("Page", "Runtime", "Log"):
            session.call(f"{domain}.enable", session=tab["sessionId"])
        yield session, tab["sessionId"]
    finally:
        if session is not None:
            with contextlib.suppress(Exception):
                session.call("Browser.close")
            session.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not keep:
            shutil.rmtree(profile, ignore_errors=True)


def _browser_url(profile: Path, process: subprocess.Popen, deadline: float) -> str:
    """The browser's websocket, from the ``DevToolsActivePort`` file Chromium writes."""
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{CHROMIUM} exited with {process.returncode} before it listened")
        lines = port_file.read_text().split() if port_file.is_file() else []
        if len(lines) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)  # polling interval; the deadline bounds the wait
    raise TimeoutError(f"{CHROMIUM} wrote no {port_file.name} in time")


def _errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description") or details.get("text"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
    return errors
