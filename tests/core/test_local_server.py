"""`make run`'s server over real HTTP: the front door a REST client meets."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.core.local_server import Served, json_call, request, serve, signed


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # the concurrency test below opens 200 upload targets in one workspace
    env = {"VIDEO_UPLOAD_SLOTS_PER_WORKSPACE": "1000"}
    with serve(tmp_path_factory.mktemp("served"), env=env) as running:
        yield running


@pytest.fixture
def server(served: Served) -> tuple[str, Path]:
    return served.base, served.data


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
    conn.putrequest("GET", signed(f"/media/{vid}/{run}/{name}"), skip_accept_encoding=True)
    conn.endheaders()  # Host only: no Accept, no Accept-Encoding
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read() == payload
    conn.close()


# --- request isolation, over real HTTP, under concurrency --------------------------------------
def test_concurrent_requests_each_get_answers_about_their_own_request(served: Served) -> None:
    """Hundreds of concurrent keep-alive requests with distinct bodies, headers and queries:
    every answer must belong to its request (chalice's shared current_request mixed them)."""
    source = served.data / "inbox" / "isolation.mp4"
    source.write_bytes(b"bytes")
    local = threading.local()

    def conn() -> Any:
        if getattr(local, "conn", None) is None:
            local.conn = served.connect()
        return local.conn

    def create(title: str, description: str) -> tuple[int, Any]:
        document = {"title": title, "description": description, "sourceUrl": f"file://{source}"}
        return json_call(conn(), "POST", "/videos", document)

    with ThreadPoolExecutor(16) as pool:  # a full page for every limit from 1 to 100
        seeded = list(pool.map(lambda i: create(f"seed-{i}", f"s{i}")[1], range(100)))
    assert sorted(v["title"] for v in seeded) == sorted(f"seed-{i}" for i in range(100))

    def one(i: int) -> str | None:
        """None when the answer is this request's, else what went wrong."""
        kind = i % 4
        if kind == 0:
            status, answer = create(f"title-{i}", f"description-{i}")
            ok = status == 201 and (answer["title"], answer["description"]) == (
                f"title-{i}",
                f"description-{i}",
            )
        elif kind == 1:
            limit = i % 100 + 1
            status, answer = json_call(conn(), "GET", f"/videos?limit={limit}")
            ok = status == 200 and answer["count"] == len(answer["videos"]) == limit
        elif kind == 2:
            proto = "https" if i % 8 == 2 else "http"
            status, answer = json_call(
                conn(),
                "POST",
                "/uploads",
                {"filename": f"file-{i}.mp4"},
                {"Host": f"h{i}.example", "X-Forwarded-Proto": proto},
            )
            url = answer.get("uploadUrl", "")
            ok = (
                status == 201
                and url.startswith(f"{served.base}/uploads/")  # configured, never the Host
                and url.partition("?")[0].endswith(f"/file-{i}.mp4")
                and "&sig=" in url
            )
        else:
            video = seeded[i % 100]
            status, answer = json_call(conn(), "GET", f"/videos/{video['id']}")
            ok = status == 200 and answer["title"] == video["title"]
        return None if ok else f"request {i}: {status} {answer}"

    with ThreadPoolExecutor(32) as pool:
        wrong = [r for r in pool.map(one, range(800)) if r is not None]
    assert wrong == []


# --- connections: many at once, slow or abandoned ones ------------------------------------------
def test_a_burst_of_simultaneous_connections_is_all_served(served: Served) -> None:
    """256 clients connect at the same moment (chalice local's backlog of 5 reset some)."""
    n = 256
    barrier = threading.Barrier(n, timeout=60)

    def health(_: int) -> int:
        barrier.wait()
        conn = served.connect()
        try:
            return request(conn, "GET", "/health")[0]
        finally:
            conn.close()

    with ThreadPoolExecutor(n) as pool:
        assert list(pool.map(health, range(n))) == [200] * n


def test_slow_and_abandoned_clients_are_cut_off_while_others_are_served(tmp_path: Path) -> None:
    with serve(tmp_path, "--timeout", "1") as running:
        stalled = []
        for i in range(24):
            sock = socket.create_connection(("127.0.0.1", running.port), timeout=60)
            if i % 3 == 0:  # half a request head
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            elif i % 3 == 1:  # the head, then half the body it announced
                sock.sendall(
                    b"POST /videos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 100\r\n\r\n{"title"'
                )
            stalled.append(sock)  # i % 3 == 2: connects and says nothing

        def health(_: int) -> int:
            conn = running.connect()
            try:
                return request(conn, "GET", "/health")[0]
            finally:
                conn.close()

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(health, range(40))) == [200] * 40
        for sock in stalled:  # the server hangs up on each of them (after its read timeout)
            with sock, contextlib.suppress(ConnectionResetError):
                assert sock.recv(65536) == b""


def test_connections_beyond_the_cap_get_a_json_503(tmp_path: Path) -> None:
    with serve(tmp_path, "--max-connections", "4") as running:
        held = [running.connect() for _ in range(4)]
        for conn in held:  # four kept-alive connections: every slot taken
            assert request(conn, "GET", "/health")[0] == 200
        extra = running.connect()
        status, headers, raw = request(extra, "GET", "/health")
        assert status == 503
        assert json.loads(raw)["error"]["code"] == "ServerBusy"
        assert headers["Connection"] == "close"
        extra.close()
        for conn in held:
            conn.close()


# --- API bodies --------------------------------------------------------------------------------
def test_a_chunked_json_body_reaches_the_api(served: Served) -> None:
    source = served.data / "inbox" / "chunked.mp4"
    source.write_bytes(b"bytes")
    document = json.dumps({"title": "Chunked", "sourceUrl": f"file://{source}"}).encode()
    conn = served.connect()
    conn.request(
        "POST",
        "/videos",
        body=iter([document[:10], document[10:]]),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 201
    assert json.loads(resp.read())["title"] == "Chunked"
    assert request(conn, "GET", "/health")[0] == 200  # the connection goes on
    conn.close()


def test_an_api_body_past_the_payload_quota_is_refused_before_it_is_read(
    served: Served,
) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=60) as sock:
        sock.sendall(
            b"POST /videos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )  # 100 MiB announced, not one byte sent
        resp = http.client.HTTPResponse(sock, method="POST")
        resp.begin()
        assert resp.status == 413
        assert json.loads(resp.read())["error"]["code"] == "PayloadTooLarge"
        assert resp.getheader("Connection") == "close"


def test_a_body_with_both_length_and_chunking_is_refused(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=60) as sock:
        sock.sendall(
            b"POST /videos HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        resp = http.client.HTTPResponse(sock, method="POST")
        resp.begin()
        assert resp.status == 400
        assert resp.getheader("Connection") == "close"


def test_the_fast_paths_are_the_route_tables_streamed_routes() -> None:
    """The server streams media and upload bodies itself on the app's own routes: their paths
    and methods come from the route table (by operationId), signed like the routes."""
    from app import routes
    from devserver.server import fast_paths

    found = fast_paths(routes, media=True, uploads=True)
    by_handler = {f.handler: f for f in found}
    assert set(by_handler) == {"_serve_media", "_receive_part", "_receive_upload", "_serve_events"}
    assert not by_handler["_serve_events"].signed  # a token, checked by the app
    media = by_handler["_serve_media"]
    assert media.media and media.methods == {"GET", "HEAD"}
    match = media.pattern.fullmatch("/media/v/r/720p.mp4")
    assert match and match.groups() == ("v", "r", "720p.mp4")
    assert not media.pattern.fullmatch("/media/v/r")
    part = by_handler["_receive_part"]
    assert part.methods == {"PUT"}
    match = part.pattern.fullmatch("/uploads/u/parts/3")
    assert match and match.groups() == ("u", "3")
    assert not by_handler["_receive_upload"].pattern.fullmatch("/uploads/u/parts/3")
    for op_id in ("getMedia", "putUploadPart", "putUpload"):  # signed, like the fast paths
        assert routes.access[routes.path_of(op_id)] == "signed"
    assert [f.handler for f in fast_paths(routes, media=False, uploads=True, events=False)] == [
        "_receive_part",
        "_receive_upload",
    ]


def test_a_fast_path_follows_its_route_when_the_route_moves() -> None:
    from chalice import Response

    from chalicelib.api.http import ApiRoutes
    from chalicelib.api.isolation import IsolatedChalice
    from chalicelib.api.operation import Op
    from devserver.server import fast_paths

    routes = ApiRoutes(
        IsolatedChalice(app_name="moved"),
        authenticate=lambda header, client: None,  # type: ignore[arg-type,return-value]
        verify_signature=lambda path, params: None,
    )

    @routes.route(
        "/files/{video_id}/{name}",
        methods=["GET"],
        access="signed",
        op=Op("getMedia", "media", "media", 200),
    )
    def get_media(video_id: str, name: str) -> Response:
        raise AssertionError

    [fast] = fast_paths(routes, media=True, uploads=False, events=False)
    assert fast.pattern.fullmatch("/files/a/b.mp4") and not fast.pattern.fullmatch("/media/a/b/c")
    with pytest.raises(KeyError, match="putUpload"):
        fast_paths(routes, media=True, uploads=True, events=False)
