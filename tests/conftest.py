"""Shared fixtures: a local app on a temp data dir, and moto's server for DynamoDB."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never talk to AWS: fake credentials and a region for every boto3 client.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on loopback: real HTTP, real boto3 protocol."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "moto_server_serial.py"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def create_video_table(client: Any, name: str) -> None:
    """The table as CDK declares it: `id` key, StatusIndex, CreatedIndex, WorkspaceStatusIndex."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"}
            for n in ("id", "status", "createdAt", "entity", "wsStatus")
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, pk in (
                ("StatusIndex", "status"),
                ("CreatedIndex", "entity"),
                ("WorkspaceStatusIndex", "wsStatus"),
            )
        ],
    )


@pytest.fixture
def dynamodb(moto_endpoint: str) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "inbox").mkdir()
    return tmp_path


@pytest.fixture
def local_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app's process-wide container, rebuilt on a fresh local data dir."""
    from chalicelib.factory import reset_container

    monkeypatch.setenv("VIDEO_BACKEND", "local")
    monkeypatch.setenv("VIDEO_DATA_DIR", str(data_dir))
    monkeypatch.delenv("VIDEO_SOURCE_ROOTS", raising=False)
    monkeypatch.setenv("VIDEO_LOCAL_WAIT_SECONDS", "0")
    monkeypatch.setenv("VIDEO_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("VIDEO_RATE_LIMIT_PER_SECOND", "0")  # the limiter has its own tests
    reset_container()
    yield data_dir
    reset_container()


ADMIN_TOKEN = "test-operator-token-0123456789abcdef"


def with_token(test_client: Any, token: str | None = ADMIN_TOKEN) -> Any:
    """Make a chalice test client send `Authorization: Bearer <token>` on every request that
    does not set the header itself (an empty value sends none)."""
    send = test_client.http.request

    def request(
        method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Any:
        headers = dict(headers or {})
        if "Authorization" not in headers and token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if headers.get("Authorization") == "":
            del headers["Authorization"]
        return send(method, path, headers=headers, body=body)

    test_client.http.request = request
    return test_client


def install_container(**overrides: Any) -> Any:
    """Make the app's container one built from the environment with `overrides` handed in
    through its constructor (a fake orchestrator, a pool, cursors with a clock, ...)."""
    from chalicelib.config import Settings
    from chalicelib.factory import Container, use_container

    built = Container(Settings.from_env(), **overrides)
    use_container(built)
    return built


@pytest.fixture
def client(local_env: Path) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as c:
        yield with_token(c)


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> tuple[Any, str]:
    """A SigV4 S3 client on moto's server and a fresh bucket in it."""
    import uuid

    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )
    bucket = f"media-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return s3, bucket


def uploaded_file(source_url: str, data_dir: Path) -> Path:
    """The file a local upload's `sourceUrl` (`upload://workspace/id/name`) names, on a data
    dir whose source root is the default `{data_dir}/inbox`."""
    from chalicelib.sources import local_source_path

    assert source_url.startswith("upload://"), source_url  # never a server path
    return Path(local_source_path(source_url, [data_dir / "inbox"]))
