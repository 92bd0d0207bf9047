"""`make run`'s server over real HTTP: the front door a REST client meets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT, free_port, wait_for_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {
        **os.environ,
        "VIDEO_DATA_DIR": str(data),
        "VIDEO_BACKEND": "local",
        "VIDEO_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    env.pop("VIDEO_SOURCE_ROOTS", None)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "serve_local.py"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}", data
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **(headers or {})}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health_over_http(server: tuple[str, Path]) -> None:
    base, _ = server
    status, body = call(f"{base}/health")
    assert status == 200
    assert body["backend"] == "sqlite"


def test_unknown_route_is_a_json_404(server: tuple[str, Path]) -> None:
    base, _ = server
    status, body = call(f"{base}/no/such/route")
    assert status == 404
    assert body["error"]["code"] == "NotFound"


def test_wrong_method_is_a_json_405(server: tuple[str, Path]) -> None:
    base, _ = server
    status, body = call(f"{base}/health", method="DELETE")
    assert status == 405
    assert body["error"]["code"] == "MethodNotAllowedError"


def test_oversized_body_is_413(server: tuple[str, Path]) -> None:
    base, _ = server
    status, body = call(
        f"{base}/videos",
        "POST",
        b"{" + b" " * (2 * 1024 * 1024) + b"}",
        {"Content-Type": "application/json"},
    )
    assert status == 413
    assert body["error"]["code"] == "PayloadTooLarge"


def test_create_and_read_back_over_http(server: tuple[str, Path]) -> None:
    base, data = server
    source = data / "inbox" / "clip.mp4"  # the server created the default inbox
    source.write_bytes(b"bytes")
    payload = json.dumps({"title": "Over HTTP", "sourceUrl": f"file://{source}"}).encode()
    status, item = call(f"{base}/videos", "POST", payload, {"Content-Type": "application/json"})
    assert status == 201
    status, again = call(f"{base}/videos/{item['id']}")
    assert (status, again) == (200, item)
    status, listed = call(f"{base}/videos?status=uploaded")
    assert [v["id"] for v in listed["videos"]] == [item["id"]]


def signed(data: Path, path: str) -> str:
    """`path` signed as the server renders media URLs (same data dir, same signing key)."""
    from chalicelib.config import Settings
    from chalicelib.factory import Container

    return Container(Settings(data_dir=data)).signer.sign(path, path)


@pytest.mark.parametrize("name", ["video_720p.mp4", "hls_720p_00000.ts", "poster.jpg"])
def test_media_answer_clients_that_send_no_accept_header(
    server: tuple[str, Path], name: str
) -> None:
    """RFC 9110: no Accept header means anything is acceptable (urllib, raw HTTP clients)."""
    import http.client
    from urllib.parse import urlsplit

    base, data = server
    vid, run = "B" * 22, "20260101T000000Z-abcdef01"
    folder = data / "media" / "videos" / vid / run
    folder.mkdir(parents=True, exist_ok=True)
    payload = bytes(range(256)) * 8
    (folder / name).write_bytes(payload)
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)
    conn.putrequest("GET", signed(data, f"/media/{vid}/{run}/{name}"), skip_accept_encoding=True)
    conn.endheaders()  # Host only: no Accept, no Accept-Encoding
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read() == payload
    conn.close()
