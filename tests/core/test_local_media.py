"""`GET`/`HEAD /media/...` on `make run`'s server, over real HTTP: streamed from disk, ranges,
validators, content types, CORS; plus the decisions of chalicelib.api.local_media on their own."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.core.local_server import RUN_ID, VIDEO_ID, Served, needs_proc, request, serve, signed

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes, every offset distinguishable mod 256
SIZE = len(PAYLOAD)
PATH = f"/media/{VIDEO_ID}/{RUN_ID}/video_720p.mp4"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("media")) as running:
        (running.media_dir() / "video_720p.mp4").write_bytes(PAYLOAD)
        yield running


def get(served: Served, headers: dict[str, str] | None = None, method: str = "GET") -> tuple:
    conn = served.connect()
    try:
        return request(conn, method, PATH, headers=headers)
    finally:
        conn.close()


# --- ranges ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=0-0", 0, 0),
        ("bytes=10000-", 10000, SIZE - 1),
        ("bytes=-16", SIZE - 16, SIZE - 1),
        ("bytes=-99999", 0, SIZE - 1),  # a suffix longer than the file: all of it
        ("bytes=10200-99999", 10200, SIZE - 1),  # an end past the file is clamped
        ("BYTES=5-9", 5, 9),
    ],
)
def test_a_single_range_is_a_206_with_exactly_those_bytes(
    served: Served, spec: str, first: int, last: int
) -> None:
    status, headers, body = get(served, {"Range": spec})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert headers["Content-Length"] == str(last - first + 1)
    assert body == PAYLOAD[first : last + 1]
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "video/mp4"


@pytest.mark.parametrize("spec", [f"bytes={SIZE}-", "bytes=20000-20010", "bytes=-0"])
def test_an_unsatisfiable_range_is_a_416_naming_the_size(served: Served, spec: str) -> None:
    status, headers, body = get(served, {"Range": spec})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{SIZE}"
    assert json.loads(body)["error"]["code"] == "RangeNotSatisfiable"


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=0-99,200-299",  # several ranges: the whole file (no multipart/byteranges)
        "bytes=99-0",  # an invalid range-spec: the header is ignored
        "bytes=-",
        "items=0-5",
    ],
)
def test_a_range_header_that_is_not_one_valid_range_is_ignored(served: Served, spec: str) -> None:
    status, headers, body = get(served, {"Range": spec})
    assert (status, body) == (200, PAYLOAD)
    assert "Content-Range" not in headers


def test_head_answers_the_headers_of_get_without_a_body(served: Served) -> None:
    status, headers, body = get(served, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(SIZE)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"]


# --- validators --------------------------------------------------------------------------------
def test_if_none_match_with_the_etag_is_a_304_without_a_body(served: Served) -> None:
    _, first, _ = get(served)
    etag = first["ETag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        status, headers, body = get(served, {"If-None-Match": value})
        assert (status, body) == (304, b""), value
        assert headers["ETag"] == etag
        assert headers["Access-Control-Allow-Origin"] == "*"
    status, _, body = get(served, {"If-None-Match": '"other"'})
    assert (status, body) == (200, PAYLOAD)


def test_if_modified_since_is_a_304_unless_the_file_is_newer(served: Served) -> None:
    _, first, _ = get(served)
    assert get(served, {"If-Modified-Since": first["Last-Modified"]})[0] == 304
    status, _, body = get(served, {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert (status, body) == (200, PAYLOAD)
    # If-None-Match decides when both are sent (RFC 9110 13.2.2)
    both = {"If-None-Match": '"other"', "If-Modified-Since": first["Last-Modified"]}
    assert get(served, both)[0] == 200


def test_if_range_serves_the_range_only_while_the_validator_holds(served: Served) -> None:
    _, first, _ = get(served)
    for validator in (first["ETag"], first["Last-Modified"]):
        status, _, body = get(served, {"Range": "bytes=0-9", "If-Range": validator})
        assert (status, body) == (206, PAYLOAD[:10])
    status, _, body = get(served, {"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert (status, body) == (200, PAYLOAD)


def test_a_changed_file_gets_a_new_etag(served: Served) -> None:
    path = served.media_dir() / "poster.jpg"
    path.write_bytes(b"one")
    url = f"/media/{VIDEO_ID}/{RUN_ID}/poster.jpg"
    conn = served.connect()
    _, before, _ = request(conn, "GET", url)
    path.write_bytes(b"three")
    status, after, body = request(conn, "GET", url, headers={"If-None-Match": before["ETag"]})
    conn.close()
    assert (status, body) == (200, b"three")
    assert after["ETag"] != before["ETag"]


# --- types, CORS, errors, keep-alive -----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("hls_720p.m3u8", "application/vnd.apple.mpegurl"),
        ("hls_720p_00000.ts", "video/mp2t"),
        ("hls_720p_00000.m4s", "video/iso.segment"),
        ("video_360p.mp4", "video/mp4"),
        ("subtitles.vtt", "text/vtt; charset=utf-8"),
        ("poster_small.jpg", "image/jpeg"),
    ],
)
def test_each_kind_of_file_has_its_content_type_and_cors(
    served: Served, name: str, ctype: str
) -> None:
    (served.media_dir() / name).write_bytes(b"x" * 64)
    conn = served.connect()
    status, headers, body = request(conn, "GET", f"/media/{VIDEO_ID}/{RUN_ID}/{name}")
    conn.close()
    assert (status, body) == (200, b"x" * 64)
    assert headers["Content-Type"] == ctype
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    "path",
    [
        f"/media/{VIDEO_ID}/{RUN_ID}/missing.mp4",
        f"/media/{VIDEO_ID}/{RUN_ID}/notes.txt",  # not a published kind of file
        f"/media/{VIDEO_ID}/{RUN_ID}/..%2f..%2fvideos.sqlite3",
        f"/media/{VIDEO_ID}/{RUN_ID}/link.mp4",  # a symlink out of the media root
        f"/media/short/{RUN_ID}/video_720p.mp4",
    ],
)
def test_anything_but_a_published_file_is_a_json_404(served: Served, path: str) -> None:
    link = served.media_dir() / "link.mp4"
    if not link.is_symlink():
        os.symlink(served.data / "server.log", link)
    conn = served.connect()
    status, headers, body = request(conn, "GET", path)
    conn.close()
    assert status == 404
    assert json.loads(body)["error"]["code"] == "NotFound"
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_one_kept_alive_connection_carries_every_kind_of_answer(served: Served) -> None:
    conn = served.connect()
    status, first, body = request(conn, "GET", PATH, headers={"Range": "bytes=0-9"})
    assert (status, body) == (206, PAYLOAD[:10])
    assert request(conn, "HEAD", PATH)[0] == 200
    assert request(conn, "GET", PATH, headers={"If-None-Match": first["ETag"]})[0] == 304
    assert request(conn, "GET", PATH, headers={"Range": "bytes=99999-"})[0] == 416
    assert request(conn, "GET", f"/media/{VIDEO_ID}/{RUN_ID}/missing.mp4")[0] == 404
    assert request(conn, "GET", PATH)[2] == PAYLOAD
    assert request(conn, "GET", "/health")[0] == 200
    conn.close()


def test_other_methods_and_preflight_still_go_through_the_route_table(served: Served) -> None:
    conn = served.connect()
    status, _, body = request(conn, "POST", PATH, b"{}", {"Content-Type": "application/json"})
    assert status == 405
    assert json.loads(body)["error"]["code"] == "MethodNotAllowedError"
    status, headers, _ = request(
        conn,
        "OPTIONS",
        PATH,
        headers={
            "Origin": "https://player.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    conn.close()
    assert status == 200
    assert "Range" in headers["Access-Control-Allow-Headers"]


# --- memory ------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_proc
def test_concurrent_downloads_of_a_large_file_do_not_grow_the_server(tmp_path: Path) -> None:
    size = 256 * 1024 * 1024
    with serve(tmp_path, "--quiet") as running:
        big = running.media_dir() / "video_1080p.mp4"
        with big.open("wb") as f:  # sparse: costs no disk
            f.truncate(size)
        path = f"/media/{VIDEO_ID}/{RUN_ID}/video_1080p.mp4"
        conn = running.connect()
        assert request(conn, "GET", path, headers={"Range": "bytes=0-0"})[0] == 206  # warm up
        conn.close()
        before = running.peak_rss_kib()
        barrier = threading.Barrier(4)

        def download(_: int) -> int:
            conn = running.connect()
            barrier.wait()
            conn.request("GET", signed(path))
            resp = conn.getresponse()
            got = 0
            while chunk := resp.read(1024 * 1024):
                got += len(chunk)
            conn.close()
            return got

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(download, range(4))) == [size] * 4
        growth_mib = (running.peak_rss_kib() - before) / 1024
    assert growth_mib < 32, f"the server grew {growth_mib:.0f} MiB serving 4 x 256 MiB"
