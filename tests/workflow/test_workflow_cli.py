"""`python -m workflow create/update/execute`: the SDK's Workflow against a mocked account."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from workflow.__main__ import main

ARNS = [
    "--scaler-arn",
    "arn:aws:lambda:us-east-1:123456789012:function:scaler",
    "--processor-arn",
    "arn:aws:lambda:us-east-1:123456789012:function:processor",
    "--finalizer-arn",
    "arn:aws:lambda:us-east-1:123456789012:function:finalizer",
]
ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def account() -> Iterator[None]:
    with mock_aws():
        yield


def test_create_update_execute(account: None, capsys: pytest.CaptureFixture[str]) -> None:
    create = ["create", "--name", "videos", "--role-arn", ROLE, "--region", "us-east-1", *ARNS]
    assert main(create) == 0
    arn = capsys.readouterr().out.strip()
    client = boto3.client("stepfunctions", region_name="us-east-1")
    deployed = json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"])
    assert deployed["States"]["AcquireCapacity"]["Resource"].endswith(":function:scaler")
    assert "${" not in json.dumps(deployed)

    assert main(create) == 1  # never silently keeps an old definition
    assert "use update" in capsys.readouterr().out

    new_arns = [a.replace(":function:processor", ":function:processor:live") for a in ARNS]
    update = ["update", "--state-machine-arn", arn, "--region", "us-east-1", *new_arns]
    assert main(update) == 0
    deployed = json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"])
    item = deployed["States"]["ProcessVideos"]["Iterator"]["States"]["ProcessVideo"]
    assert item["Resource"].endswith(":function:processor:live")

    execute = ["execute", "--state-machine-arn", arn, "--region", "us-east-1", "v1", "v2"]
    assert main(execute) == 0
    execution_arn = capsys.readouterr().out.strip().splitlines()[-1]
    started = client.describe_execution(executionArn=execution_arn)
    assert json.loads(started["input"]) == {"videoIds": ["v1", "v2"]}
