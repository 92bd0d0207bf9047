"""`PUT /uploads/{uploadId}/{name}` on `make run`'s server, over real HTTP: the body is streamed
into the slot, the size limit holds while reading, a failed body leaves the slot usable."""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import uploaded_file
from tests.core.local_server import Served, json_call, needs_proc, request, serve, signed

LIMIT = 4 * 1024 * 1024  # the server under test is started with this upload limit


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("uploads"), "--max-upload-bytes", str(LIMIT)) as running:
        yield running


def new_slot(served: Served, filename: str = "clip.mp4") -> tuple[str, Path]:
    """A fresh upload slot: the PUT path and the slot directory."""
    conn = served.connect()
    status, target = json_call(conn, "POST", "/uploads", {"filename": filename})
    conn.close()
    assert status == 201
    path = "/uploads/" + target["uploadUrl"].split("/uploads/", 1)[1]
    return path, uploaded_file(target["sourceUrl"], served.data).parent


def put(served: Served, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    conn = served.connect()
    try:
        conn.request(
            "PUT", signed(path), body=body, headers={"Content-Type": "video/mp4"}, **kwargs
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def raw(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=60)


def answer(sock: socket.socket) -> tuple[int, Any, http.client.HTTPResponse]:
    resp = http.client.HTTPResponse(sock, method="PUT")
    resp.begin()
    return resp.status, json.loads(resp.read()), resp


def test_an_upload_lands_whole_then_the_slot_is_used(served: Served) -> None:
    path, slot = new_slot(served)
    data = os.urandom(3 * 1024 * 1024 + 17)
    status, result = put(served, path, data)
    assert status == 201
    assert result["size"] == len(data)
    assert uploaded_file(result["sourceUrl"], served.data).read_bytes() == data
    assert sorted(p.name for p in slot.iterdir()) == ["clip.mp4"]  # no temporary left
    status, again = put(served, path, b"other")
    assert (status, again["error"]["code"]) == (409, "Conflict")


def test_a_chunked_upload_is_counted_and_stored(served: Served) -> None:
    path, slot = new_slot(served)
    pieces = [os.urandom(100_000) for _ in range(5)]
    status, result = put(served, path, iter(pieces), encode_chunked=True)
    assert (status, result["size"]) == (201, 500_000)
    assert (slot / "clip.mp4").read_bytes() == b"".join(pieces)


def test_an_unknown_slot_is_a_404_in_the_service_shape(served: Served) -> None:
    status, body = put(served, "/uploads/AAAAAAAAAAAAAAAAAAAAAA/x.mp4", b"x")
    assert status == 404
    assert body["error"]["code"] == "NotFound"
    assert body["error"]["requestId"]


def test_a_declared_length_over_the_limit_is_a_413_before_any_byte_is_read(
    served: Served,
) -> None:
    path, slot = new_slot(served)
    with raw(served) as sock:
        sock.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT + 1}\r\n\r\n".encode()
        )
        status, body, resp = answer(sock)  # answered though not one body byte was sent
    assert (status, body["error"]["code"]) == (413, "PayloadTooLarge")
    assert resp.getheader("Connection") == "close"
    assert list(slot.iterdir()) == []
    assert put(served, path, b"fits")[0] == 201  # the slot was not used up


def test_expect_100_continue_is_answered_only_when_the_body_is_wanted(served: Served) -> None:
    path, _ = new_slot(served)
    head = "PUT {} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n"
    with raw(served) as sock:  # refused: the final answer at once, no 100
        sock.sendall(head.format(path, LIMIT + 1).encode())
        assert answer(sock)[0] == 413
    with raw(served) as sock:  # wanted: 100 Continue, then the body, then 201
        sock.sendall(head.format(path, 5).encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        assert answer(sock)[0] == 201


def test_a_chunked_body_past_the_limit_is_stopped_and_leaves_nothing(served: Served) -> None:
    path, slot = new_slot(served)
    chunk = b"\0" * (256 * 1024)
    with raw(served) as sock:
        sock.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            for _ in range(LIMIT // len(chunk) + 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has answered
        status, body, _ = answer(sock)
    assert (status, body["error"]["code"]) == (413, "PayloadTooLarge")
    assert list(slot.iterdir()) == []
    assert put(served, path, b"fits")[0] == 201


def test_a_broken_connection_leaves_nothing_behind(served: Served) -> None:
    path, slot = new_slot(served)
    with raw(served) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode())
        sock.sendall(b"\1" * 400_000)
        sock.shutdown(socket.SHUT_WR)  # the client goes away mid-body
        assert sock.recv(1024) == b""  # the server hangs up once it has cleaned up
    assert list(slot.iterdir()) == []
    status, result = put(served, path, b"second try")
    assert (status, result["size"]) == (201, 10)


def test_one_upload_at_a_time_per_slot(served: Served) -> None:
    path, slot = new_slot(served)
    with raw(served) as first:
        first.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            "Content-Length: 10\r\n\r\n".encode()
        )
        # 100 Continue comes when the body is about to be read: the slot is taken by then
        assert first.recv(64).startswith(b"HTTP/1.1 100 Continue")
        first.sendall(b"half")
        status, body = put(served, path, b"x" * 10)  # while the first is still arriving
        assert (status, body["error"]["code"]) == (409, "Conflict")
        first.sendall(b"-done!")
        assert answer(first)[0] == 201
    assert (slot / "clip.mp4").read_bytes() == b"half-done!"


@pytest.mark.slow
@needs_proc
def test_a_large_upload_does_not_grow_the_server(tmp_path: Path) -> None:
    size = 192 * 1024 * 1024
    with serve(tmp_path, "--quiet") as running:
        path, slot = new_slot(running)
        warm, _ = new_slot(running, "warm.mp4")
        assert put(running, warm, b"warm")[0] == 201
        before = running.peak_rss_kib()
        source = tmp_path / "inbox" / "big.bin"
        with source.open("wb") as f:
            f.truncate(size)
        with source.open("rb") as body:
            conn = running.connect()
            conn.request("PUT", signed(path), body=body, headers={"Content-Length": str(size)})
            resp = conn.getresponse()
            assert (resp.status, json.loads(resp.read())["size"]) == (201, size)
            conn.close()
        growth_mib = (running.peak_rss_kib() - before) / 1024
    assert (slot / "clip.mp4").stat().st_size == size
    assert growth_mib < 32, f"the server grew {growth_mib:.0f} MiB receiving 192 MiB"


def test_status_codes_stay_in_the_service_shape_over_one_connection(served: Served) -> None:
    path, _ = new_slot(served)
    conn = served.connect()
    assert request(conn, "PUT", path, b"one")[0] == 201
    status, _, raw_body = request(conn, "PUT", path, b"two")
    assert status == 409
    assert set(json.loads(raw_body)["error"]) >= {"code", "message", "requestId"}
    assert request(conn, "GET", "/health")[0] == 200  # a read body keeps the connection
    conn.close()
