"""`make synth` (infra/synth.sh) runs from a fresh interpreter, not the test session's sys.path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.infra.conftest import INFRA


def test_synth_script_synthesizes_offline(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_")) and key != "PYTHONPATH"
    }
    result = subprocess.run(
        [str(INFRA / "synth.sh"), "--outdir", str(outdir)],
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "synthesized VideoService" in result.stdout
    template = json.loads((outdir / "VideoService.template.json").read_text())
    assert template["Resources"]
