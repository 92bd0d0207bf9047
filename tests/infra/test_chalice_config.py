"""The `chalice deploy` path: stages, least-privilege policy files, and a package that builds."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chalice.config import Config

from chalicelib import config as settings_module
from chalicelib.config import Settings
from tests.infra.conftest import ROOT, Synthesized

CHALICE_DIR = ROOT / ".chalice"
FUNCTIONS = ("processor", "scaler", "finalizer", "dispatcher", "renderer")
DEPLOYED_STAGES = ("dev", "prod")

# Which settings (fields of chalicelib.config.Settings) each function's code path reads in AWS
# mode and has no default that works there, and why. The variable behind each field is found by
# asking Settings.from_env (`_variable_of`), so a renamed variable cannot slip past this table.
REQUIRED_SETTINGS: dict[str, dict[str, str]] = {
    "api": {
        "backend": "the default, local, is SQLite inside the read-only code directory",
        "table_name": "the video store (and the capacity leases GET /capacity lists)",
        "bucket": "presigned media URLs, POST /uploads, s3:// source validation",
        "state_machine_arn": "POST /videos/{id}/process and /videos/process start executions",
        "cursor_secret_arn": "page cursors; without it they are keyed on the table name alone",
        "processor_function": "GET /capacity reads the processor's scaling config",
        "admin_token_secret_arn": "the operator's admin token",
        "signing_secret_arn": "signed media/stream URLs (else derived from the admin token)",
        "renderer_function": "images on demand are rendered by invoking it",
    },
    "renderer": {
        "backend": "as for the API",
        "bucket": "reads the top rendition and writes the render under videos/",
    },
    "processor": {
        "backend": "as for the API",
        "table_name": "status and results of the video",
        "bucket": "reads the source under uploads/, writes outputs under videos/",
        "max_duration_seconds": "the default (3 h) is beyond what the Lambda timeout allows",
        "data_dir": "the default (.data in the code directory) is read-only; the model lives there",
    },
    "scaler": {
        "backend": "as for the API",
        "table_name": "the capacity leases",
        "processor_function": "the function whose scaling config it sets",
        "scale_min": "what the deployment sized the processor's capacity provider for",
        "scale_max": "what the deployment sized the processor's capacity provider for",
    },
    "finalizer": {
        "backend": "as for the API",
        "table_name": "marks the batch's unfinished videos failed",
    },
    "dispatcher": {
        "backend": "as for the API",
        "table_name": "the outbox, webhooks and deliveries",
        "bucket": "presigned media URLs in event bodies",
        "event_bus": "every event also goes on the EventBridge bus",
        "signing_secret_arn": "the URL-signing key (stream URLs in event bodies)",
        "public_base_url": "the API's origin for stream URLs (no request to take it from)",
    },
}
# The same functions as named by `chalice deploy` and by the CDK stack (logical ID prefix).
CHALICE_NAMES = {
    "api": "api_handler",
    "processor": "processor",
    "scaler": "scaler",
    "finalizer": "finalizer",
    "dispatcher": "dispatcher",
    "renderer": "renderer",
}
CDK_NAMES = {
    "api": "ApiFunction",
    "processor": "ProcessorFunction",
    "scaler": "ScalerFunction",
    "finalizer": "FinalizerFunction",
    "dispatcher": "DispatcherFunction",
    "renderer": "RendererFunction",
}
HANDLERS = {
    "app.app": "api",
    "app.processor": "processor",
    "app.scaler": "scaler",
    "app.finalizer": "finalizer",
    "app.dispatcher": "dispatcher",
    "app.renderer": "renderer",
}


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
        # api_handler is Chalice's name for the API function: only its own environment there
        assert set(stage["lambda_functions"]) == {"api_handler", *FUNCTIONS}
        assert (CHALICE_DIR / stage["iam_policy_file"]).is_file()
        for function in FUNCTIONS:
            policy_file = stage["lambda_functions"][function]["iam_policy_file"]
            assert (CHALICE_DIR / policy_file).is_file(), function


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
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    assert sorted(f["Handler"] for f in functions) == sorted(HANDLERS)
    # What chalice really packages: each function with its own variables, none missing.
    for function in functions:
        role = HANDLERS[function["Handler"]]
        variables = function["Environment"]["Variables"]
        assert _required_variables(role) <= set(variables), role
        assert set(variables) == set(_chalice_environment("dev", role)), role


# --- every function's environment holds what its code reads --------------------------------------
def _chalice_environment(stage: str, role: str) -> dict[str, str]:
    """A function's variables as `chalice deploy` merges them (top level, stage, function)."""
    config = Config(
        chalice_stage=stage, function_name=CHALICE_NAMES[role], config_from_disk=_config()
    )
    return {k: v for k, v in config.environment_variables.items() if k.startswith("VIDEO_")}


def _cdk_environment(synth: Synthesized, role: str) -> dict[str, Any]:
    _, function = synth.resource("AWS::Lambda::Function", CDK_NAMES[role])
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return {k: v for k, v in variables.items() if k.startswith("VIDEO_")}


def _variable_of() -> dict[str, str]:
    """Settings field -> the one VIDEO_* variable that sets it, found by asking
    Settings.from_env: each candidate name (those config.py mentions, and those either deploy
    path sets) is set on its own and the fields it changes are noted."""
    names = set(re.findall(r"\bVIDEO_[A-Z0-9_]+\b", Path(settings_module.__file__).read_text()))
    for stage in DEPLOYED_STAGES:
        for role in CHALICE_NAMES:
            names |= set(_chalice_environment(stage, role))
    base_env = {"VIDEO_BACKEND": "aws"}
    base = Settings.from_env(base_env)
    setters: dict[str, set[str]] = {}
    for name in sorted(names):
        for probe in ("97", "local", "aws"):
            try:
                changed = Settings.from_env({**base_env, name: probe})
            except ValueError:
                continue
            for field in dataclasses.fields(Settings):
                if getattr(changed, field.name) != getattr(base, field.name):
                    setters.setdefault(field.name, set()).add(name)
    # A field set by one variable only (source_roots also follows VIDEO_DATA_DIR: skipped).
    return {field: next(iter(found)) for field, found in setters.items() if len(found) == 1}


def _required_variables(role: str) -> set[str]:
    variable_of = _variable_of()
    missing = sorted(set(REQUIRED_SETTINGS[role]) - set(variable_of))
    assert not missing, f"Settings has no single variable for {missing}: update REQUIRED_SETTINGS"
    return {variable_of[field] for field in REQUIRED_SETTINGS[role]}


def test_required_settings_name_real_settings_and_their_variables() -> None:
    variable_of = _variable_of()
    assert variable_of["backend"] == "VIDEO_BACKEND"
    assert variable_of["processor_function"] == "VIDEO_PROCESSOR_FUNCTION"
    fields = {f.name for f in dataclasses.fields(Settings)}
    for role, required in REQUIRED_SETTINGS.items():
        assert set(required) <= fields, role
        assert set(required) <= set(variable_of), role


@pytest.mark.parametrize("role", list(REQUIRED_SETTINGS))
@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_chalice_stage_gives_each_function_what_its_code_reads(stage: str, role: str) -> None:
    environment = _chalice_environment(stage, role)
    missing = _required_variables(role) - set(environment)
    assert not missing, f"`chalice deploy --stage {stage}`: the {role} function lacks {missing}"
    assert environment["VIDEO_BACKEND"] == "aws"


@pytest.mark.parametrize("role", list(REQUIRED_SETTINGS))
def test_cdk_stack_gives_each_function_what_its_code_reads(synth: Synthesized, role: str) -> None:
    missing = _required_variables(role) - set(_cdk_environment(synth, role))
    assert not missing, f"the CDK stack's {role} function lacks {missing}"


@pytest.mark.parametrize("role", list(REQUIRED_SETTINGS))
@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_both_deploy_paths_set_the_same_variables(
    synth: Synthesized, stage: str, role: str
) -> None:
    """Same names per function on both paths; where the CDK value is a literal (not a
    reference to a resource the stack creates), the same value too."""
    chalice = _chalice_environment(stage, role)
    cdk = _cdk_environment(synth, role)
    assert set(chalice) == set(cdk), (
        f"{role}: only chalice sets {set(chalice) - set(cdk)}, only CDK {set(cdk) - set(chalice)}"
    )
    literals = {k: v for k, v in cdk.items() if isinstance(v, str)}
    assert literals == {k: chalice[k] for k in literals}, role
