"""The short rehearsal (`make rehearse` runs the full one): the synthesized stack on moto's
server with IAM enforced, every function under its own principal."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from rehearsal.run import rehearse
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
    assert {"one-pass", "segmented", "corrupt", "webhooks", "capacity"} <= ran
    assert set(report.grants) == {"api", "scaler", "processor", "finalizer", "dispatcher"}
    # it cleans up after itself: no temp dir left
    assert set(Path(tempfile.gettempdir()).glob("rehearsal-*")) <= before
