"""The import contracts (`[tool.importlinter]` in pyproject.toml) hold: layers, no cycles, the
media pipeline and the API kept apart. `make lint` runs them too; this keeps `make test` from
passing over a cycle when lint is skipped."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from tests.conftest import ROOT

CONFIG = ROOT / "pyproject.toml"
LINT = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def test_the_import_contracts_hold() -> None:
    # In a process of its own: lint-imports reconfigures logging (dictConfig), which would
    # silence the loggers of modules this process already imported.
    run = subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(CONFIG), "--no-cache", "--no-logo"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_contracts_cover_layers_cycles_and_the_media_boundary() -> None:
    contracts = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    assert {c["id"] for c in contracts} >= {
        "layers",
        "acyclic",
        "media-below-its-callers",
        "api-without-media",
        "routes-on-top",
    }
