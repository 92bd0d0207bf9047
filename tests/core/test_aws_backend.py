"""AWS mode against an emulator, configured the way an operator would: only `AWS_ENDPOINT_URL`
(boto3's standard variable, honoured by every client the app builds) and the `VIDEO_*`
variables. Nothing is handed to the app's container: it builds itself from the environment on
the first request, exactly as in a deployment.

moto's server stands in for DynamoDB, S3 and Step Functions (the committed state machine, its
function ARNs filled with dummies: moto records executions without running them).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import with_token
from tests.core.backends import JSON, NO_STAGE, aws_environment, drop_aws_resources


@pytest.fixture
def emulator(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    import boto3

    from chalicelib.factory import reset_container
    from workflow.substitute import DEFINITION_PATH, function_substitutions, substitute

    table, bucket = aws_environment(monkeypatch, moto_endpoint, tmp_path)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:video-{}"
    definition = substitute(
        DEFINITION_PATH.read_text(),
        function_substitutions({k: arn.format(k) for k in ("scaler", "processor", "finalizer")}),
    )
    sfn = boto3.client("stepfunctions")  # also found through AWS_ENDPOINT_URL alone
    machine = sfn.create_state_machine(
        name=f"videos-{uuid.uuid4().hex[:8]}",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/video-workflow",
    )["stateMachineArn"]
    monkeypatch.setenv("VIDEO_STATE_MACHINE_ARN", machine)
    reset_container()  # the app builds its own container from the environment
    try:
        yield {"table": table, "bucket": bucket, "machine": machine, "endpoint": moto_endpoint}
    finally:
        reset_container()
        sfn.delete_state_machine(stateMachineArn=machine)
        drop_aws_resources(table, bucket)


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def test_the_api_in_aws_mode_on_an_emulator_through_the_environment_only(
    emulator: dict[str, str],
) -> None:
    import boto3
    from chalice.test import Client

    from app import app
    from chalicelib.factory import container

    with Client(app, stage_name=NO_STAGE) as raw_client:
        client = with_token(raw_client)
        health = body(client.http.get("/health"))
        assert (health["status"], health["backend"]) == ("healthy", "dynamodb")

        # an upload target: a presigned PUT on the emulator's S3
        resp = client.http.post(
            "/uploads",
            headers=JSON,
            body=json.dumps({"filename": "demo.mp4", "contentType": "video/mp4"}).encode(),
        )
        assert resp.status_code == 201, resp.body
        target = body(resp)
        assert target["uploadUrl"].startswith(f"{emulator['endpoint']}/{emulator['bucket']}/")
        assert target["sourceUrl"].startswith(f"s3://{emulator['bucket']}/uploads/")
        put = urllib.request.Request(
            target["uploadUrl"], data=b"video bytes", method="PUT", headers=target["headers"]
        )
        with urllib.request.urlopen(put, timeout=30) as uploaded:
            assert uploaded.status == 200

        # create (the HeadObject finds the upload) -> get -> list
        resp = client.http.post(
            "/videos",
            headers=JSON,
            body=json.dumps({"title": "Demo", "sourceUrl": target["sourceUrl"]}).encode(),
        )
        assert resp.status_code == 201, resp.body
        created = body(resp)
        vid = created["id"]
        assert body(client.http.get(f"/videos/{vid}")) == created
        listed = body(client.http.get("/videos"))
        assert [v["id"] for v in listed["videos"]] == [vid]
        assert body(client.http.get("/videos?status=uploaded"))["count"] == 1

        # process: one execution started on the emulator's Step Functions
        resp = client.http.post(f"/videos/{vid}/process")
        assert resp.status_code == 202, resp.body
        arn = body(resp)["executionArn"]
        name = arn.rsplit(":", 1)[1]
        assert arn.startswith(emulator["machine"].replace(":stateMachine:", ":execution:"))
        started = boto3.client("stepfunctions").describe_execution(executionArn=arn)
        assert json.loads(started["input"]) == {"videoIds": [vid]}
        item = body(client.http.get(f"/videos/{vid}"))
        assert (item["status"], item["executionName"]) == ("queued", name)
        execution = body(client.http.get(f"/executions/{name}"))
        assert (execution["name"], execution["executionArn"]) == (name, arn)
        assert execution["status"] in ("RUNNING", "SUCCEEDED")

    # what it ran on: the items are in the emulator's table, built from the environment alone
    built = container()
    assert (built.settings.table_name, built.settings.bucket) == (
        emulator["table"],
        emulator["bucket"],
    )
    raw = boto3.client("dynamodb").get_item(TableName=emulator["table"], Key={"id": {"S": vid}})
    assert raw["Item"]["status"] == {"S": "queued"}


def test_presigned_media_urls_live_as_long_as_configured(
    emulator: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One URL lifetime, as documented: VIDEO_SIGNED_URL_SECONDS (1 h by default), not the SigV4
    maximum of 7 days the S3 store used to default to."""
    from urllib.parse import parse_qs, urlsplit

    from chalicelib.factory import container, reset_container

    run_id = "20261202T120000Z-abcdef01"
    default = container().media_store().url("a" * 22, run_id, "poster.jpg")
    assert parse_qs(urlsplit(default).query)["X-Amz-Expires"] == ["3600"]

    monkeypatch.setenv("VIDEO_SIGNED_URL_SECONDS", "900")
    reset_container()
    configured = container().media_store().url("a" * 22, run_id, "poster.jpg")
    assert parse_qs(urlsplit(configured).query)["X-Amz-Expires"] == ["900"]
