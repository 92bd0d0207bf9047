"""`make smoke` against `make run`'s server, so the post-deploy check cannot rot: the same
module, the same steps, a real upload, a real processing run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT
from tests.contract.servers import Server, local_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with local_server(tmp_path_factory.mktemp("smoke")) as served:
        yield served


def smoke(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIDEO_API_URL": server.base, "VIDEO_TOKEN": ADMIN_TOKEN}
    return subprocess.run(
        ["make", "--no-print-directory", "smoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
def test_make_smoke_walks_the_flow_and_times_each_step(server: Server) -> None:
    result = smoke(server, f"API={server.base}", f"TOKEN={ADMIN_TOKEN}")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line.split()[0] for line in result.stdout.splitlines() if " s  " in line]
    assert steps == ["health", "upload", "create", "process", "poll", "list", "total"]
    poll = next(line for line in result.stdout.splitlines() if line.startswith("poll"))
    assert "completed" in poll and "renditions" in poll
    assert ADMIN_TOKEN not in result.stdout + result.stderr


def test_make_smoke_fails_loudly_on_a_video_that_fails(server: Server) -> None:
    # the server's seed source is not a video: the run fails and smoke says so, exit 1
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "videocli.smoke", "--source-url", server.source_url],
        cwd=ROOT,
        env={**os.environ, "VIDEO_API_URL": server.base, "VIDEO_TOKEN": ADMIN_TOKEN},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED at poll: the video failed: " in result.stderr


def test_make_smoke_without_an_api_is_a_usage_error() -> None:
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "videocli.smoke"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "VIDEO_API_URL"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "give --url" in result.stderr
