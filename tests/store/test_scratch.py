"""The scratch store of segmented runs: one contract, the local-directory and the S3 adapter."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.media_store.scratch import LocalScratchStore, S3ScratchStore, run_scratch

PREFIX = run_scratch("AbCdEfGhIjKlMnOpQrSt_-", "20260101T000000Z-abcdef01")


@pytest.fixture(params=["local", "s3"])
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "local":
        return LocalScratchStore(tmp_path / "scratch")
    s3, bucket = request.getfixturevalue("s3_bucket")
    return S3ScratchStore(bucket, s3)


def test_files_and_documents_round_trip(scratch: Any, tmp_path: Path) -> None:
    src = tmp_path / "out"
    src.mkdir()
    (src / "hls_720p_00003.ts").write_bytes(b"\x47" * 188)
    scratch.put_files(PREFIX, [src / "hls_720p_00003.ts"])
    scratch.put_text(PREFIX, "plan.json", '{"a": 1}')
    assert scratch.get_text(PREFIX, "plan.json") == '{"a": 1}'
    assert scratch.get_text(PREFIX, "missing.json") is None
    assert scratch.list(PREFIX) == ["hls_720p_00003.ts", "plan.json"]
    dest = tmp_path / "back"
    dest.mkdir()
    scratch.fetch(PREFIX, ["hls_720p_00003.ts"], dest)
    assert (dest / "hls_720p_00003.ts").read_bytes() == b"\x47" * 188
    scratch.delete(PREFIX, "plan.json")
    assert scratch.list(PREFIX) == ["hls_720p_00003.ts"]
    scratch.delete_prefix(PREFIX)
    assert scratch.list(PREFIX) == []


def test_ffmpeg_reads_a_stored_file_where_locate_points(scratch: Any, tmp_path: Path) -> None:
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    clip = tmp_path / "clip.mkv"
    subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x36:d=1",
                    "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)  # fmt: skip
    scratch.put_files(PREFIX, [clip])
    cmd = [exe, "-v", "error", "-i", scratch.locate(PREFIX, "clip.mkv"), "-f", "null", "-"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_names_and_prefixes_are_checked(tmp_path: Path) -> None:
    store = LocalScratchStore(tmp_path)
    with pytest.raises(ValueError):
        store.put_text(PREFIX, "../escape.json", "x")
    with pytest.raises(ValueError):
        run_scratch("bad id!", "run")
