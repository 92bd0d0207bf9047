"""A video still processing plays in the console (issue 24): the "still processing" badge, the
growing HLS from its start through the live edge, then on to the end once it completes."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, free_port
from tests.console.conftest import Served, screenshot, serve, sign_in

pytestmark = pytest.mark.slow  # real ffmpeg processing and a real browser

SECONDS = 24


@pytest.fixture(scope="module")
def slow_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One environment and 4 s segments: a 24 s clip is playable after its first segment and
    stays processing for several more (the page has time to see it)."""
    data = tmp_path_factory.mktemp("playable")
    (data / "sources").mkdir()
    port = free_port()
    env = {
        **os.environ,
        "VIDEO_DATA_DIR": str(data),
        "VIDEO_BACKEND": "local",
        "VIDEO_ADMIN_TOKEN": ADMIN_TOKEN,
        "VIDEO_LOCAL_WAIT_SECONDS": "0.05",
        "VIDEO_X264_PRESET": "ultrafast",
        "VIDEO_WHISPER_MODEL": "off",
        "VIDEO_SEGMENT_SECONDS": "4",
        "VIDEO_PLAYABLE_SECONDS": "8",
        "VIDEO_SCALE_MIN": "1",
        "VIDEO_SCALE_MAX": "1",
        "VIDEO_SOURCE_ROOTS": str(data / "sources"),
        "VIDEO_SSE_WAIT_SECONDS": "3",
    }
    for name in ("VIDEO_PUBLIC_URL", "VIDEO_BUCKET"):
        env.pop(name, None)
    yield from serve(data, port, env)


def make_clip(path: Path) -> None:
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={SECONDS}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip


def test_a_processing_video_plays_from_its_start_and_on_to_its_end(
    slow_served: Served, browser: Any
) -> None:
    source = slow_served.data / "sources" / "clip.mp4"
    make_clip(source)
    status, video = slow_served.call(
        "/videos", "POST", {"title": "Live clip", "sourceUrl": source.as_uri()}
    )
    assert status == 201, video
    vid = video["id"]
    # the first POST /process of a fresh server starts the workflow engine: slow when busy
    request = urllib.request.Request(
        f"{slow_served.base}/videos/{vid}/process",
        method="POST",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=180) as resp:
        assert resp.status == 202
    deadline = time.monotonic() + 240
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:  # until it can be watched
        item = slow_served.call(f"/videos/{vid}")[1]
        if item.get("playback") or item["status"] in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert item["status"] == "processing" and item["playback"]["state"] == "partial", item

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    try:
        sign_in(page, slow_served.base)
        page.goto(f"{slow_served.base}/#/videos/{vid}")
        badge = page.locator("#player-live")
        badge.filter(has_text="Still processing").wait_for()
        page.locator("#player-engine").filter(has_text="hls.js").wait_for()
        player = page.locator("#player")
        player.evaluate("v => { v.muted = true; v.play(); }")
        page.wait_for_function("() => document.querySelector('#player').currentTime > 1")
        seen = slow_served.call(f"/videos/{vid}")[1]
        # it played while the run was still going (or at worst finished meanwhile)
        screenshot(page, "console-playable.png")
        assert seen["status"] in ("processing", "completed")
        # follows the live edge: faster than real time, it waits for segments, then goes on
        player.evaluate("v => { v.playbackRate = 4; }")
        page.locator("#video-status").filter(has_text="completed").wait_for(timeout=240_000)
        page.wait_for_function("() => document.querySelector('#player-live').hidden")
        page.wait_for_function(
            f"() => document.querySelector('#player').currentTime >= {SECONDS - 1}",
            timeout=120_000,
        )
        played = player.evaluate("v => [v.error && v.error.code, v.currentTime, v.duration]")
        assert played[0] is None and played[1] >= SECONDS - 1, played
        assert abs(played[2] - SECONDS) < 1, played  # the ended playlists: the whole video
        # with its sound: the alternate audio rendition is played (hls.js's full build)
        assert any("/hls_audio_" in url and ".ts" in url for url in fetched)
    finally:
        context.close()
