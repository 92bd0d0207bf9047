"""`video` (python -m videocli) against `make run`'s server, and the client's multipart upload on
the AWS code path (moto): commands, --json, exit codes, messages, and an upload that resumes
after the CLI is killed without sending its finished parts again."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT, free_port, uploaded_file
from tests.contract.servers import Server, aws_server, local_server

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with local_server(tmp_path_factory.mktemp("cli")) as served:
        yield served


def video(
    server: Server | None, *args: str, token: str = ADMIN_TOKEN, state: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`video *args` with VIDEO_API_URL at `server` (None: a port nobody listens on) and
    VIDEO_TOKEN set to `token`."""
    env = {
        **os.environ,
        "VIDEO_API_URL": server.base if server else f"http://127.0.0.1:{free_port()}",
        "VIDEO_TOKEN": token,
        "XDG_STATE_HOME": str(state or (server.data if server else ROOT) / "cli-state"),
        "COLUMNS": "120",
    }
    return subprocess.run(
        [sys.executable, "-m", "videocli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_upload_ls_get_with_json(server: Server, tmp_path: Path) -> None:
    clip = tmp_path / "small.mp4"
    clip.write_bytes(os.urandom(300_000))
    created = ok(video(server, "--json", "upload", str(clip), "--title", "Small one"))
    assert created["status"] == "uploaded" and created["title"] == "Small one"
    assert created["upload"]["size"] == 300_000
    source = uploaded_file(created["sourceUrl"], server.data)
    assert source.read_bytes() == clip.read_bytes()
    listed = ok(video(server, "--json", "ls", "--status", "uploaded"))
    assert created["id"] in [v["id"] for v in listed]
    assert ok(video(server, "--json", "get", created["id"]))["id"] == created["id"]
    table = video(server, "ls")
    assert table.returncode == 0 and created["id"] in table.stdout
    found = ok(video(server, "--json", "ls", "-q", "SMA"))  # the start of a word, any case
    assert [v["id"] for v in found] == [created["id"]]
    assert ok(video(server, "--json", "ls", "--search", "mall")) == []


def test_tokens_and_webhooks(server: Server) -> None:
    token = ok(video(server, "--json", "tokens", "create", "ci", "--scope", "read"))
    assert token["secret"].startswith(f"vt_{token['id']}_")
    assert token["id"] in [t["id"] for t in ok(video(server, "--json", "tokens", "ls"))]
    # the new read token works, and cannot mint
    assert ok(video(server, "--json", "ls", token=token["secret"])) is not None
    refused = video(server, "tokens", "ls", token=token["secret"])
    assert refused.returncode == 3 and "403 Forbidden" in refused.stderr
    assert ok(video(server, "--json", "tokens", "revoke", token["id"])) == {"revoked": token["id"]}
    hook = ok(video(server, "--json", "webhooks", "create", "http://127.0.0.1:9/h",
                    "--event", "video.completed"))  # fmt: skip
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["video.completed"]
    assert ok(video(server, "--json", "webhooks", "get", hook["id"]))["url"].endswith("/h")
    assert ok(video(server, "--json", "webhooks", "test", hook["id"]))["status"] == "pending"
    assert ok(video(server, "--json", "webhooks", "rotate", hook["id"]))["secret"]
    assert isinstance(ok(video(server, "--json", "webhooks", "deliveries", hook["id"])), list)
    assert hook["id"] in [h["id"] for h in ok(video(server, "--json", "webhooks", "ls"))]
    assert ok(video(server, "--json", "webhooks", "rm", hook["id"])) == {"deleted": hook["id"]}


def test_exit_codes_and_messages(server: Server) -> None:
    missing = video(server, "get", "AAAAAAAAAAAAAAAAAAAAAA")
    assert missing.returncode == 3
    assert "404 NotFound" in missing.stderr and "request " in missing.stderr
    unauthorized = video(server, "ls", token="vt_0123456789abcdef_" + "A" * 43)
    assert unauthorized.returncode == 3
    assert "refused the token (401)" in unauthorized.stderr and "VIDEO_TOKEN" in unauthorized.stderr
    refused = video(None, "ls")
    assert refused.returncode == 3
    assert "cannot reach the API" in refused.stderr and "ConnectionRefusedError" in refused.stderr
    assert video(server, "frobnicate").returncode == 2
    assert video(server, "upload", "x.mp4").returncode == 2  # --title is required
    absent = video(server, "upload", "/nonexistent.mp4", "--title", "t")
    assert absent.returncode == 2 and "no such file" in absent.stderr


def test_an_id_that_starts_with_a_dash_is_an_id_not_an_option(server: Server) -> None:
    """Ids are URL-safe base64: the service issued some that start with "-" (one in 64 before
    stop 35), and `video download -dCk…` failed as a usage error (exit 2). It reaches the API."""
    dash_id = "-dCkIuabWJXq0bDU0a1b2c"
    for command in (["get", dash_id], ["download", dash_id, "--rendition", "720p"],
                    ["process", dash_id], ["--json", "get", dash_id]):  # fmt: skip
        result = video(server, *command)
        assert result.returncode == 3, (command, result.stderr)
        assert "404 NotFound" in result.stderr, (command, result.stderr)
    # an option of ours is still an option, and an unknown one a usage error
    assert video(server, "get", "--no-such-option-here1").returncode == 2


BAD_TOKEN = "vt_0123456789abcdef_" + "A" * 43


def with_flag(flag: list[str], where: str, command: list[str], own: list[str]) -> list[str]:
    """`command own` with `flag` before the command, right after its name, or after its own
    options (`video --json ls --status x`, `video ls --json --status x`, `video ls --status x
    --json`)."""
    return {
        "before": [*flag, *command, *own],
        "after-command": [*command, *flag, *own],
        "after-options": [*command, *own, *flag],
    }[where]


@pytest.mark.parametrize("where", ["before", "after-command", "after-options"])
def test_global_flags_go_before_or_after_the_command(server: Server, where: str) -> None:
    listing = (["ls"], ["--status", "uploaded", "--limit", "5"])
    # --json alone turns the table into JSON
    assert isinstance(ok(video(server, *with_flag(["--json"], where, *listing))), list)
    # --url wins over a VIDEO_API_URL where nothing listens
    reached = video(None, "--json", *with_flag(["--url", server.base], where, *listing))
    assert isinstance(ok(reached), list)
    # --token wins over a VIDEO_TOKEN the API refuses
    trusted = video(server, "--json", *with_flag(["--token", ADMIN_TOKEN], where, *listing),
                    token=BAD_TOKEN)  # fmt: skip
    assert isinstance(ok(trusted), list)
    # a nested command (tokens ls) takes them too, all three at once
    flags = ["--url", server.base, "--token", ADMIN_TOKEN, "--json"]
    tokens = ok(video(None, *with_flag(flags, where, ["tokens", "ls"], []), token=BAD_TOKEN))
    assert isinstance(tokens, list)


def test_a_global_flag_before_the_command_is_kept_when_the_command_has_its_own(
    server: Server,
) -> None:
    """A subcommand that is not given a global option must not reset it to a default."""
    both = video(None, "--url", server.base, "--token", ADMIN_TOKEN, "--json", "ls",
                 "--status", "uploaded", token=BAD_TOKEN)  # fmt: skip
    assert isinstance(ok(both), list)
    split = video(None, "--url", server.base, "ls", "--token", ADMIN_TOKEN, "--json",
                  token=BAD_TOKEN)  # fmt: skip
    assert isinstance(ok(split), list)
    table = video(server, "ls", "--limit", "3")  # no --json anywhere: a table, not JSON
    assert table.returncode == 0 and "status" in table.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(table.stdout)


def test_upload_with_json_after_its_options(server: Server, tmp_path: Path) -> None:
    """The command of the report: `video upload FILE --title T --json`."""
    clip = tmp_path / "after.mp4"
    clip.write_bytes(os.urandom(50_000))
    created = ok(video(server, "upload", str(clip), "--title", "Flags after", "--json"))
    assert created["title"] == "Flags after" and created["upload"]["size"] == 50_000
    unknown = video(server, "upload", str(clip), "--title", "t", "--jsn")
    assert unknown.returncode == 2 and "unrecognized arguments: --jsn" in unknown.stderr


@pytest.mark.parametrize(
    "command", [[], ["upload"], ["ls"], ["tokens"], ["tokens", "create"], ["webhooks", "get"]]
)
def test_help_lists_the_global_options_on_every_command(command: list[str]) -> None:
    shown = video(None, *command, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "global options (before or after the command)" in shown.stdout
    for flag in ("--url API_URL", "--token TOKEN", "--json"):
        assert flag in shown.stdout


def _part_puts(log: str, slot: str) -> dict[int, int]:
    """How many times each part of `slot` was stored (200) according to the access log."""
    counts: dict[int, int] = {}
    for number in re.findall(rf'"PUT /uploads/{slot}/parts/(\d+)\?[^"]*" 200 ', log):
        counts[int(number)] = counts.get(int(number), 0) + 1
    return counts


def test_an_interrupted_upload_resumes_without_sending_finished_parts(
    server: Server, tmp_path: Path
) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(26 * MiB))  # 6 parts of 5 MiB (the last 1 MiB)
    state = tmp_path / "state"
    args = ["--json", "upload", str(big), "--title", "Big", "--multipart-threshold", "1M",
            "--part-size", "5M"]  # fmt: skip
    env = {**os.environ, "VIDEO_API_URL": server.base, "VIDEO_TOKEN": ADMIN_TOKEN,
           "XDG_STATE_HOME": str(state)}  # fmt: skip
    first = subprocess.Popen(
        [sys.executable, "-m", "videocli", *args, "--limit-rate", "12M"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    slots = server.data / "inbox" / "uploads" / "default"
    deadline = time.monotonic() + 60
    stored: list[Path] = []
    while time.monotonic() < deadline and len(stored) < 2:
        stored = list(slots.glob("*/.parts/0*"))
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)  # no chance to clean up: as a crash or a lost laptop
    first.wait(timeout=10)
    assert len(stored) >= 2, "the first run did not store two parts in time"
    slot = stored[0].parent.parent.name
    assert len({p.parent.parent.name for p in stored}) == 1
    before = _part_puts((server.data / "server.log").read_text(), slot)
    assert before and len(before) < 6  # killed mid-upload

    second = video(server, *args, state=state)
    done = ok(second)
    assert re.search(r"resuming: \d part\(s\)", second.stderr)
    assert done["upload"]["resumedBytes"] >= 2 * 5 * MiB
    source = uploaded_file(done["sourceUrl"], server.data)
    assert source.parent.name == slot
    assert hashlib.sha256(source.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    after = _part_puts((server.data / "server.log").read_text(), slot)
    assert after == dict.fromkeys(range(1, 7), 1)  # each part stored once, none sent again
    assert not (source.parent / ".parts").exists()
    assert not list(state.rglob("upload-*.json"))  # the resume state is gone once complete


def test_multipart_upload_on_the_aws_code_path(tmp_path: Path, moto_endpoint: str) -> None:
    """Presigned UploadPart URLs, ListParts, CompleteMultipartUpload on the emulator's S3, with
    an interruption after the first part."""
    import boto3

    from videocli.client import Client

    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(11 * MiB))
    with aws_server(tmp_path / "data", moto_endpoint) as server:
        client = Client(server.base, ADMIN_TOKEN, state_dir=tmp_path / "state")
        moved = 0

        def crash_in_part_two(n: int) -> None:
            nonlocal moved
            moved += n
            if moved > 6 * MiB:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            client.upload_file(big, multipart_threshold=MiB, part_size=5 * MiB,
                               progress=crash_in_part_two)  # fmt: skip
        resumed: list[tuple[int, int]] = []
        done = client.upload_file(big, multipart_threshold=MiB, part_size=5 * MiB,
                                  on_resume=lambda p, b: resumed.append((p, b)))  # fmt: skip
        assert resumed == [(1, 5 * MiB)]
        bucket, _, key = done["sourceUrl"].removeprefix("s3://").partition("/")
        s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == big.read_bytes()
        assert key.startswith("uploads/default/")
        created = client.create_video("Big", done["sourceUrl"])  # the HeadObject finds it
        assert created["status"] == "uploaded"
        # an abandoned multipart upload can be aborted
        target = client.create_upload("x.mp4", "video/mp4", 6 * MiB)
        client.abort_upload(target["uploadId"])
        with pytest.raises(Exception, match="404"):
            client.upload_state(target["uploadId"])


def test_the_makefile_installs_a_video_command(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    subprocess.run(
        ["make", "-s", f"VENV={venv}", f"{venv}/bin/video"], cwd=ROOT, check=True, timeout=60
    )
    result = subprocess.run(
        [str(venv / "bin" / "video"), "--help"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and "usage: video" in result.stdout


@pytest.mark.slow
def test_upload_wait_then_download_and_a_failed_video_exits_1(server: Server, tmp_path: Path):
    """The real pipeline (ffmpeg) behind `make run`: upload --wait follows the SSE stream to
    `completed`; download fetches a rendition through its signed URL; a file that is not a
    video fails, and the command says so with exit code 1."""
    import imageio_ffmpeg

    clip = tmp_path / "clip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:v", "libx264", "-c:a", "aac", "-shortest", str(clip)],
        check=True, timeout=120,
    )  # fmt: skip
    done = ok(video(server, "--json", "upload", str(clip), "--title", "Clip", "--wait"))
    assert done["status"] == "completed", done
    formats = done["transcoding"]["formats"]
    wanted = formats[-1]
    got = ok(video(server, "--json", "download", done["id"], "--rendition", wanted["quality"],
                   "-o", str(tmp_path / "out")))  # fmt: skip
    path = Path(got["path"])
    assert path.stat().st_size == wanted["size"] == got["size"]
    assert path.read_bytes()[4:8] == b"ftyp"
    assert video(server, "download", done["id"], "--rendition", "9999p").returncode == 2
    # Issue 26: the audio-only download, a thumbnail and an animated preview.
    audio = ok(video(server, "--json", "download", done["id"], "--rendition", "audio",
                     "-o", str(tmp_path / "out")))  # fmt: skip
    assert Path(audio["path"]).name.endswith("-audio.m4a")
    assert Path(audio["path"]).read_bytes()[4:8] == b"ftyp"
    thumb = ok(video(server, "--json", "thumbnail", done["id"], "--time", "1.5", "--width",
                     "160", "-o", str(tmp_path / "out" / "t.jpg")))  # fmt: skip
    assert Path(thumb["path"]).read_bytes()[:2] == b"\xff\xd8"
    gif = str(tmp_path / "out" / "a.gif")
    anim = ok(video(server, "--json", "thumbnail", done["id"], "--animated", "--format", "gif",
                    "--start", "0", "--end", "1", "-o", gif))  # fmt: skip
    assert Path(anim["path"]).read_bytes()[:4] == b"GIF8"
    bad = video(server, "thumbnail", done["id"], "--time", "99")
    assert bad.returncode != 0 and "TimeOutOfRange" in bad.stderr + bad.stdout
    # Downloads are attachments, through the streaming server.
    import urllib.request

    with urllib.request.urlopen(done["downloads"][0]["url"]) as resp:
        assert resp.headers["Content-Disposition"].startswith('attachment; filename="Clip-')

    # Issue 26: an instant clip's playlist, an exact clip processed from the range (through the
    # processor: clipOf -> the trim), the transcript (a tone: no words) as WebVTT.
    instant = ok(video(server, "--json", "clip", done["id"], "0.5", "2", "--instant"))
    assert instant["segmentStart"] <= 0.5 and instant["segmentEnd"] >= 2 and instant["hlsUrl"]
    cut = ok(video(server, "--json", "clip", done["id"], "0.4", "2", "--wait"))
    assert cut["status"] == "completed" and cut["clipOf"]["videoId"] == done["id"], cut
    assert cut["media"]["duration"] == pytest.approx(1.6, abs=0.03)
    vtt = video(server, "transcript", done["id"], "--format", "vtt")
    assert vtt.returncode in (0, 3) and (vtt.returncode or vtt.stdout.startswith("WEBVTT"))

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(50_000))
    failed = video(server, "--json", "upload", str(junk), "--title", "Junk", "--wait")
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["status"] == "failed"
    assert "failed" in failed.stderr
