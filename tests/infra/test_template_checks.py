"""The synthesized template passes cfn-lint (0 errors) and cdk-nag's AwsSolutions pack."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.infra.conftest import Synthesized


def _cfn_lint() -> list[str]:
    exe = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    assert exe, "cfn-lint is missing: install infra/requirements.txt"
    return [exe]


def test_cfn_lint_finds_no_errors(synth: Synthesized) -> None:
    result = subprocess.run(
        [*_cfn_lint(), "--format", "parseable", str(synth.template_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    findings = [line for line in result.stdout.splitlines() if line.strip()]
    errors = [f for f in findings if ":E" in f]
    print(f"\ncfn-lint: {len(errors)} errors, {len(findings) - len(errors)} warnings")
    for finding in findings:
        print("  " + finding.split(":", 5)[-1])
    assert result.returncode in (0, 4), result.stderr  # 4 = warnings only
    assert errors == []


def test_cdk_nag_aws_solutions_has_no_unsuppressed_findings(synth: Synthesized) -> None:
    assert synth.report is not None, "no validation report: is cdk-nag wired in?"
    (nag,) = [r for r in synth.report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    unsuppressed = [
        f"{v['ruleName']} at {[c['constructPath'] for c in v['violatingConstructs']]}"
        for v in nag["violations"]
    ]
    assert unsuppressed == [], "\n".join(unsuppressed)
    assert nag["conclusion"] == "success"
    assert synth.error is None


def test_every_nag_suppression_has_a_written_reason(synth: Synthesized) -> None:
    assert synth.report is not None
    (nag,) = [r for r in synth.report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    suppressed = nag["suppressedViolations"]
    assert suppressed, "expected the documented acknowledgements"
    print(f"\ncdk-nag: {len(suppressed)} acknowledged findings")
    for v in suppressed:
        reason = v.get("reason", "")
        print(f"  {v['ruleName']}: {reason}")
        assert len(reason.split()) >= 8, f"{v['ruleName']} needs a real reason, got {reason!r}"
