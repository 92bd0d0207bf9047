"""`make run`'s server (devserver/) in a subprocess, on the local backend or on the AWS code
path against moto's server, for the contract tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ADMIN_TOKEN, ROOT, create_video_table, free_port, wait_for_port

SIGNING_SECRET = "contract-signing-secret-0123456789abcdef"


@dataclass
class Server:
    base: str
    data: Path
    source_url: str  # a source this backend accepts, for POST /videos
    env: dict[str, str] = field(default_factory=dict)


@contextmanager
def serve(data: Path, env: dict[str, str], source_url: str) -> Iterator[Server]:
    port = free_port()
    # the caller's shell must not choose the roots or the public origin (the dev server defaults
    # that to its bind address); `env` still may
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("VIDEO_SOURCE_ROOTS", "VIDEO_PUBLIC_URL")
    }
    full = {
        **inherited,
        "VIDEO_DATA_DIR": str(data),
        "VIDEO_ADMIN_TOKEN": ADMIN_TOKEN,
        "VIDEO_SIGNING_SECRET": SIGNING_SECRET,
        "VIDEO_RATE_LIMIT_PER_SECOND": "0",
        "VIDEO_SSE_WAIT_SECONDS": "1",  # the events route answers within a second
        **env,
    }
    with (data / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "devserver"), "--port", str(port)],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=60)
        yield Server(f"http://127.0.0.1:{port}", data, source_url, full)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def local_server(data: Path) -> Iterator[Server]:
    inbox = data / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    seed = inbox / "seed.mp4"
    seed.write_bytes(b"not a video: processing it fails fast, as it should")
    with serve(data, {"VIDEO_BACKEND": "local"}, f"file://{seed}") as server:
        yield server


@contextmanager
def aws_server(data: Path, endpoint: str) -> Iterator[Server]:
    """The AWS code path (DynamoDB, S3 and its presigned URLs, Step Functions) on moto's server:
    a fresh table, bucket and state machine (moto records executions without running their
    Lambda tasks), reached only through AWS_ENDPOINT_URL, as a deployment on an emulator."""
    import boto3

    from workflow.substitute import DEFINITION_PATH, function_substitutions, substitute

    data.mkdir(parents=True, exist_ok=True)
    suffix = uuid.uuid4().hex[:8]
    table, bucket = f"videos-{suffix}", f"media-{suffix}"
    region = "us-east-1"
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name=region)
    create_video_table(dynamodb, table)
    s3.create_bucket(Bucket=bucket)
    key = "uploads/default/seed0000000000000000000/seed.mp4"
    s3.put_object(Bucket=bucket, Key=key, Body=b"not a video")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:video-{}"
    definition = substitute(
        DEFINITION_PATH.read_text(),
        function_substitutions({k: arn.format(k) for k in ("scaler", "processor", "finalizer")}),
    )
    machine = sfn.create_state_machine(
        name=f"videos-{suffix}",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/video-workflow",
    )["stateMachineArn"]
    env = {
        "VIDEO_BACKEND": "aws",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "VIDEO_TABLE": table,
        "VIDEO_BUCKET": bucket,
        "VIDEO_STATE_MACHINE_ARN": machine,
        "VIDEO_PROCESSOR_FUNCTION": "video-processor",
        "VIDEO_CURSOR_SECRET": "contract-cursor-secret",
    }
    try:
        with serve(data, env, f"s3://{bucket}/{key}") as server:
            yield server
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)
        dynamodb.delete_table(TableName=table)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        s3.delete_bucket(Bucket=bucket)
