"""The API on either backend, for tests that must hold on both.

`open_backend("local", ...)`: SQLite and a local media directory on a temp data dir.
`open_backend("aws", ...)`: DynamoDB and S3 on moto's server, reached the way a deployment
against an emulator reaches them: only through `AWS_ENDPOINT_URL` and the `VIDEO_*` variables
(no endpoint is handed to any client). Both get a recording orchestrator unless told otherwise.

A test module opts in with a parametrized fixture of its own:

    @pytest.fixture(params=["local", "aws"])
    def api(request, tmp_path, monkeypatch):
        yield from open_backend(request.param, request, tmp_path, monkeypatch)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, create_video_table, install_container, with_token
from tests.core.test_api import RecordingOrchestrator

JSON = {"content-type": "application/json"}
# A Chalice stage that is not in .chalice/config.json: the test client adds no variables.
NO_STAGE = "emulator"


@dataclass
class Backend:
    name: str
    client: Any
    container: Any
    orchestrator: RecordingOrchestrator | None
    data_dir: Path
    bucket: str = ""
    table: str = ""

    @property
    def store(self) -> Any:
        return self.container.store

    def source(self, name: str = "clip.mp4") -> str:
        """A sourceUrl this backend accepts: a file in the inbox, or an uploaded S3 object."""
        if self.name == "local":
            path = self.data_dir / "inbox" / name
            path.write_bytes(b"not really a video; the API does not read it")
            return f"file://{path}"
        key = f"uploads/default/{uuid.uuid4().hex}/{name}"
        self.container.s3_client().put_object(Bucket=self.bucket, Key=key, Body=b"video")
        return f"s3://{self.bucket}/{key}"

    def post(self, path: str, payload: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(payload).encode()
        return self.client.http.post(path, headers=JSON, body=data)

    def create(self, **fields: Any) -> dict[str, Any]:
        resp = self.post("/videos", {"title": "t", "sourceUrl": self.source(), **fields})
        assert resp.status_code == 201, resp.body
        item: dict[str, Any] = json.loads(resp.body)
        return item

    def get(self, path: str) -> Any:
        return self.client.http.get(path)

    def stored_count(self) -> int:
        return len(self.store.list(None, 100, None, workspace="default").items)


def aws_environment(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, data_dir: Path
) -> tuple[str, str]:
    """AWS mode on the emulator at `endpoint`: the environment a deployment would set, plus a
    fresh table and bucket created through clients that also know only the environment."""
    import boto3

    suffix = uuid.uuid4().hex[:8]
    table, bucket = f"videos-{suffix}", f"media-{suffix}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("VIDEO_BACKEND", "aws")
    monkeypatch.setenv("VIDEO_TABLE", table)
    monkeypatch.setenv("VIDEO_BUCKET", bucket)
    monkeypatch.setenv("VIDEO_CURSOR_SECRET", "test-secret")
    monkeypatch.setenv("VIDEO_ADMIN_TOKEN", ADMIN_TOKEN)  # as a deployment configures one
    monkeypatch.setenv("VIDEO_DATA_DIR", str(data_dir))
    monkeypatch.delenv("VIDEO_SOURCE_ROOTS", raising=False)
    create_video_table(boto3.client("dynamodb"), table)
    boto3.client("s3").create_bucket(Bucket=bucket)
    return table, bucket


def open_backend(
    name: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    orchestrator: Any = None,
) -> Iterator[Backend]:
    """The app's container on `name`'s backend (installed process-wide), and a test client."""
    from chalice.test import Client

    from app import app
    from chalicelib.factory import reset_container

    data_dir = tmp_path / "data"
    (data_dir / "inbox").mkdir(parents=True)
    table = bucket = ""
    if name == "aws":
        table, bucket = aws_environment(
            monkeypatch, request.getfixturevalue("moto_endpoint"), data_dir
        )
    else:
        monkeypatch.setenv("VIDEO_BACKEND", "local")
        monkeypatch.setenv("VIDEO_DATA_DIR", str(data_dir))
        monkeypatch.delenv("VIDEO_SOURCE_ROOTS", raising=False)
        monkeypatch.delenv("VIDEO_BUCKET", raising=False)
        monkeypatch.setenv("VIDEO_LOCAL_WAIT_SECONDS", "0")
    monkeypatch.setenv("VIDEO_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("VIDEO_RATE_LIMIT_PER_SECOND", "0")
    recording = RecordingOrchestrator() if orchestrator is None else None
    built = install_container(orchestrator=orchestrator or recording)
    try:
        with Client(app, stage_name="local" if name == "local" else NO_STAGE) as client:
            yield Backend(name, with_token(client), built, recording, data_dir, bucket, table)
    finally:
        reset_container()
        if name == "aws":
            drop_aws_resources(table, bucket)


def drop_aws_resources(table: str, bucket: str) -> None:
    """Keep the session's moto server small: it holds every table and bucket in memory."""
    import boto3

    boto3.client("dynamodb").delete_table(TableName=table)
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
