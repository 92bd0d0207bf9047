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


def stubbed_s3() -> Any:
    import boto3

    return boto3.client("s3", region_name="us-east-1", aws_access_key_id="k",
                        aws_secret_access_key="s")  # fmt: skip


def listing(stub: Any, prefix: str, keys: list[str]) -> None:
    stub.add_response("list_objects_v2", {"Contents": [{"Key": k} for k in keys]},
                      {"Bucket": "b", "Prefix": prefix})  # fmt: skip


def delete_answer(stub: Any, keys: list[str], errors: list[tuple[str, str]]) -> None:
    stub.add_response(
        "delete_objects",
        {"Errors": [{"Key": k, "Code": c, "Message": "no"} for k, c in errors]},
        {"Bucket": "b", "Delete": {"Objects": [{"Key": k} for k in keys], "Quiet": True}},
    )


def test_a_scratch_delete_s3_refuses_raises_naming_the_keys_and_codes() -> None:
    from botocore.stub import Stubber

    from chalicelib.media_store.base import DeleteFailed

    s3 = stubbed_s3()
    keys = [f"{PREFIX}/plan.json", f"{PREFIX}/hls_720p_00000.ts"]
    with Stubber(s3) as stub:
        listing(stub, f"{PREFIX}/", keys)
        delete_answer(stub, keys, [(keys[1], "InternalError")])  # retried: one key stays
        delete_answer(stub, keys[1:], [(keys[1], "AccessDenied")])
        delete_answer(stub, keys[1:], [(keys[1], "AccessDenied")])
        with pytest.raises(DeleteFailed) as caught:
            S3ScratchStore("b", s3).delete_prefix(PREFIX)
        stub.assert_no_pending_responses()
    assert caught.value.errors == [(keys[1], "AccessDenied")]
    assert f"{keys[1]} (AccessDenied)" in str(caught.value)


def test_a_media_delete_retries_what_failed_once_and_then_succeeds() -> None:
    from botocore.stub import Stubber

    from chalicelib.media_store.s3 import S3MediaStore

    s3 = stubbed_s3()
    vid = "AbCdEfGhIjKlMnOpQrSt_-"
    keys = [f"videos/{vid}/old/master.m3u8", f"videos/{vid}/old/video_720p.mp4"]
    with Stubber(s3) as stub:
        listing(stub, f"videos/{vid}/", keys)
        delete_answer(stub, keys, [(keys[0], "SlowDown")])
        delete_answer(stub, keys[:1], [])
        S3MediaStore("b", s3, presign_seconds=3600).delete_video(vid)
        stub.assert_no_pending_responses()
