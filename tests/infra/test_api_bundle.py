"""The API zip: only the Chalice app, small, and its cold import never loads media libraries;
no development server in it, and nothing in it imports what it does not ship."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT, Synthesized

HEAVY_OR_DEV_MODULES = (
    "av",
    "cv2",
    "faster_whisper",
    "ctranslate2",
    "imageio_ffmpeg",
    "moto",
    "stepfunctions",
    "sagemaker",
    "numpy",
    "onnxruntime",
    "rapidocr",
)
# 1.25 MiB: the console vendors hls.js's full build (543 KB, ~160 KB zipped), which the light
# build cannot replace: it does not play the segmented path's separate audio rendition
MAX_ZIP_BYTES = 1280 * 1024


def _api_asset_dir(synth: Synthesized) -> Path:
    """The staged directory CDK zips for the API function."""
    _, fn = synth.resource("AWS::Lambda::Function", "ApiFunction")
    asset_hash = fn["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    manifest = json.loads((synth.outdir / "VideoService.assets.json").read_text())
    source = manifest["files"][asset_hash]["source"]
    assert source["packaging"] == "zip"
    return synth.outdir / source["path"]


def test_api_asset_holds_only_app_chalicelib_and_chalice_runtime(synth: Synthesized) -> None:
    asset = _api_asset_dir(synth)
    files = sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file())
    assert "app.py" in files
    assert {"chalice/__init__.py", "chalice/app.py"} <= set(files)
    for name in files:
        assert name == "app.py" or name.startswith(("chalicelib/", "chalice/")), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    expected = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "chalicelib").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    assert [f for f in files if f.startswith("chalicelib/")] == expected


# The repository's own top-level packages that are not the app: build-time (workflow/, infra/),
# development (devserver/, the `make run` server), the CLI, tests and benchmarks.
NOT_SHIPPED = ("workflow", "devserver", "videocli", "rehearsal", "infra", "tests", "bench")


def _imported_modules(source: str) -> set[str]:
    """Every absolute module an app file imports (at the top, lazily or under TYPE_CHECKING)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_development_server_is_not_in_the_bundle(synth: Synthesized) -> None:
    asset = _api_asset_dir(synth)
    files = {p.relative_to(asset).as_posix() for p in asset.rglob("*.py")}
    dev = sorted(
        f
        for f in files
        if f.startswith("devserver/")
        or f.rsplit("/", 1)[-1]
        in ("serve_local.py", "local_http.py", "local_startup.py", "server.py", "startup.py")
    )
    assert dev == []
    assert (ROOT / "devserver" / "server.py").is_file()  # it exists: the bundle leaves it out


def test_nothing_in_the_bundle_imports_a_package_the_bundle_does_not_ship(
    synth: Synthesized,
) -> None:
    """Not the build-time workflow/ (the local engine's definition helpers are in
    chalicelib/orchestrator/definition.py), not the dev server, not the CLI."""
    asset = _api_asset_dir(synth)
    offenders = sorted(
        f"{path.relative_to(asset).as_posix()}: {module}"
        for path in [asset / "app.py", *sorted((asset / "chalicelib").rglob("*.py"))]
        for module in _imported_modules(path.read_text())
        if module.split(".")[0] in NOT_SHIPPED
    )
    assert offenders == []
    checked = (ROOT / "chalicelib" / "orchestrator" / "engine.py").read_text()
    assert "chalicelib.orchestrator.definition" in _imported_modules(checked)


def test_the_local_engine_imports_from_the_bundle_alone(synth: Synthesized) -> None:
    """The bundle's orchestrator adapters import with only the bundle on the path (moto, the
    local engine's dependency, comes from the environment; the repository does not)."""
    code = (
        "import sys, importlib.util as u;"
        "assert u.find_spec('workflow') is None and u.find_spec('devserver') is None;"
        "import chalicelib.orchestrator.local, chalicelib.orchestrator.sfn, app;"
        "assert 'workflow' not in sys.modules and 'devserver' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_api_asset_dir(synth),  # the path: the bundle, the interpreter's own, site-packages
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_api_zip_is_small(synth: Synthesized, tmp_path: Path) -> None:
    asset = _api_asset_dir(synth)
    archive = tmp_path / "api.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(asset.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(asset).as_posix())
    size = archive.stat().st_size
    unpacked = sum(p.stat().st_size for p in asset.rglob("*") if p.is_file())
    print(f"\nAPI zip: {size / 1024:.0f} KiB ({unpacked / 1024:.0f} KiB unpacked)")
    assert size < MAX_ZIP_BYTES


def test_api_requirements_need_nothing_beyond_the_runtime() -> None:
    """The zip vendors no packages: requirements.txt may list only what Lambda ships (boto3)."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    packages = [
        re.split(r"[<>=!~ \[;]", line.strip(), maxsplit=1)[0].lower()
        for line in lines
        if line.strip() and not line.strip().startswith("#")
    ]
    assert set(packages) <= {"boto3", "botocore"}, packages


@pytest.fixture(scope="module")
def cold_import(synth: Synthesized) -> tuple[set[str], float]:
    """`import app` from the staged bundle in a fresh interpreter, as the Lambda runtime does."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "VIDEO_BACKEND": "aws",
        "VIDEO_TABLE": "videos-test",
        "VIDEO_BUCKET": "media-test",
        "VIDEO_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:test",
        "VIDEO_CURSOR_SECRET": "x" * 32,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=_api_asset_dir(synth),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules: set[str] = set()
    total_us = 0
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            modules.add(match.group(4))
            if match.group(4) == "app":
                total_us = int(match.group(2))
    return modules, total_us / 1e6


def test_cold_import_of_the_api_loads_no_media_or_dev_libraries(
    cold_import: tuple[set[str], float],
) -> None:
    modules, seconds = cold_import
    print(f"\nAPI cold import (`import app`, VIDEO_BACKEND=aws): {seconds * 1000:.0f} ms")
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY_OR_DEV_MODULES)
    assert loaded == []
    assert "app" in modules
    assert seconds < 2.0
