"""The API zip: only the Chalice app, small, and its cold import never loads media libraries."""

from __future__ import annotations

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
MAX_ZIP_BYTES = 1 * 1024 * 1024


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
