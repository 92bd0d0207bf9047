"""Helpers for tests that run `make run`'s server (devserver/) in a subprocess."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT, free_port, wait_for_port

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"

VIDEO_ID, RUN_ID = "B" * 22, "20260101T000000Z-abcdef01"
# Memory tests read the server's peak resident size from /proc (Linux).
needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


@dataclass
class Served:
    port: int
    data: Path
    pid: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self, timeout: float = 60) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def media_dir(self) -> Path:
        folder = self.data / "media" / "videos" / VIDEO_ID / RUN_ID
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def peak_rss_kib(self) -> int:
        """The server's peak resident memory so far (Linux: VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")


@contextmanager
def serve(data: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """The dev server on a free port over `data`; its output goes to `data/server.log` (a pipe
    nobody reads would fill up and stall the server)."""
    port = free_port()
    extra = env or {}
    env = {
        **os.environ,
        "VIDEO_DATA_DIR": str(data),
        "VIDEO_BACKEND": "local",
        "VIDEO_ADMIN_TOKEN": ADMIN_TOKEN,
        "VIDEO_SIGNING_SECRET": SIGNING_SECRET,
        "VIDEO_RATE_LIMIT_PER_SECOND": "0",  # load tests measure the server, not the limiter
    }
    env.pop("VIDEO_SOURCE_ROOTS", None)
    env.pop("VIDEO_PUBLIC_URL", None)
    env.update(extra)
    with (data / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "devserver"), "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=60)
        yield Served(port, data, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn.request(method, signed(path), body=body, headers=with_token(headers))
    resp = conn.getresponse()
    return resp.status, resp.headers, resp.read()


def with_token(headers: dict[str, str] | None) -> dict[str, str]:
    """The admin token, unless the caller sets Authorization (an empty value sends none)."""
    out = {"Authorization": f"Bearer {ADMIN_TOKEN}", **(headers or {})}
    if not out["Authorization"]:
        del out["Authorization"]
    return out


def signed(path: str) -> str:
    """Media and upload paths signed as rendered URLs are (left alone if already signed)."""
    from chalicelib.api.signing import UrlSigner

    bare = path.partition("?")[0]
    if "sig=" in path or not bare.startswith(("/media/", "/uploads/")) or bare == "/uploads":
        return path
    return UrlSigner(SIGNING_SECRET.encode(), 3600).sign(path, bare)


def json_call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    document: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    body = None if document is None else json.dumps(document).encode()
    status, _, raw = request(
        conn, method, path, body, {"Content-Type": "application/json", **(headers or {})}
    )
    return status, json.loads(raw)
