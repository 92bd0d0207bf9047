"""The `chalice deploy` path: stages, least-privilege policy files, and a package that builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT

CHALICE_DIR = ROOT / ".chalice"
FUNCTIONS = ("processor", "scaler", "finalizer")


def _config() -> dict[str, Any]:
    return json.loads((CHALICE_DIR / "config.json").read_text())


def _policy(name: str) -> dict[str, Any]:
    return json.loads((CHALICE_DIR / name).read_text())


def _actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in s["Action"]}


def test_stages_local_dev_prod() -> None:
    config = _config()
    assert config["app_name"] == "video-service"
    stages = config["stages"]
    assert stages["local"]["environment_variables"]["VIDEO_BACKEND"] == "local"
    for name in ("dev", "prod"):
        stage = stages[name]
        assert stage["autogen_policy"] is False
        assert stage["environment_variables"]["VIDEO_BACKEND"] == "aws"
        assert stage["environment_variables"]["VIDEO_TABLE"] == f"video-service-{name}"
        assert set(stage["lambda_functions"]) == set(FUNCTIONS)
        for function, settings in stage["lambda_functions"].items():
            assert (CHALICE_DIR / settings["iam_policy_file"]).is_file(), function


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policies_grant_only_the_contract(stage: str) -> None:
    logs = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert _actions(_policy(f"policy-{stage}.json")) == logs | {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "s3:GetObject",
        "s3:PutObject",  # POST /uploads presigns PUTs under uploads/
        "states:StartExecution",
        "states:DescribeExecution",
    }
    (uploads,) = [
        s for s in _policy(f"policy-{stage}.json")["Statement"] if s["Sid"] == "PresignUploads"
    ]
    assert uploads["Resource"].endswith("/uploads/*")
    assert _actions(_policy(f"policy-{stage}-processor.json")) == logs | {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    }
    scaler = _policy(f"policy-{stage}-scaler.json")
    assert _actions(scaler) == logs | {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "lambda:PutFunctionScalingConfig",
        "lambda:GetFunctionScalingConfig",
    }
    (scaling,) = [s for s in scaler["Statement"] if s["Sid"] == "ScaleProcessor"]
    assert scaling["Resource"].endswith(
        f":function:video-service-{stage}-processor:$LATEST.PUBLISHED"
    )
    assert _actions(_policy(f"policy-{stage}-finalizer.json")) == logs | {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    }
    for path in CHALICE_DIR.glob(f"policy-{stage}*.json"):
        for statement in _policy(path.name)["Statement"]:
            assert statement["Resource"] != "*", path.name


def test_chalice_package_builds_the_dev_stage(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).parent / "chalice"
    result = subprocess.run(
        [str(chalice), "package", "--stage", "dev", str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((tmp_path / "out" / "sam.json").read_text())
    handlers = {
        r["Properties"]["Handler"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert handlers == {"app.app", "app.processor", "app.scaler", "app.finalizer"}
