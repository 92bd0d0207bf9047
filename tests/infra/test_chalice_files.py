"""The Chalice path's policies and table come from the CDK stack's definitions (access.py,
table_schema.py): the committed files are exactly the generated ones, and they grant what the
code needs (the rehearsal's findings, evaluated on the Chalice names)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from video_infra import chalice_files, table_schema

from rehearsal.policy import Policy, Request
from tests.infra.conftest import ROOT, Synthesized


def test_the_committed_chalice_files_are_the_generated_ones() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in chalice_files.rendered().items()
        if not path.is_file() or path.read_text() != text
    ]
    assert not stale, f"run `make chalice-files`: {stale}"
    assert chalice_files.main([]) == 0


def _policy(stage: str, key: str) -> Policy:
    path = chalice_files.CHALICE_DIR / chalice_files.policy_file(stage, key)
    return Policy.from_documents([json.loads(path.read_text())])


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_chalice_policies_grant_what_the_code_needs(stage: str) -> None:
    table = f"arn:aws:dynamodb:us-east-1:123456789012:table/video-service-{stage}"
    bucket = f"arn:aws:s3:::video-service-{stage}-media"
    api, processor = _policy(stage, "api"), _policy(stage, "processor")
    # GET /videos?status= and POST /videos/{id}/process query WorkspaceStatusIndex
    assert api.allows(Request("dynamodb:Query", f"{table}/index/WorkspaceStatusIndex"))
    # segmented runs keep their scratch under work/
    run = f"{bucket}/work/v/20261202T000000Z-abcd1234"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert processor.allows(Request(action, f"{run}/plan.json")), action
    assert processor.allows(Request("s3:ListBucket", bucket, {"s3:prefix": "work/v/"}))
    assert not api.allows(Request("s3:GetObject", f"{run}/plan.json"))
    scaling = f"arn:aws:lambda:us-east-1:1:function:video-service-{stage}-processor"
    assert _policy(stage, "scaler").allows(
        Request("lambda:PutFunctionScalingConfig", f"{scaling}:$LATEST.PUBLISHED")
    )
    assert not api.allows(
        Request("lambda:PutFunctionScalingConfig", f"{scaling}:$LATEST.PUBLISHED")
    )
    for key in chalice_files.CHALICE_FUNCTIONS:
        for grant in _policy(stage, key).grants():
            assert grant.resource != "*", (key, grant)


def _indexes(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        gsi["IndexName"]: (gsi["KeySchema"], gsi["Projection"])
        for gsi in properties["GlobalSecondaryIndexes"]
    }


def test_the_create_table_input_is_the_stacks_table(synth: Synthesized) -> None:
    _, table = synth.resource("AWS::DynamoDB::Table", "VideoTable")
    cdk = table["Properties"]
    for stage in ("dev", "prod"):
        path = chalice_files.CHALICE_DIR / f"table-{stage}.json"
        chalice = json.loads(path.read_text())
        assert chalice["TableName"] == f"video-service-{stage}"
        assert _indexes(chalice) == _indexes(cdk)
        assert "WorkspaceStatusIndex" in _indexes(chalice)
        assert chalice["KeySchema"] == cdk["KeySchema"]
        assert sorted(map(json.dumps, chalice["AttributeDefinitions"])) == sorted(
            map(json.dumps, cdk["AttributeDefinitions"])
        )
        assert (
            chalice["StreamSpecification"]["StreamViewType"]
            == (cdk["StreamSpecification"]["StreamViewType"])
        )
    assert cdk["TimeToLiveSpecification"]["AttributeName"] == table_schema.TTL_ATTRIBUTE
