"""The short rehearsal (`make rehearse` runs the full one): the synthesized stack on moto's
server with IAM enforced, every function under its own principal."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import pytest

from rehearsal.run import rehearse
from rehearsal.template import Template
from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.slow


def test_every_function_runs_under_its_own_policy_and_uses_every_grant(
    synth: Synthesized,
) -> None:
    before = set(Path(tempfile.gettempdir()).glob("rehearsal-*"))
    report = rehearse(synth.template_path, full=False)
    print(report.render())
    assert not report.failures, "\n".join(report.failures)
    assert not report.unused_grants, "\n".join(report.unused_grants)
    ran = {outcome.name for outcome in report.outcomes}
    assert {"one-pass", "images", "segmented", "corrupt", "webhooks", "capacity"} <= ran
    assert set(report.grants) == {
        "api",
        "scaler",
        "processor",
        "finalizer",
        "dispatcher",
        "renderer",
    }
    # it cleans up after itself: no temp dir left
    assert set(Path(tempfile.gettempdir()).glob("rehearsal-*")) <= before


def test_a_missing_grant_fails_it_naming_function_action_and_resource(
    synth: Synthesized,
) -> None:
    """The bug it was built for: the processor's role without its scratch grants."""
    document = copy.deepcopy(synth.template)
    template = Template(document)
    role = template.function("processor").role_logical_id
    for resource in document["Resources"].values():
        if (
            resource["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in resource["Properties"]["Roles"]
        ):
            policy = resource["Properties"]["PolicyDocument"]
            policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "Scratch"]
    # beside the synthesized one: the layers' assets resolve from the same assembly
    doctored = synth.outdir / "doctored-no-scratch.json"
    doctored.write_text(json.dumps(document))
    report = rehearse(doctored, full=False, only=("segmented",))
    denied = [f for f in report.failures if f.startswith("processor: AccessDenied s3:PutObject")]
    assert denied, report.failures
    assert all("/work/" in f for f in denied)
