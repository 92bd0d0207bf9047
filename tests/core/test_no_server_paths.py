"""No response carries the server's absolute paths (issue 28: a local upload's `sourceUrl` was
`file:///…/inbox/uploads/…`). On both backends: uploads (single and multipart), creation,
reads, lists, refusals, the service documents; and an older item stored with the `file://` form
of an upload is shown in its `upload://` form and can still be processed from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.core.backends import Backend, open_backend

MiB = 1024 * 1024


@pytest.fixture(params=["local", "aws"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend(request.param, request, tmp_path, monkeypatch)


class Recorder:
    """Every response body the test sees, to search for server paths at the end."""

    def __init__(self, api: Backend) -> None:
        self.api = api
        self.bodies: list[tuple[str, str]] = []

    def call(self, method: str, path: str, payload: Any = None, raw: bytes | None = None) -> Any:
        headers = {"content-type": "application/json"}
        data = raw if raw is not None else (None if payload is None else json.dumps(payload))
        resp = getattr(self.api.client.http, method.lower())(path, headers=headers, body=data)
        self.bodies.append((f"{method} {path}", resp.body.decode("utf-8", "replace")))
        return resp

    def json(self, method: str, path: str, payload: Any = None, status: int = 200) -> Any:
        resp = self.call(method, path, payload)
        assert resp.status_code == status, (method, path, resp.status_code, resp.body)
        return json.loads(resp.body)


def _upload_single(rec: Recorder) -> str:
    target = rec.json("POST", "/uploads", {"filename": "clip.mp4"}, 201)
    if rec.api.name == "local":
        url = urlsplit(target["uploadUrl"])
        put = rec.call("PUT", f"{url.path}?{url.query}", raw=b"not a video, stored whole")
        assert put.status_code == 201, put.body
        assert json.loads(put.body)["sourceUrl"] == target["sourceUrl"]
    else:  # a presigned S3 PUT: the object is put the way the client would
        bucket, _, key = target["sourceUrl"].removeprefix("s3://").partition("/")
        rec.api.container.s3_client().put_object(Bucket=bucket, Key=key, Body=b"video")
    return str(target["sourceUrl"])


def _upload_multipart(rec: Recorder) -> str:
    upload = rec.json(
        "POST", "/uploads", {"filename": "big.mp4", "multipart": {"size": 6 * MiB}}, 201
    )
    if rec.api.name != "local":
        return str(upload["sourceUrl"])  # S3's own multipart protocol: its tests elsewhere
    numbers = {"partNumbers": list(range(1, upload["partCount"] + 1))}
    parts = rec.json("POST", f"/uploads/{upload['uploadId']}/parts", numbers)["parts"]
    left = 6 * MiB
    for part in parts:
        url = urlsplit(part["url"])
        size = min(left, upload["partSize"])
        left -= size
        resp = rec.call("PUT", f"{url.path}?{url.query}", raw=b"x" * size)
        assert resp.status_code == 200, resp.body
    done = rec.json("POST", f"/uploads/{upload['uploadId']}/complete")
    rec.json("GET", f"/uploads/{upload['uploadId']}")
    assert done["sourceUrl"] == upload["sourceUrl"]
    return str(done["sourceUrl"])


def test_no_response_carries_the_data_dir(api: Backend) -> None:
    rec = Recorder(api)
    single = _upload_single(rec)
    multi = _upload_multipart(rec)
    if api.name == "local":
        assert single.startswith("upload://default/") and multi.startswith("upload://default/")
    created = rec.json("POST", "/videos", {"title": "t", "sourceUrl": single}, 201)
    assert created["sourceUrl"] == single
    rec.json("GET", f"/videos/{created['id']}")
    rec.json("GET", "/videos")
    assert rec.call("GET", f"/videos/{created['id']}/events?wait=0").status_code == 200
    # refusals: outside the roots, a missing upload, another scheme
    outside = rec.call("POST", "/videos", {"title": "t", "sourceUrl": "file:///etc/hostname"})
    assert outside.status_code == 400
    missing = single.rsplit("/", 1)[0] + "/other.mp4"
    assert rec.call("POST", "/videos", {"title": "t", "sourceUrl": missing}).status_code == 400
    for path in ("/health", "/capacity", "/openapi.json", "/usage"):
        # /capacity in AWS mode asks Lambda, which this emulator has not: a 503 (checked too)
        assert rec.call("GET", path).status_code in (200, 503), path
    data_dir = str(api.data_dir)
    leaks = [where for where, text in rec.bodies if data_dir in text]
    # no file:// URL either (the OpenAPI document names the scheme in its prose)
    leaks += [w for w, text in rec.bodies if "file:///" in text and "openapi" not in w]
    assert not leaks, leaks


@pytest.mark.parametrize("api", ["local"], indirect=True)  # file:// sources: local backend only
def test_an_older_upload_source_is_shown_relative_and_still_accepted(api: Backend) -> None:
    rec = Recorder(api)
    source = _upload_single(rec)
    workspace, slot, name = source.removeprefix("upload://").split("/")
    old = f"file://{api.data_dir}/inbox/uploads/{workspace}/{slot}/{name}"
    created = rec.json("POST", "/videos", {"title": "older", "sourceUrl": old}, 201)
    assert created["sourceUrl"] == source  # shown relative; stored as given
    assert api.store.get(created["id"])["sourceUrl"] == old
    assert rec.json("GET", f"/videos/{created['id']}")["sourceUrl"] == source
    # the processor reads either form
    from chalicelib.media.fetch import read_location

    roots = api.container.settings.source_roots
    assert read_location(old, source_roots=roots) == read_location(source, source_roots=roots)
    assert Path(read_location(source, source_roots=roots)).read_bytes().startswith(b"not a")


@pytest.mark.parametrize(
    "bad",
    [
        "upload://default/../x/clip.mp4",
        "upload://default/abc/../../clip.mp4",
        "upload://default/abc/clip.mp4?x=1",
        "upload://../abc/clip.mp4",
        "upload://default/abc/%2E%2E",
        "upload://default/abc/a%2Fb",
        "upload:///abc/clip.mp4",
    ],
)
def test_malformed_upload_sources_are_400(api: Backend, bad: str) -> None:
    resp = api.post("/videos", {"title": "t", "sourceUrl": bad})
    assert resp.status_code == 400, (bad, resp.body)
