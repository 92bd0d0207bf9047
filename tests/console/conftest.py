"""The console in a real browser: `make run`'s server on a temp data dir, Debian's chromium
driven by Playwright (its own browser download is never used: nothing is fetched)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT, free_port, wait_for_port

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# The events route's longest wait (VIDEO_SSE_WAIT_SECONDS): short, so that a test of a held-back
# stream sees the page give up on it in seconds.
EVENTS_WAIT_SECONDS = 3
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", "/tmp/video-console-screenshots"))


@dataclass
class Served:
    base: str
    data: Path
    log: Path

    def call(
        self, path: str, method: str = "GET", body: Any = None, token: str = ADMIN_TOKEN
    ) -> tuple[int, Any]:
        """The API with a token (the operator's by default), as curl would use it."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


@pytest.fixture(scope="package")  # torn down once tests/console is done
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("console")
    port = free_port()
    env = {
        **os.environ,
        "VIDEO_DATA_DIR": str(data),
        "VIDEO_BACKEND": "local",
        "VIDEO_ADMIN_TOKEN": ADMIN_TOKEN,
        "VIDEO_LOCAL_WAIT_SECONDS": "0.05",
        "VIDEO_X264_PRESET": "ultrafast",
        "VIDEO_SSE_WAIT_SECONDS": str(EVENTS_WAIT_SECONDS),
    }
    for name in ("VIDEO_SOURCE_ROOTS", "VIDEO_PUBLIC_URL", "VIDEO_BUCKET"):
        env.pop(name, None)
    yield from serve(data, port, env)


def serve(data: Path, port: int, env: dict[str, str]) -> Iterator[Served]:
    """`python -m devserver` on `port` with `env`, its output in `data/server.log`; stopped when
    the generator is closed (a fixture's teardown)."""
    log = data / "server.log"
    with log.open("wb") as out:  # a file, not a pipe nobody reads: the server must not block
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "devserver"), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=60)
        yield Served(f"http://127.0.0.1:{port}", data, log)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _chromium() -> str:
    exe = shutil.which("chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        exe = None
    if exe is None:
        reason = "needs Debian's chromium and playwright (.ci/run installs both)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return exe


@pytest.fixture(scope="package")  # torn down once tests/console is done
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page with what it did recorded: requests, console errors, dialogs."""

    page: Any
    urls: list[str]
    errors: list[str]
    dialogs: list[str]

    def problems(self) -> list[str]:
        """Script errors and CSP violations (a refused request's console line is expected)."""
        return [
            e for e in self.errors if e.startswith("page error") or "Content Security Policy" in e
        ]


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Watched(page, [], [], [])
    page.on("request", lambda request: seen.urls.append(request.url))
    page.on(
        "console",
        lambda msg: seen.errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield seen
    finally:
        context.close()


def sign_in(page: Any, base: str, token: str = ADMIN_TOKEN) -> None:
    page.goto(base + "/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Library").wait_for()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
