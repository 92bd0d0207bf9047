"""CLI: `python -m workflow {definition,validate,create,update,execute}`.

`definition` and `validate` are offline. `create`/`update`/`execute` drive a real account through
the SDK's `Workflow` (the `chalice deploy` path, where CDK does not own the state machine): the
function ARNs and the role come from arguments and fill the definition's placeholders.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

# Before any SDK import: sagemaker prints a v2 banner and config-discovery INFO logs otherwise.
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
logging.getLogger("sagemaker.config").setLevel(logging.WARNING)

from workflow import validate as checks  # noqa: E402
from workflow.substitute import (  # noqa: E402
    DEFINITION_PATH,
    function_substitutions,
    substitute,
)


def _definition_module() -> Any:
    # Heavy (sagemaker): imported only by the commands that need it.
    from workflow import definition

    return definition


def _concurrency(args: argparse.Namespace) -> int:
    module = _definition_module()
    if args.max_environments is not None or args.per_environment_concurrency is not None:
        if args.max_environments is None or args.per_environment_concurrency is None:
            raise SystemExit(
                "give both --max-environments and --per-environment-concurrency, or neither"
            )
        capacity: int = module.processor_capacity(
            args.max_environments, args.per_environment_concurrency
        )
        return capacity
    if args.max_concurrency is None:
        return int(module.DEFAULT_MAX_CONCURRENCY)
    return int(args.max_concurrency)


def cmd_definition(args: argparse.Namespace) -> int:
    """Print (or write) the generated ASL JSON."""
    module = _definition_module()
    text: str = module.render(
        module.build_definition(max_concurrency=_concurrency(args), wait_seconds=args.wait_seconds)
    )
    if args.write:
        DEFINITION_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DEFINITION_PATH}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Run every offline check on the committed definition; non-zero exit on any problem."""
    text = DEFINITION_PATH.read_text(encoding="utf-8")
    failed = False

    def report(name: str, problems: list[str]) -> None:
        nonlocal failed
        if problems:
            failed = True
            print(f"FAIL {name}")
            for problem in problems:
                print(f"     {problem}")
        else:
            print(f"ok   {name}")

    module = _definition_module()
    generated = module.render(module.build_definition())
    report(
        "committed definition matches the generator",
        []
        if generated == text
        else [f"{DEFINITION_PATH} is stale: run `python -m workflow definition --write`"],
    )
    report("statelint", checks.statelint_problems(text))
    report("moto ASL parser", checks.moto_parser_problems(text))
    if checks.npx_available():
        report(checks.ASL_VALIDATOR, checks.asl_validator_problems(text))
    elif args.require_node:
        report(checks.ASL_VALIDATOR, ["npx not found (node is required here)"])
    else:
        print(f"skip {checks.ASL_VALIDATOR}: npx not found")
    return 1 if failed else 0


def _substituted(args: argparse.Namespace) -> dict[str, Any]:
    text = substitute(
        DEFINITION_PATH.read_text(encoding="utf-8"),
        function_substitutions(
            {
                "scaler": args.scaler_arn,
                "processor": args.processor_arn,
                "finalizer": args.finalizer_arn,
            }
        ),
    )
    definition: dict[str, Any] = json.loads(text)
    return definition


def _client(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.client("stepfunctions", region_name=args.region)


def cmd_create(args: argparse.Namespace) -> int:
    """Create the state machine; refuse (exit 1) if one with that name exists."""
    from stepfunctions.steps import FrozenGraph
    from stepfunctions.workflow import Workflow

    client = _client(args)
    # The SDK's create() on an existing name only logs and returns the old ARN, unchanged.
    for page in client.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == args.name:
                print(f"state machine {args.name} exists: {machine['stateMachineArn']}; use update")
                return 1
    workflow = Workflow(
        name=args.name,
        definition=FrozenGraph(_substituted(args)),
        role=args.role_arn,
        client=client,
    )
    print(workflow.create())
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    """Replace the definition (and optionally the role) of an existing state machine."""
    from stepfunctions.steps import FrozenGraph
    from stepfunctions.workflow import Workflow

    workflow = Workflow.attach(args.state_machine_arn, client=_client(args))
    print(workflow.update(definition=FrozenGraph(_substituted(args)), role=args.role_arn))
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    """Start one execution for a batch of video ids; optionally wait and print its output."""
    from stepfunctions.workflow import Workflow

    if not 1 <= len(args.video_ids) <= 100:
        raise SystemExit("give 1 to 100 video ids")
    workflow = Workflow.attach(args.state_machine_arn, client=_client(args))
    execution = workflow.execute(name=args.name, inputs={"videoIds": args.video_ids})
    print(execution.execution_arn)
    if args.wait:
        output = execution.get_output(wait=True)
        description = execution.describe()
        print(json.dumps({"status": description["status"], "output": output}, indent=2))
        return 0 if description["status"] == "SUCCEEDED" else 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    definition = commands.add_parser("definition", help="print the generated ASL JSON")
    definition.add_argument(
        "--max-concurrency", type=int, help="default: the processor's max environments x 1"
    )
    definition.add_argument("--max-environments", type=int)
    definition.add_argument("--per-environment-concurrency", type=int)
    definition.add_argument("--wait-seconds", type=int, default=5)
    definition.add_argument(
        "--write", action="store_true", help="write workflow/definition.asl.json instead"
    )
    definition.set_defaults(func=cmd_definition)

    check = commands.add_parser("validate", help="check the committed definition offline")
    check.add_argument(
        "--require-node", action="store_true", help="fail (not skip) when npx is missing"
    )
    check.set_defaults(func=cmd_validate)

    def aws_args(sub: argparse.ArgumentParser, role_required: bool) -> None:
        sub.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION"))
        sub.add_argument("--role-arn", required=role_required)
        sub.add_argument("--scaler-arn", required=True)
        sub.add_argument("--processor-arn", required=True)
        sub.add_argument("--finalizer-arn", required=True)

    create = commands.add_parser("create", help="create the state machine (SDK Workflow)")
    create.add_argument("--name", required=True)
    aws_args(create, role_required=True)
    create.set_defaults(func=cmd_create)

    update = commands.add_parser("update", help="update an existing state machine")
    update.add_argument("--state-machine-arn", required=True)
    aws_args(update, role_required=False)
    update.set_defaults(func=cmd_update)

    execute = commands.add_parser("execute", help="start an execution for video ids")
    execute.add_argument("--state-machine-arn", required=True)
    execute.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION"))
    execute.add_argument("--name")
    execute.add_argument("--wait", action="store_true")
    execute.add_argument("video_ids", nargs="+", metavar="VIDEO_ID")
    execute.set_defaults(func=cmd_execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m workflow`."""
    args = _parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
