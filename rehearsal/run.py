"""One rehearsal: synthesize (or take) the template, build the rig, run the scenarios, judge
every call, and report per function the actions used against the actions granted."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal.allowlist import reason_for
from rehearsal.policy import Grant, Request, grant_used
from rehearsal.rig import Deviation, Options, Rig
from rehearsal.runtime import REPO_ROOT
from rehearsal.scenarios import Outcome, Scenarios
from rehearsal.template import RehearsalFailure


@dataclass(frozen=True)
class GrantUse:
    grant: Grant
    uses: int
    reason: str | None  # why an unused grant stays (the allow-list), else None

    @property
    def unused(self) -> bool:
        return self.uses == 0 and self.reason is None


@dataclass
class Report:
    mode: str
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    grants: dict[str, list[GrantUse]] = field(default_factory=dict)
    used: dict[str, Counter[str]] = field(default_factory=dict)
    invocations: dict[str, int] = field(default_factory=dict)
    deviations: list[Deviation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    synth_seconds: float = 0.0

    @property
    def unused_grants(self) -> list[str]:
        return [
            f"{fn}: {use.grant}" for fn, uses in self.grants.items() for use in uses if use.unused
        ]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unused_grants

    def render(self) -> str:
        lines = [f"# AWS rehearsal ({self.mode})", ""]
        for o in self.outcomes:
            lines.append(f"- {o.name:<12} {o.seconds:6.1f} s  {o.detail}")
        lines += ["", "## Actions used vs granted, per function", ""]
        for fn, uses in self.grants.items():
            lines.append(f"### {fn} ({self.invocations.get(fn, 0)} invocations)")
            lines.append(
                "used:    "
                + ", ".join(f"{a} x{n}" for a, n in sorted(self.used.get(fn, Counter()).items()))
                or "-"
            )
            lines.append("granted:")
            for use in uses:
                state = (
                    f"used x{use.uses}"
                    if use.uses
                    else f"not used; kept: {use.reason}"
                    if use.reason
                    else "UNUSED"
                )
                lines.append(f"  {_short(str(use.grant)):<100} {state}")
            lines.append("")
        if self.notes:
            lines.append("## Judged by the rehearsal where moto cannot")
            lines += [f"- {note}" for note in self.notes]
            lines.append("")
        if self.deviations:
            lines.append("## Set differently from the deployed functions")
            lines += [f"- {d.function}: {d.name}={d.value} ({d.reason})" for d in self.deviations]
            lines.append("")
        lines.append(f"synth {self.synth_seconds:.1f} s, rehearsal {self.seconds:.1f} s")
        if self.failures or self.unused_grants:
            lines.append("")
            lines.append("## FAILED")
            lines += [f"- {f}" for f in self.failures]
            lines += [f"- unused grant (least privilege): {g}" for g in self.unused_grants]
        else:
            lines.append("PASSED: no access denied, no grant unused without a reason")
        return "\n".join(lines)


def _short(text: str) -> str:
    return text.replace("arn:aws:", "").replace(":123456789012:", "::")


def synthesize(outdir: Path) -> tuple[Path, float]:
    """The CDK app synthesized offline (no cdk-nag, no CloudFormation validation)."""
    for entry in (str(REPO_ROOT), str(REPO_ROOT / "infra")):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ["CDK_VALIDATION"] = "false"
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from video_infra.assembly import build_app

    started = time.perf_counter()
    app, stack = build_app(
        context={"nag": "false"}, outdir=str(outdir), api_bundle_dir=outdir.parent / "api-bundle"
    )
    app.synth()
    return outdir / stack.template_file, time.perf_counter() - started


def _plan(scenarios: Scenarios, full: bool) -> list[tuple[str, Callable[[], str]]]:
    """The scenarios in order (later ones use what earlier ones made)."""
    plan: list[tuple[str, Callable[[], str]]] = [
        ("webhook", scenarios.webhook),
        ("one-pass", lambda: scenarios.one_pass(10)),
        ("images", lambda: scenarios.images(scenarios.one_pass_video)),
        ("reprocess", lambda: scenarios.reprocess(scenarios.one_pass_video)),
        ("segmented", lambda: scenarios.segmented(100 if full else 20)),
        ("batch", scenarios.batch),
        ("corrupt", scenarios.corrupt),
        ("safety-net", scenarios.safety_net),
        ("upload-abort", scenarios.abandoned_upload),
        ("webhooks", scenarios.deliveries),
        ("capacity", scenarios.capacity),
    ]
    return [(name, run) for name, run in plan if full or name != "batch"]


def rehearse(template_path: Path, full: bool, only: Sequence[str] | None = None) -> Report:
    """Run the scenarios (`only` these, if given) on a rig built from `template_path`; never
    raises for a finding."""
    mode = "full" if full else "short"
    report = Report(mode)
    options = Options() if full else Options(segment_seconds=8)
    started = time.perf_counter()
    try:
        with Rig(template_path, options) as rig:
            report.deviations = rig.deviations
            scenarios = Scenarios(rig)
            try:
                for name, run in _plan(scenarios, full):
                    if only is None or name in only:
                        scenarios.run(name, run)
            except RehearsalFailure as exc:
                report.failures.append(f"scenario: {exc}")
                report.failures += _log_tails(rig)
            except Exception:
                report.failures.append("scenario crashed:\n" + traceback.format_exc())
                report.failures += _log_tails(rig)
            report.outcomes = scenarios.outcomes
            used = rig.judge()
            report.notes = [
                f"{len(rig.gateway.presigned)} presigned requests replayed as direct calls "
                "signed with the signer's keys (moto answers 500 to presigned URLs under IAM)",
                f"{rig.gateway.scaling_calls} Lambda MI Put/GetFunctionScalingConfig requests "
                "(not in moto): the caller's policy evaluated statically, then answered",
                "every call's resource and conditions (s3:prefix) evaluated statically; moto "
                "checks S3 resources, and other services by action only",
            ]
            report.failures += rig.findings.failures
            for fn, requests in used.items():
                report.invocations[fn] = rig.functions[fn].invocations
                report.used[fn] = Counter(r.action for r in requests)
                report.grants[fn] = _grant_uses(fn, rig.principals[fn].policy.grants(), requests)
    except RehearsalFailure as exc:
        report.failures.append(f"setup: {exc}")
    report.seconds = time.perf_counter() - started
    return report


def _grant_uses(fn: str, grants: list[Grant], requests: list[Request]) -> list[GrantUse]:
    out = []
    for grant in grants:
        uses = sum(1 for r in requests if grant_used(grant, [r]))
        out.append(
            GrantUse(grant, uses, None if uses else reason_for(fn, grant.action, grant.resource))
        )
    return out


def _log_tails(rig: Rig, lines: int = 15) -> list[str]:
    tails = []
    for fn in rig.functions.values():
        if fn.log.is_file():
            text = fn.log.read_text(errors="replace").splitlines()[-lines:]
            if text:
                tails.append(f"{fn.name} log (last {len(text)} lines):\n    " + "\n    ".join(text))
    return tails


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the quick rehearsal (make test)")
    parser.add_argument("--template", type=Path, help="a synthesized template (skip the synth)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rehearsal-synth-") as tmp:
        synth_seconds = 0.0
        template = args.template
        if template is None:
            template, synth_seconds = synthesize(Path(tmp) / "cdk.out")
        report = rehearse(template, full=not args.short)
        report.synth_seconds = synth_seconds
    print(report.render())
    return 0 if report.ok else 1
