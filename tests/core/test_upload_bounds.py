"""Local uploads are bounded (issue 28): the size limit holds for multipart too, a part larger
than its place is refused before `100 Continue`, a workspace holds a bounded number of
unfinished slots, abandoned ones are swept after a configurable period, and a full disk is a
503 that loses nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.core.local_server import Served, json_call, request, serve

MiB = 1024 * 1024


def _create(client: Any, document: dict[str, Any]) -> Any:
    return client.http.post(
        "/uploads", headers={"Content-Type": "application/json"}, body=json.dumps(document)
    )


def test_a_multipart_upload_past_the_local_limit_is_refused(client: Any) -> None:
    resp = _create(client, {"filename": "big.mp4", "multipart": {"size": 50 * 1024**3}})
    assert resp.status_code == 413
    assert json.loads(resp.body)["error"]["details"]["maxBytes"] == 512 * MiB
    assert (
        _create(client, {"filename": "ok.mp4", "multipart": {"size": 20 * MiB}}).status_code == 201
    )


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Served]:
    env = {"VIDEO_UPLOAD_SLOTS_PER_WORKSPACE": "2", "VIDEO_LOCAL_MAX_UPLOAD_BYTES": str(64 * MiB)}
    with serve(tmp_path, env=env) as running:
        yield running


def test_a_part_declared_larger_than_its_place_gets_413_before_100_continue(
    small: Served,
) -> None:
    with closing(small.connect()) as conn:
        status, upload = json_call(
            conn, "POST", "/uploads", {"filename": "a.mp4", "multipart": {"size": 12 * MiB}}
        )
        assert status == 201
        status, urls = json_call(
            conn, "POST", f"/uploads/{upload['uploadId']}/parts", {"partNumbers": [1]}
        )
        assert status == 200
    url = urls["parts"][0]["url"].removeprefix(small.base)
    with socket.create_connection(("127.0.0.1", small.port), timeout=10) as sock:
        sock.sendall(
            f"PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 5368709120\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert b"100 Continue" not in answer


def test_a_workspace_holds_a_bounded_number_of_unfinished_uploads(small: Served) -> None:
    with closing(small.connect()) as conn:
        first = [json_call(conn, "POST", "/uploads", {"filename": f"{i}.mp4"}) for i in range(2)]
        assert [s for s, _ in first] == [201, 201]
        status, _, raw = request(
            conn,
            "POST",
            "/uploads",
            json.dumps({"filename": "c.mp4"}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 429
        assert json.loads(raw)["error"]["code"] == "TooManyUploads"
        # filling one gives its place back
        path = first[0][1]["uploadUrl"].removeprefix(small.base)
        assert request(conn, "PUT", path, b"data")[0] == 201
        assert json_call(conn, "POST", "/uploads", {"filename": "d.mp4"})[0] == 201


def test_abandoned_slots_are_swept_after_the_configured_period(tmp_path: Path) -> None:
    from chalicelib.api.signing import UrlSigner
    from chalicelib.api.upload_store_local import LocalUploadStore
    from chalicelib.api.uploads import UploadLimits, Uploads
    from chalicelib.config import Settings

    settings = Settings.from_env({"VIDEO_UPLOAD_ABANDONED_SECONDS": "600"})
    limits = UploadLimits.from_settings(settings)
    assert limits.abandoned_seconds == 600
    signer = UrlSigner(b"k" * 32, 60)
    uploads = Uploads(LocalUploadStore(tmp_path, signer), signer, limits)
    old = uploads.create({"filename": "old.mp4"}, "", "ws")
    fresh = uploads.create({"filename": "new.mp4"}, "", "ws")
    old_slot = tmp_path / "ws" / old["uploadId"]
    hour_ago = time.time() - 3600
    os.utime(old_slot, (hour_ago, hour_ago))
    assert uploads.sweep_local() == 1
    assert not old_slot.exists() and (tmp_path / "ws" / fresh["uploadId"]).is_dir()


def _can_mount() -> bool:
    return os.geteuid() == 0 and Path("/proc/filesystems").read_text().count("tmpfs") > 0


@pytest.mark.skipif(not _can_mount(), reason="needs root to mount a small tmpfs")
def test_a_full_disk_answers_503_and_loses_nothing(tmp_path: Path) -> None:
    uploads_dir = tmp_path / "inbox" / "uploads"
    uploads_dir.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(uploads_dir)], check=True)
    try:
        with serve(tmp_path) as served, closing(served.connect()) as conn:
            status, kept = json_call(conn, "POST", "/uploads", {"filename": "kept.mp4"})
            assert status == 201
            assert (
                request(conn, "PUT", kept["uploadUrl"].removeprefix(served.base), b"k" * 1000)[0]
                == 201
            )
            status, big = json_call(conn, "POST", "/uploads", {"filename": "big.mp4"})
            assert status == 201
            path = big["uploadUrl"].removeprefix(served.base)
            status, headers, raw = request(conn, "PUT", path, b"b" * (3 * MiB))
            assert status == 503, raw
            assert json.loads(raw)["error"]["code"] == "InsufficientStorage"
            assert headers["Retry-After"]
            # the first upload is intact, the failed one left nothing behind and is usable again
            kept_file = next(uploads_dir.glob(f"*/{kept['uploadId']}/kept.mp4"))
            assert kept_file.read_bytes() == b"k" * 1000
            big_slot = next(uploads_dir.glob(f"*/{big['uploadId']}"))
            assert not [p.name for p in big_slot.iterdir() if not p.name.startswith(".lock")]
            with closing(served.connect()) as again:  # the refused body closed the first
                assert request(again, "PUT", path, b"small")[0] == 201
    finally:
        subprocess.run(["umount", "-l", str(uploads_dir)], check=False)


def _error(resp: Any) -> dict[str, Any]:
    return dict(json.loads(resp.body)["error"])


def test_bytes_in_flight_per_workspace_are_capped(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.factory import reset_container

    monkeypatch.setenv("VIDEO_UPLOAD_BYTES_PER_WORKSPACE", str(30 * MiB))
    reset_container()
    alone = _create(client, {"filename": "a.mp4", "multipart": {"size": 31 * MiB}})
    assert alone.status_code == 413 and _error(alone)["code"] == "UploadTooLarge"
    first = _create(client, {"filename": "a.mp4", "multipart": {"size": 20 * MiB}})
    assert first.status_code == 201
    over = _create(client, {"filename": "b.mp4", "multipart": {"size": 11 * MiB}})
    assert over.status_code == 429 and over.headers["Retry-After"] == "60"
    error = _error(over)
    assert error["code"] == "TooManyUploadBytes"
    assert error["details"] == {"bytesInFlight": 20 * MiB, "maxBytesInFlight": 30 * MiB}
    fits = _create(client, {"filename": "c.mp4", "multipart": {"size": 10 * MiB}})
    assert fits.status_code == 201
    # aborting frees its bytes
    upload_id = json.loads(first.body)["uploadId"]
    assert client.http.delete(f"/uploads/{upload_id}").status_code == 204
    again = _create(client, {"filename": "b.mp4", "multipart": {"size": 11 * MiB}})
    assert again.status_code == 201


def test_a_single_upload_past_the_bytes_in_flight_gets_429_before_100_continue(
    tmp_path: Path,
) -> None:
    env = {"VIDEO_UPLOAD_BYTES_PER_WORKSPACE": str(16 * MiB)}
    with serve(tmp_path, env=env) as running, closing(running.connect()) as conn:
        status, _ = json_call(
            conn, "POST", "/uploads", {"filename": "a.mp4", "multipart": {"size": 10 * MiB}}
        )
        assert status == 201
        status, target = json_call(conn, "POST", "/uploads", {"filename": "b.mp4"})
        assert status == 201
        url = target["uploadUrl"].removeprefix(running.base)
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(
                f"PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: {7 * MiB}\r\n"
                "Expect: 100-continue\r\n\r\n".encode()
            )
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 429"), answer[:100]
        assert b"100 Continue" not in answer and b"TooManyUploadBytes" in answer
        # what fits is taken
        body = b"x" * (6 * MiB)
        status, _, raw = request(conn, "PUT", url, body, {"Content-Type": "video/mp4"})
        assert status == 201, raw


def test_bytes_in_flight_in_s3_count_the_stored_parts(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.core.backends import open_backend

    monkeypatch.setenv("VIDEO_UPLOAD_BYTES_PER_WORKSPACE", str(8 * MiB))
    for api in open_backend("aws", request, tmp_path, monkeypatch):
        assert (
            api.post("/uploads", {"filename": "a.mp4", "multipart": {"size": 9 * MiB}}).status_code
            == 413
        )
        first = api.post("/uploads", {"filename": "a.mp4", "multipart": {"size": 6 * MiB}})
        assert first.status_code == 201
        s3 = api.container.s3_client()
        (open_upload,) = s3.list_multipart_uploads(Bucket=api.bucket)["Uploads"]
        s3.upload_part(
            Bucket=api.bucket,
            Key=open_upload["Key"],
            UploadId=open_upload["UploadId"],
            PartNumber=1,
            Body=b"x" * (5 * MiB),
        )
        over = api.post("/uploads", {"filename": "b.mp4", "multipart": {"size": 5 * MiB}})
        assert over.status_code == 429, over.body
        assert _error(over)["details"]["bytesInFlight"] == 5 * MiB
        fits = api.post("/uploads", {"filename": "b.mp4", "multipart": {"size": 3 * MiB}})
        assert fits.status_code == 201
        # each part URL is signed with the part's length: S3 refuses any other body size
        upload_id = json.loads(fits.body)["uploadId"]
        parts = api.post(f"/uploads/{upload_id}/parts", {"partNumbers": [1]})
        url = json.loads(parts.body)["parts"][0]["url"]
        assert "X-Amz-SignedHeaders=content-length%3Bhost" in url
