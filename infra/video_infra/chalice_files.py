"""The Chalice deploy path's generated files, from the same definitions as the CDK stack:
`.chalice/policy-{stage}[-function].json` from access.py and `.chalice/table-{stage}.json`
(the `aws dynamodb create-table --cli-input-json` input) from table_schema.py. Resource names
come from `.chalice/config.json` (its stages' environment variables).

    .venv/bin/python -m video_infra.chalice_files --write   # (from infra/) = make chalice-files
    .venv/bin/python -m video_infra.chalice_files           # check: exit 1 if a file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from video_infra.access import ACCESS, SECRET_ARN_VARIABLES, Resources, statements
from video_infra.table_schema import create_table_input

REPO_ROOT = Path(__file__).resolve().parents[2]
CHALICE_DIR = REPO_ROOT / ".chalice"
# The CDK stack's function keys as `chalice deploy` names them in config.json.
CHALICE_FUNCTIONS = {
    "api": "api_handler",
    "processor": "processor",
    "scaler": "scaler",
    "finalizer": "finalizer",
    "dispatcher": "dispatcher",
    "renderer": "renderer",
}


def _stage_variables(config: dict[str, Any], stage: str) -> dict[str, str]:
    """Every environment variable of a stage (the stage's and its functions')."""
    stage_config = config["stages"][stage]
    merged = dict(stage_config.get("environment_variables", {}))
    for function in stage_config.get("lambda_functions", {}).values():
        merged.update(function.get("environment_variables", {}))
    return merged


def _resources(config: dict[str, Any], stage: str) -> Resources:
    env = _stage_variables(config, stage)
    machine = env["VIDEO_STATE_MACHINE_ARN"]
    _, _, _, region, account, _ = machine.split(":", 5)
    return Resources(
        table=f"arn:aws:dynamodb:*:*:table/{env['VIDEO_TABLE']}",
        bucket=f"arn:aws:s3:::{env['VIDEO_BUCKET']}",
        state_machine=machine,
        executions=machine.replace(":stateMachine:", ":execution:") + ":*",
        processor_scaling=(
            f"arn:aws:lambda:*:*:function:{env['VIDEO_PROCESSOR_FUNCTION']}:$LATEST.PUBLISHED"
        ),
        # Secrets Manager appends a random suffix to a secret's ARN.
        secrets={
            name: f"{env[variable]}-*"
            for name, variable in SECRET_ARN_VARIABLES.items()
            if variable in env
        },
        event_bus=f"arn:aws:events:{region}:{account}:event-bus/{env['VIDEO_EVENT_BUS']}",
        renderer=f"arn:aws:lambda:*:*:function:{env['VIDEO_RENDERER_FUNCTION']}",
    )


def policy_file(stage: str, key: str) -> str:
    return f"policy-{stage}.json" if key == "api" else f"policy-{stage}-{key}.json"


def _log_group(config: dict[str, Any], stage: str, key: str) -> str:
    # chalice deploy names the API function {app}-{stage}, the others {app}-{stage}-{name}.
    base = f"{config['app_name']}-{stage}"
    name = base if key == "api" else f"{base}-{key}"
    return f"arn:aws:logs:*:*:log-group:/aws/lambda/{name}:*"


def policy(config: dict[str, Any], stage: str, key: str) -> dict[str, Any]:
    own_logs = {
        "Sid": "OwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": _log_group(config, stage, key),
    }
    granted = statements(ACCESS[key], _resources(config, stage))
    return {"Version": "2012-10-17", "Statement": [own_logs, *granted]}


def deployed_stages(config: dict[str, Any]) -> list[str]:
    return [name for name, stage in config["stages"].items() if "iam_policy_file" in stage]


def rendered(chalice_dir: Path = CHALICE_DIR) -> dict[Path, str]:
    """Every generated file of the Chalice path and its content."""
    config = json.loads((chalice_dir / "config.json").read_text())
    files: dict[Path, str] = {}
    for stage in deployed_stages(config):
        for key in ACCESS:
            files[chalice_dir / policy_file(stage, key)] = _json(policy(config, stage, key))
        table = _stage_variables(config, stage)["VIDEO_TABLE"]
        files[chalice_dir / f"table-{stage}.json"] = _json(create_table_input(table))
    return files


def _json(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m video_infra.chalice_files")
    parser.add_argument("--write", action="store_true", help="write the files (else: check)")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        if path.is_file() and path.read_text() == text:
            continue
        if args.write:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        else:
            stale.append(str(path.relative_to(REPO_ROOT)))
    if stale:
        print("stale (run `make chalice-files`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
