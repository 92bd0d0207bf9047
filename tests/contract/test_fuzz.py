"""Schemathesis against `make run`'s server over real HTTP, on both backends.

Every operation of the served OpenAPI document, with the admin token: its examples, the
coverage phase (boundaries and each constraint broken), random fuzzing, and the stateful phase
following the document's links (create -> get -> process -> events; upload -> parts ->
complete; webhook -> test -> rotate -> deliveries -> delete). The checks: no server error,
status codes and content types as documented, responses (and SSE events) that match their
schemas, documented headers, and schema-violating requests rejected. Zero failures.

Knobs: VIDEO_FUZZ_EXAMPLES (per operation, default 10) and VIDEO_FUZZ_SEED (default fixed, so
a failure reproduces; `random` for a new one). A deeper run:
    VIDEO_FUZZ_EXAMPLES=200 VIDEO_FUZZ_SEED=random \
        .venv/bin/python -m pytest -s tests/contract/test_fuzz.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT
from tests.contract.servers import Server, aws_server, local_server

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)
EXAMPLES = int(os.environ.get("VIDEO_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("VIDEO_FUZZ_SEED", "20261129")

pytestmark = pytest.mark.slow


def run_schemathesis(
    server: Server, report_dir: Path, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", f"{server.base}/openapi.json",
        "--header", f"Authorization: Bearer {ADMIN_TOKEN}",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(EXAMPLES),
        "--workers", "1",  # CPython 3.11's ast is not thread-safe under Hypothesis' use of it
        "--request-timeout", "30",
        "--report", "json", "--report-dir", str(report_dir),
        "--output-truncate", "true",
        *extra,
    ]  # fmt: skip
    if SEED != "random":
        command += ["--seed", SEED]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.contract.fuzz_hooks",
        "FUZZ_SOURCE_URL": server.source_url,
    }
    report_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(  # in the report's folder: its .schemathesis cache goes there too
        command,
        cwd=report_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    (report_dir / "output.txt").write_text(result.stdout + result.stderr)
    (report,) = report_dir.glob("json-*.json")
    found: dict[str, Any] = json.loads(report.read_text())
    operations = found["operations"]["tested"]
    cases = found["test_cases"]
    print(
        f"\nschemathesis on {server.env['VIDEO_BACKEND']}: {operations} operations, "
        f"{cases['generated']} test cases, {cases['with_failures']} with failures, "
        f"{cases['errored']} errored, {found['running_time']:.0f} s "
        f"(seed {found['seed']}, {EXAMPLES} examples per operation); report {report}"
    )
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    assert result.returncode == 0, summary or result.stdout[-5000:] + result.stderr[-3000:]
    return found


def _check_coverage(found: dict[str, Any], left_out: int = 0) -> None:
    from app import routes

    # Every route but the document's own /openapi.json, which Schemathesis does not test.
    assert found["operations"]["tested"] == len(routes.access) - 1 - left_out
    assert found["test_cases"]["generated"] >= 10 * len(routes.access)
    assert found["failures"] == [] and found["errors"] == []


def test_fuzz_the_local_server(tmp_path: Path) -> None:
    with local_server(tmp_path / "data") as server:
        found = run_schemathesis(server, tmp_path / "report")
    _check_coverage(found)


# moto has no GetFunctionScalingConfig (Lambda Managed Instances): GET /capacity answers its
# documented 503 there. The scaler's calls are checked against botocore's model (Stubber) in
# tests/scaling instead.
AWS_LEFT_OUT = ("--exclude-path", "/capacity")


def test_fuzz_the_aws_code_path_on_moto(tmp_path: Path, moto_endpoint: str) -> None:
    with aws_server(tmp_path / "data", moto_endpoint) as server:
        found = run_schemathesis(server, tmp_path / "report", AWS_LEFT_OUT)
    _check_coverage(found, left_out=1)
