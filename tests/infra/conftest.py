"""Synthesize the CDK app once per test session (offline, no credentials, no Docker)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
for entry in (str(ROOT), str(INFRA)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# CDK's built-in CloudFormation validation takes ~14 s; cfn-lint checks the template instead.
os.environ["CDK_VALIDATION"] = "false"

TEST_ACCOUNT = "123456789012"
TEST_REGION = "us-east-1"
TEST_VPC_ID = "vpc-0123456789abcdef0"


@dataclass(frozen=True)
class Synthesized:
    """One synthesized app: its template, the validation (cdk-nag) report, where it lives."""

    outdir: Path
    template_path: Path
    template: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None
    seconds: float
    api_bundle_dir: Path

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def resource(self, kind: str, logical_prefix: str) -> tuple[str, dict[str, Any]]:
        found = [(k, v) for k, v in self.resources(kind).items() if k.startswith(logical_prefix)]
        assert len(found) == 1, f"expected one {kind} named {logical_prefix}*, got {found}"
        return found[0]


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synthesized:
    from video_infra.assembly import build_app

    started = time.perf_counter()
    bundle = outdir.parent / f"{outdir.name}-api-bundle"
    app, stack = build_app(context=context, outdir=str(outdir), api_bundle_dir=bundle)
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # a failed policy validation (cdk-nag) still writes the report
        error = str(exc)
    seconds = time.perf_counter() - started
    template_path = outdir / stack.template_file
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    return Synthesized(
        outdir=outdir,
        template_path=template_path,
        template=json.loads(template_path.read_text()),
        report=report,
        error=error,
        seconds=seconds,
        api_bundle_dir=bundle,
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The default deployment: a new VPC, environment-agnostic (no account, no lookups)."""
    result = synthesize(tmp_path_factory.mktemp("cdk") / "cdk.out")
    print(f"\nCDK synth (default app): {result.seconds:.1f} s")
    yield result


@pytest.fixture(scope="session")
def synth_existing_vpc(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_session: pytest.MonkeyPatch
) -> Synthesized:
    """`-c vpcId=...`: the lookup answered from context, as cdk.context.json holds it."""
    monkeypatch_session.setenv("CDK_DEFAULT_ACCOUNT", TEST_ACCOUNT)
    monkeypatch_session.setenv("CDK_DEFAULT_REGION", TEST_REGION)
    context = {
        "vpcId": TEST_VPC_ID,
        f"availability-zones:account={TEST_ACCOUNT}:region={TEST_REGION}": [
            "us-east-1a",
            "us-east-1b",
        ],
        (
            f"vpc-provider:account={TEST_ACCOUNT}:filter.vpc-id={TEST_VPC_ID}:"
            f"region={TEST_REGION}:returnAsymmetricSubnets=true"
        ): _looked_up_vpc(),
    }
    return synthesize(tmp_path_factory.mktemp("cdk-vpc") / "cdk.out", context)


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _looked_up_vpc() -> dict[str, Any]:
    """What `cdk synth` caches for an existing VPC with two private subnets."""
    return {
        "vpcId": TEST_VPC_ID,
        "vpcCidrBlock": "10.0.0.0/16",
        "ownerAccountId": TEST_ACCOUNT,
        "availabilityZones": [],
        "subnetGroups": [
            {
                "name": "Private",
                "type": "Private",
                "subnets": [
                    {
                        "subnetId": "subnet-0aaaaaaaaaaaaaaa1",
                        "cidr": "10.0.128.0/20",
                        "availabilityZone": "us-east-1a",
                        "routeTableId": "rtb-0aaaaaaaaaaaaaaa1",
                    },
                    {
                        "subnetId": "subnet-0aaaaaaaaaaaaaaa2",
                        "cidr": "10.0.144.0/20",
                        "availabilityZone": "us-east-1b",
                        "routeTableId": "rtb-0aaaaaaaaaaaaaaa2",
                    },
                ],
            },
            {
                "name": "Public",
                "type": "Public",
                "subnets": [
                    {
                        "subnetId": "subnet-0bbbbbbbbbbbbbbb1",
                        "cidr": "10.0.0.0/24",
                        "availabilityZone": "us-east-1a",
                        "routeTableId": "rtb-0bbbbbbbbbbbbbbb1",
                    },
                    {
                        "subnetId": "subnet-0bbbbbbbbbbbbbbb2",
                        "cidr": "10.0.1.0/24",
                        "availabilityZone": "us-east-1b",
                        "routeTableId": "rtb-0bbbbbbbbbbbbbbb2",
                    },
                ],
            },
        ],
    }
