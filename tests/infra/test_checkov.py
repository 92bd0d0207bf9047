"""checkov on the synthesized template: no failed check, and every skipped one carries its
reason in the template (infra/video_infra/checkov_suppressions.py).

checkov lives in its own venv (`make install-checkov` -> .venv-checkov; `make test` makes it):
its pins conflict with the dev tools'. Missing, this test fails rather than skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.infra.conftest import ROOT, Synthesized

VENV = ".venv-checkov"


def _checkov() -> Path:
    """$CHECKOV, else .venv-checkov in the repo, else beside the venv running the tests (a
    worktree whose .venv links to a shared one)."""
    candidates = [
        *([Path(os.environ["CHECKOV"])] if os.environ.get("CHECKOV") else []),
        ROOT / VENV / "bin" / "checkov",
        Path(sys.prefix).resolve().parent / VENV / "bin" / "checkov",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise AssertionError(f"checkov is missing: run `make install-checkov` (looked at {candidates})")


def _scan(template: Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(_checkov()), "-f", str(template), "--framework", "cloudformation", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: failed checks
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_finds_no_unexplained_failure(synth: Synthesized) -> None:
    report = _scan(synth.template_path)
    summary = report["summary"]
    results = report["results"]
    print(
        f"\ncheckov {summary['checkov_version']}: {summary['passed']} passed, "
        f"{summary['failed']} failed, {summary['skipped']} skipped with a reason"
    )
    failed = [
        f"{f['check_id']} {f['resource']}: {f['check_name']}" for f in results["failed_checks"]
    ]
    assert failed == [], "fix these, or skip them with a reason:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 150  # it really scanned the stack
    skipped = results["skipped_checks"]
    assert skipped, "expected the documented skips"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 8, f"{check['check_id']} {check['resource']}: {reason!r}"


def test_the_fixed_findings_stay_fixed(synth: Synthesized) -> None:
    """Fixed, never skipped: secrets out of environments, versioning, an encrypted queue."""
    skipped = {
        (check_id, logical_id)
        for logical_id, resource in synth.template["Resources"].items()
        for check_id in (
            s["id"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        )
    }
    media = synth.resource("AWS::S3::Bucket", "MediaBucket")[0]
    queue = synth.resource("AWS::SQS::Queue", "DispatcherDeadLetters")[0]
    assert ("CKV_AWS_21", media) not in skipped
    assert ("CKV_AWS_27", queue) not in skipped
    assert not any(check in {"CKV_AWS_21", "CKV_AWS_27", "CKV_AWS_45"} for check, _ in skipped)
