"""What `make run`'s server tells a hostile client (issue 28): links from configuration, never a
reflected Host; no secrets in the access log; a generic Server header; malformed request lines
answered 400 and closed, without a traceback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.core.local_server import RUN_ID, VIDEO_ID, Served, json_call, request, serve, signed

HOSTILE = {"Host": "evil.example", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "x.evil"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("hostile")) as running:
        yield running


def test_upload_urls_and_openapi_servers_come_from_configuration(served: Served) -> None:
    with closing(served.connect()) as conn:
        status, upload = json_call(conn, "POST", "/uploads", {"filename": "a.mp4"}, HOSTILE)
        assert status == 201
        assert upload["uploadUrl"].startswith(f"{served.base}/uploads/")
        status, _, raw = request(conn, "GET", "/openapi.json", headers=HOSTILE)
    assert status == 200
    assert json.loads(raw)["servers"] == [{"url": served.base}]
    assert b"evil.example" not in raw


def test_forwarded_headers_count_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    trusted = {"VIDEO_TRUSTED_PROXIES": "127.0.0.0/8"}
    with serve(tmp_path, env=trusted) as proxied, closing(proxied.connect()) as conn:
        forwarded = {"X-Forwarded-Host": "videos.example", "X-Forwarded-Proto": "https"}
        status, upload = json_call(conn, "POST", "/uploads", {"filename": "a.mp4"}, forwarded)
        assert status == 201
        assert upload["uploadUrl"].startswith("https://videos.example/uploads/")
        # malformed forwarded values are ignored even from a trusted proxy
        status, upload = json_call(conn, "POST", "/uploads", {"filename": "a.mp4"}, HOSTILE)
        assert status == 201
        assert upload["uploadUrl"].startswith(f"{proxied.base}/uploads/")


def test_the_access_log_carries_no_signatures_or_upload_ids(served: Served) -> None:
    (served.media_dir() / "poster.jpg").write_bytes(b"jpeg")
    with closing(served.connect()) as conn:
        url = signed(f"/media/{VIDEO_ID}/{RUN_ID}/poster.jpg")
        assert request(conn, "GET", url)[0] == 200
        status, upload = json_call(conn, "POST", "/uploads", {"filename": "b.mp4"})
        assert status == 201
        upload_path = upload["uploadUrl"].removeprefix(served.base)
        assert request(conn, "PUT", upload_path, b"data")[0] == 201
        status, multi = json_call(
            conn, "POST", "/uploads", {"filename": "m.mp4", "multipart": {"size": 6 * 2**20}}
        )
        assert status == 201
        assert request(conn, "GET", f"/uploads/{multi['uploadId']}")[0] == 200
    sig = url.partition("sig=")[2].partition("&")[0]
    upload_id = multi["uploadId"]  # a MAC-signed handle: usable with a write token
    log = (served.data / "server.log").read_text()
    assert "/media/" in log and "/uploads/" in log  # the requests were logged
    assert sig not in log and "sig=…" in log
    assert upload_id not in log


def test_the_server_header_names_no_software_versions(served: Served) -> None:
    with closing(served.connect()) as conn:
        _, headers, _ = request(conn, "GET", "/health")
    assert headers["Server"] == "video-service"


@pytest.mark.parametrize(
    "line",
    [
        b"GET /\r\n",
        b"GET /health\r\n\r\n",
        b"\x16\x03\x01garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ],
)
def test_malformed_request_lines_get_400_and_a_close(served: Served, line: bytes) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(line)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b"" (no hang)
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.") and status_line.split()[1] in (b"400", b"505")
    assert b"Python" not in answer
    assert "Traceback" not in (served.data / "server.log").read_text()


def test_a_refused_source_names_the_allowed_roots_without_server_paths(served: Served) -> None:
    with closing(served.connect()) as conn:
        status, _, raw = request(
            conn,
            "POST",
            "/videos",
            json.dumps({"title": "x", "sourceUrl": "file:///etc/hostname"}).encode(),
            {"Content-Type": "application/json"},
        )
    assert status == 400
    assert json.loads(raw)["error"]["details"]["allowedRoots"] == ["inbox"]
    assert str(served.data).encode() not in raw
