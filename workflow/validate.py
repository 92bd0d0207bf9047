"""Offline checks of an ASL definition: statelint, moto's ASL parser and (node) asl-validator.

Each check takes the definition text (placeholders allowed: they are filled with well-formed fake
Lambda ARNs first, since every validator rejects `${...}` as a Resource) and returns a list of
problems, empty when clean. No SDK import here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from workflow.substitute import placeholders, substitute

ASL_VALIDATOR = "asl-validator@4.0.0"  # pinned: npx fetches exactly this version (then cached)
_FAKE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{name}"
_NPX_TIMEOUT = 300


def with_fake_arns(definition: str) -> str:
    """Fill every placeholder with a syntactically valid Lambda function ARN."""
    return substitute(
        definition, {name: _FAKE_ARN.format(name=name) for name in placeholders(definition)}
    )


def statelint_problems(definition: str) -> list[str]:
    """Problems statelint (the AWS States Language linter) reports."""
    from statelint.config import Config
    from statelint.linter import Linter

    problems = Linter.validate(with_fake_arns(definition), Config(None, False, False))
    return [str(problem) for problem in problems]


def moto_parser_problems(definition: str) -> list[str]:
    """Problems moto's ASL parser (the interpreter the local engine runs) raises."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    try:
        AmazonStateLanguageParser.parse(with_fake_arns(definition))
    except Exception as exc:  # any parser failure is a finding
        return [f"{type(exc).__name__}: {exc}"]
    return []


def npx_available() -> bool:
    """Whether `npx` (node) is on PATH."""
    return shutil.which("npx") is not None


def asl_validator_problems(definition: str) -> list[str]:
    """Problems the npm `asl-validator` reports; raises FileNotFoundError if npx is missing."""
    npx = shutil.which("npx")
    if npx is None:
        raise FileNotFoundError("npx not found: install node to run asl-validator")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "definition.asl.json"
        path.write_text(with_fake_arns(definition), encoding="utf-8")
        completed = subprocess.run(
            [npx, "--yes", ASL_VALIDATOR, "--json-path", str(path)],
            capture_output=True,
            text=True,
            timeout=_NPX_TIMEOUT,
            check=False,
        )
    if completed.returncode == 0:
        return []
    output = (completed.stdout + completed.stderr).strip()
    return [line for line in output.splitlines() if line.strip()] or [
        f"asl-validator exited {completed.returncode}"
    ]
