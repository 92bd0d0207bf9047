"""The import contracts (`[tool.importlinter]` in pyproject.toml) hold: layers, no cycles, the
media pipeline and the API kept apart. `make lint` runs them too; this keeps `make test` from
passing over a cycle when lint is skipped."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT

CONFIG = ROOT / "pyproject.toml"


def test_the_import_contracts_hold() -> None:
    from importlinter.cli import lint_imports

    # Broken contracts are printed (pytest shows them with the failure).
    assert lint_imports(config_filename=str(CONFIG), no_cache=True, no_logo=True) == 0


def test_the_contracts_cover_layers_cycles_and_the_media_boundary() -> None:
    contracts = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    assert {c["id"] for c in contracts} >= {
        "layers",
        "acyclic",
        "media-below-its-callers",
        "api-without-media",
        "routes-on-top",
    }
