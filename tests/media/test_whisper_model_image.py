"""The baked Whisper model must be readable by the user Lambda runs the image as.

The processor image is built as root (`infra/processor.Dockerfile` runs `assemble_packaged_model`
into /opt/models), but Lambda runs container images as a non-root user: a model directory left
0700 by `mkdtemp` would make subtitles vanish in AWS and nowhere else. This test builds the model
as root, then resolves and reads it as uid 65534 (nobody) through `setpriv`, as Lambda would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from chalicelib.media import whisper_model

NOBODY = "65534"

READ_AS_LAMBDA = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import whisper_model
choice = whisper_model.resolve_whisper_model(sys.argv[2], Path(sys.argv[3]))
assert choice.model is not None, choice.reason
model = Path(choice.model)
with open(model / "model.bin", "rb") as f:
    head = f.read(1 << 20)
for side in whisper_model.SIDE_FILES:
    (model / side).read_bytes()
print(len(head), sorted(p.name for p in model.iterdir()))
"""


@pytest.fixture
def shared_dir():
    """A directory every user may traverse (pytest's tmp_path lives under a 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="image-root-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# Skipped only off CI for a developer who is not root (setpriv needs root); CI runs as root and
# fails rather than skips.
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 and not os.environ.get("CI"),
    reason="setpriv needs root to switch to uid 65534",
)


@needs_root
def test_baked_model_is_resolved_and_read_by_a_non_root_user(shared_dir: Path) -> None:
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to run as another user"
    old_umask = os.umask(0o077)  # the strictest build environment: no bits for others by default
    try:
        target = whisper_model.assemble_packaged_model(shared_dir / "models")
    finally:
        os.umask(old_umask)
    assert target is not None, "the model wheels (requirements-model.txt) are not installed"
    # The reader imports only the model module (stdlib-only), copied where nobody may read it,
    # and runs the interpreter itself (the venv may sit under a directory nobody can traverse).
    code_dir = shared_dir / "code"
    code_dir.mkdir(mode=0o755)
    shutil.copy(whisper_model.__file__, code_dir / "whisper_model.py")
    (code_dir / "whisper_model.py").chmod(0o644)
    python = os.path.realpath(sys.executable)
    result = subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            python,
            "-I",
            "-S",
            "-c",
            READ_AS_LAMBDA,
            str(code_dir),
            str(target),
            str(shared_dir / "nobody-data"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(1 << 20)), result.stdout
    assert "model.bin" in result.stdout


@needs_root
def test_the_check_fails_for_a_model_left_private(shared_dir: Path) -> None:
    """The reader above really runs as another user: a 0700 model directory is refused."""
    private = shared_dir / "private"
    private.mkdir(mode=0o700)
    (private / "model.bin").write_bytes(b"x")
    result = subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            os.path.realpath(sys.executable),
            "-I",
            "-S",
            "-c",
            "import sys; open(sys.argv[1], 'rb').read()",
            str(private / "model.bin"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "PermissionError" in result.stderr
