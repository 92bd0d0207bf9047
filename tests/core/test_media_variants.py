"""Every spelling of a media URL is either refused or served by the streaming handler, with
ranges: the Chalice view never reads a file, it hands the file off by name (local) or
redirects to its presigned URL (S3) (issue 28: a trailing slash answered `Range: bytes=0-99`
with the whole file, two requests for 100 MiB grew the server by 667 MB)."""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.core.local_server import RUN_ID, SIGNING_SECRET, VIDEO_ID, Served, needs_proc, serve

NAME = "video_240p.mp4"
CANONICAL = f"/media/{VIDEO_ID}/{RUN_ID}/{NAME}"


def _query() -> str:
    from chalicelib.api.signing import UrlSigner

    return UrlSigner(SIGNING_SECRET.encode(), 3600).sign(CANONICAL, CANONICAL).partition("?")[2]


def variants() -> dict[str, str]:
    """The canonical URL's signature on other spellings of its path and query."""
    q = _query()
    params = q.split("&")
    return {
        "canonical": f"{CANONICAL}?{q}",
        "trailing slash": f"{CANONICAL}/?{q}",
        "double slash before id": f"/media//{VIDEO_ID}/{RUN_ID}/{NAME}?{q}",
        "double slash before name": f"/media/{VIDEO_ID}/{RUN_ID}//{NAME}?{q}",
        "leading double slash": f"/{CANONICAL}?{q}",
        "encoded slash": f"/media/{VIDEO_ID}/{RUN_ID}%2F{NAME}?{q}",
        "encoded slash at end": f"{CANONICAL}%2F?{q}",
        "dot segment": f"/media/{VIDEO_ID}/{RUN_ID}/./{NAME}?{q}",
        "dot-dot segment": f"/media/{VIDEO_ID}/x/../{RUN_ID}/{NAME}?{q}",
        "trailing dot": f"{CANONICAL}/.?{q}",
        "upper-case route": f"/MEDIA/{VIDEO_ID}/{RUN_ID}/{NAME}?{q}",
        "upper-case name": f"/media/{VIDEO_ID}/{RUN_ID}/{NAME.upper()}?{q}",
        "reordered query": f"{CANONICAL}?{'&'.join(reversed(params))}",
        "extra query": f"{CANONICAL}?{q}&x=1",
        "repeated query": f"{CANONICAL}?{q}&{q}",
        "empty query field": f"{CANONICAL}?&{q}",
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, int]]:
    with serve(tmp_path_factory.mktemp("variants")) as running:
        target = running.media_dir() / NAME
        size = 300 * 1024 * 1024
        with target.open("wb") as out:  # sparse: made at once, read as fast as memory
            out.truncate(size)
            out.seek(size - 4)
            out.write(b"tail")
        yield running, size


def _get(served: Served, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], int]:
    """Status, headers and the body's length (read in pieces and dropped)."""
    with closing(http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)) as conn:
        conn.request("GET", url, headers=headers)
        resp = conn.getresponse()
        total = 0
        while chunk := resp.read(1024 * 1024):
            total += len(chunk)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, total


@pytest.mark.parametrize("variant", list(variants()))
def test_a_range_on_any_spelling_is_refused_or_answered_as_a_range(
    served: tuple[Served, int], variant: str
) -> None:
    server, size = served
    status, headers, length = _get(server, variants()[variant], {"Range": "bytes=0-99"})
    if status in (200, 206):  # served: by the streaming handler, which honours the range
        assert status == 206 and length == 100
        assert headers["content-range"] == f"bytes 0-99/{size}"
        assert headers["accept-ranges"] == "bytes"
    else:
        assert status in (403, 404), (variant, status)
        assert length < 1024


@pytest.mark.parametrize("variant", ["canonical", "trailing slash", "leading double slash"])
def test_head_on_a_served_spelling_answers_the_files_headers(
    served: tuple[Served, int], variant: str
) -> None:
    server, size = served
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
        conn.request("HEAD", variants()[variant])
        resp = conn.getresponse()
        assert resp.read() == b""
        assert resp.status == 200 and resp.getheader("Content-Length") == str(size)
        assert resp.getheader("Accept-Ranges") == "bytes" and resp.getheader("ETag")
        assert resp.getheader("X-Media-Handoff") is None  # never leaves the server


def test_the_view_hands_a_large_file_off_without_reading_it(client: Any, local_env: Path) -> None:
    """chalice.test.Client reaches the view itself: an empty answer naming the file, whatever
    its size (it was read up to 6 MiB before)."""
    folder = local_env / "media" / "videos" / VIDEO_ID / RUN_ID
    folder.mkdir(parents=True)
    with (folder / NAME).open("wb") as out:
        out.truncate(300 * 1024 * 1024)
    for url in (f"{CANONICAL}?{_query_for(client)}", f"{CANONICAL}/?{_query_for(client)}"):
        resp = client.http.get(url, headers={"accept": "*/*"})
        assert resp.status_code == 200 and resp.body == b""
        assert resp.headers["X-Media-Handoff"] == f"{VIDEO_ID}/{RUN_ID}/{NAME}"
    assert client.http.get(f"{CANONICAL}?exp=1&sig=x").status_code == 403
    missing = f"/media/{VIDEO_ID}/{RUN_ID}/video_360p.mp4"
    assert client.http.get(f"{missing}?{_query_for(client, missing)}").status_code == 404


def _query_for(client: Any, path: str = CANONICAL) -> str:
    from chalicelib.factory import container

    return container().signer.sign(path, path).partition("?")[2]


def test_in_s3_the_view_redirects_to_the_presigned_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.core.backends import open_backend

    for api in open_backend("aws", request, tmp_path, monkeypatch):
        resp = api.get(f"{CANONICAL}/?{_query_for(api.client)}")
        assert resp.status_code == 302 and resp.body in (b"", "")
        location = urlsplit(resp.headers["Location"])
        assert location.path.endswith(f"/videos/{VIDEO_ID}/{RUN_ID}/{NAME}")
        assert "Signature" in location.query


@pytest.mark.slow
@needs_proc
def test_memory_stays_flat_under_four_concurrent_downloads_of_every_spelling(
    served: tuple[Served, int],
) -> None:
    server, size = served
    _get(server, "/health", {})
    before = server.peak_rss_kib()
    outcomes: dict[str, list[tuple[int, int]]] = {}
    for variant, url in variants().items():
        results: list[tuple[int, int]] = []

        def download(url: str = url, results: list[tuple[int, int]] = results) -> None:
            status, _, length = _get(server, url, {})
            results.append((status, length))

        threads = [threading.Thread(target=download) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        outcomes[variant] = results
    grown_mib = (server.peak_rss_kib() - before) / 1024
    served_whole = [v for v, r in outcomes.items() if r and r[0] == (200, size)]
    assert "canonical" in served_whole and len(outcomes["canonical"]) == 4
    for variant, results in outcomes.items():
        assert len(results) == 4 and all(s in (200, 403, 404) for s, _ in results), variant
    # 4 x 300 MiB through each served spelling: the peak moves by buffers, not by files
    assert grown_mib < 64, f"server peak RSS grew {grown_mib:.0f} MiB; served: {served_whole}"
    print(
        f"peak RSS before {before / 1024:.0f} MiB, grown {grown_mib:.1f} MiB; "
        f"served whole: {served_whole}"
    )
    assert os.path.getsize(server.media_dir() / NAME) == size
