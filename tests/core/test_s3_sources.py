"""AWS mode: which s3:// sources POST /videos accepts, over the API, against moto's server.

The rule set (chalicelib/sources.py) refuses anything but one normalized key under the media
bucket's uploads/ prefix; then one HeadObject makes a missing object a 400 at creation rather
than a failed video later, while an S3 failure there is a 503, not a 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.core.backends import Backend, open_backend


@pytest.fixture
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend("aws", request, tmp_path, monkeypatch)


def create(api: Backend, url: str) -> Any:
    return api.post("/videos", {"title": "t", "sourceUrl": url})


def put(api: Backend, key: str) -> None:
    api.container.s3_client().put_object(Bucket=api.bucket, Key=key, Body=b"video")


@pytest.mark.parametrize(
    "key",
    [
        "uploads/",  # no key
        "uploads",
        "uploads//clip.mp4",
        "uploads/../clip.mp4",  # dot segments, raw
        "uploads/./clip.mp4",
        "uploads/a/../../videos/x/run/video_720p.mp4",
        "uploads/%2e%2e/clip.mp4",  # dot segments, encoded
        "uploads/%2E%2E/clip.mp4",
        "uploads/.%2e/clip.mp4",
        "uploads/%2e/clip.mp4",
        "uploads%2f..%2fclip.mp4",
        "uploads/clip%20one.mp4",  # any escape: the key must be literal
        "uploads/clip.mp4?versionId=3HL4kqtJlcpXroDTDmJ",  # a version or a fragment
        "uploads/clip.mp4?",
        "uploads/clip.mp4#fragment",
        "uploads/clip.mp4#",
        "videos/x/20260101T000000Z-00000000/video_720p.mp4",  # outputs are not sources
    ],
)
def test_malformed_s3_sources_are_400(api: Backend, key: str) -> None:
    # Whatever S3 would make of the key, an object is there, so only the rule can refuse it.
    literal = key.partition("?")[0].partition("#")[0]
    for candidate in (literal, "uploads/clip.mp4"):
        if candidate and not candidate.endswith("/"):
            put(api, candidate)
    resp = create(api, f"s3://{api.bucket}/{key}")
    assert resp.status_code == 400, resp.body
    err = json.loads(resp.body)["error"]
    assert err["details"] == {"field": "sourceUrl", "reason": "UnsupportedSource"}
    assert api.stored_count() == 0


@pytest.mark.parametrize("bucket", ["someone-elses-bucket", "Bad_Bucket", ""])
def test_other_buckets_are_400_and_the_message_names_no_bucket(api: Backend, bucket: str) -> None:
    resp = create(api, f"s3://{bucket}/uploads/clip.mp4")
    assert resp.status_code == 400
    assert api.bucket not in resp.body.decode()


def test_a_missing_source_is_a_400_at_creation(api: Backend) -> None:
    resp = create(api, f"s3://{api.bucket}/uploads/default/never-uploaded/clip.mp4")
    assert resp.status_code == 400, resp.body
    err = json.loads(resp.body)["error"]
    assert err["code"] == "ValidationError"
    assert err["details"] == {"field": "sourceUrl", "reason": "SourceNotFound"}
    assert "sourceUrl" in err["message"] and "does not exist" in err["message"]
    assert api.stored_count() == 0


def test_an_uploaded_source_is_accepted(api: Backend) -> None:
    put(api, "uploads/default/abc/clip.mp4")
    resp = create(api, f"s3://{api.bucket}/uploads/default/abc/clip.mp4")
    assert resp.status_code == 201, resp.body
    assert json.loads(resp.body)["sourceUrl"] == f"s3://{api.bucket}/uploads/default/abc/clip.mp4"


def test_the_presigned_upload_target_is_the_source_to_create_with(api: Backend) -> None:
    import urllib.request

    target = json.loads(api.post("/uploads", {"filename": "demo.mp4"}).body)
    assert create(api, target["sourceUrl"]).status_code == 400  # not uploaded yet
    req = urllib.request.Request(
        target["uploadUrl"], data=b"bytes", method="PUT", headers=target["headers"]
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    assert create(api, target["sourceUrl"]).status_code == 201


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("SlowDown", 503),
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
        ("403", 403),  # a role without GetObject/ListBucket on uploads/: ours to fix, not theirs
    ],
)
def test_an_s3_failure_at_the_check_is_a_503_not_a_400(
    api: Backend, code: str, status: int
) -> None:
    s3 = api.container.s3_client()
    stubber = Stubber(s3)
    stubber.add_client_error(
        "head_object",
        service_error_code=code,
        service_message=f"arn:aws:s3:::{api.bucket} internal detail",
        http_status_code=status,
    )
    with stubber:
        resp = create(api, f"s3://{api.bucket}/uploads/default/x/clip.mp4")
    assert resp.status_code == 503, resp.body
    err = json.loads(resp.body)["error"]
    assert err["code"] == "DependencyUnavailable"
    assert api.bucket not in resp.body.decode() and "arn:" not in resp.body.decode()
    assert api.stored_count() == 0
    stubber.assert_no_pending_responses()


def test_s3_unreachable_at_the_check_is_a_503(api: Backend) -> None:
    import boto3
    from botocore.config import Config

    from tests.conftest import free_port, install_container

    dead = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )
    api.container = install_container(s3=dead)
    resp = create(api, f"s3://{api.bucket}/uploads/default/x/clip.mp4")
    assert resp.status_code == 503, resp.body
    assert json.loads(resp.body)["error"]["code"] == "DependencyUnavailable"
    assert api.stored_count() == 0
