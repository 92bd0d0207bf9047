"""Upload, process and watch a clip through the console in Debian's chromium."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.console.conftest import Served, Watched, screenshot, sign_in

pytestmark = pytest.mark.slow  # real ffmpeg processing and a real browser

PROCESSING_TIMEOUT_MS = 240_000
STEP_TIMEOUT_MS = 120_000


def make_clip(path: Path) -> Path:
    """3 s 320x180 with audio: a test pattern, black from 1.8 s (a scene cut and a black
    segment), a tone that stops at 1.2 s (a silence)."""
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
            "-f", "lavfi", "-i",
            "testsrc2=size=320x180:rate=25:duration=3,"
            "drawbox=color=black:t=fill:enable='gte(t,1.8)'",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=3,volume=0:enable='gte(t,1.2)'",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


@dataclass
class Uploaded:
    good: str
    bad: str


def upload(page: Any, path: Path, title: str) -> None:
    page.get_by_label("Video file").set_input_files(str(path))
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_role("button", name="Upload").click()
    # the first POST /process of a fresh local server starts the workflow engine: seconds,
    # more on a busy 2-core machine
    page.locator("#upload-status").filter(has_text="processing started").wait_for(
        timeout=STEP_TIMEOUT_MS
    )


def row_of(page: Any, title: str) -> Any:
    return page.locator("li.video-row").filter(has=page.locator(".row-title", has_text=title))


@pytest.fixture(scope="module")
def uploaded(
    served: Served, browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Uploaded]:
    """Both uploads go through the page's file input; both process at once."""
    folder = tmp_path_factory.mktemp("clips")
    clip = make_clip(folder / "clip.mp4")
    broken = folder / "broken.mp4"
    broken.write_text("this is a text file, renamed\n")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        sign_in(page, served.base)
        upload(page, broken, "Broken upload")
        upload(page, clip, "Test clip")
        # the XHR upload's progress: bytes sent of the file's size, all of it at the end
        assert page.locator("#upload-bar").evaluate("bar => bar.value") == 100
        size_text = page.locator("#upload-progress-text").text_content() or ""
        assert " of " in size_text and "(100%)" in size_text, size_text
        good, bad = row_of(page, "Test clip"), row_of(page, "Broken upload")
        # live updates: the rows move through the states without a reload
        bad.locator(".badge", has_text="failed").wait_for(timeout=PROCESSING_TIMEOUT_MS)
        good.locator(".badge", has_text="completed").wait_for(timeout=PROCESSING_TIMEOUT_MS)
        good.locator(".poster img").wait_for()
        assert good.locator(".row-duration").text_content() == "0:03"
        screenshot(page, "console-library.png")
        yield Uploaded(
            good=str(good.get_attribute("data-id")), bad=str(bad.get_attribute("data-id"))
        )
    finally:
        context.close()


def test_the_video_page_plays_with_subtitles_storyboard_and_analysis(
    served: Served, uploaded: Uploaded, watched: Watched
) -> None:
    page = watched.page
    sign_in(page, served.base)
    row_of(page, "Test clip").get_by_role("link").click()
    page.get_by_role("heading", name="Test clip").wait_for()
    video = page.locator("#player")
    # hls.js attached (Chromium answers "maybe" for HLS, so the page must not trust that)
    page.locator("#player-engine").filter(has_text="hls.js").wait_for()
    assert page.locator("#quality-select option").count() >= 2  # Auto + the 180p level
    assert video.evaluate("v => v.src.startsWith('blob:')")  # MediaSource, not a native src

    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "() => { const v = document.querySelector('#player'); "
        "return v.readyState >= 2 && v.currentTime > 0.2; }",
        timeout=20_000,
    )
    video.evaluate("v => v.pause()")

    # subtitles: a <track> from the VTT, loaded and showing
    track = page.locator("#player track")
    assert track.count() == 1
    assert "subtitles.vtt" in (track.get_attribute("src") or "")
    page.wait_for_function("() => document.querySelector('#player track').readyState === 2")
    assert video.evaluate("v => v.textTracks[0].mode") == "showing"

    # the storyboard: hovering the timeline shows the tile for that time
    timeline = page.locator("#timeline")
    box = timeline.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    preview = page.locator("#storyboard-preview")
    preview.wait_for(state="visible")
    img = page.locator("#storyboard-img")
    assert "storyboard.jpg" in (img.get_attribute("src") or "")
    page.wait_for_function("() => document.querySelector('#storyboard-img').naturalWidth > 0")
    assert (page.locator("#storyboard-time").text_content() or "").startswith("0:01.")
    screenshot(page, "console-video-hover.png")
    page.mouse.move(0, 0)

    # the analysis lanes: one mark per scene cut, black segment, silence; a click seeks
    lanes = page.locator("#analysis-lanes")
    assert lanes.get_by_text("Scene cuts (1)").is_visible()
    assert lanes.get_by_text("Black (1)").is_visible()
    assert lanes.get_by_text("Silence (1)").is_visible()
    cut = page.get_by_role("button", name="Scene cut at 0:01.8")
    cut.click()
    page.wait_for_function(
        "() => Math.abs(document.querySelector('#player').currentTime - 1.8) < 0.2"
    )
    page.get_by_role("button", name="Silence from 0:01.2 to 0:03.0").click()
    page.wait_for_function(
        "() => Math.abs(document.querySelector('#player').currentTime - 1.2) < 0.2"
    )
    assert timeline.get_attribute("aria-valuenow") == "1"
    # by keyboard: the timeline is a slider, a lane's marks are one tab stop with arrow keys
    timeline.focus()
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('#player').currentTime < 0.1")
    page.get_by_role("button", name="Black from 0:01.8 to 0:03.0").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => Math.abs(document.querySelector('#player').currentTime - 1.8) < 0.2"
    )

    # metadata: media info and the renditions with their sizes
    details = page.locator("#media-info")
    assert "320 × 180" in (details.text_content() or "")
    rendition = page.locator("#renditions tbody tr").first
    assert "180p" in (rendition.text_content() or "")
    assert "KiB" in (rendition.text_content() or "")
    assert page.get_by_role("button", name="Process again").is_enabled()
    screenshot(page, "console-video.png")
    page.set_viewport_size({"width": 375, "height": 800})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "console-phone-video.png")
    assert watched.problems() == []  # no script error, no CSP violation (hls.js worker incl.)
    assert all(ADMIN_TOKEN not in url for url in watched.urls)


def test_a_failed_video_shows_its_reason_and_can_be_processed_again(
    served: Served, uploaded: Uploaded, watched: Watched
) -> None:
    page = watched.page
    sign_in(page, served.base)
    page.get_by_label("Status").select_option("failed")
    row = row_of(page, "Broken upload")
    row.wait_for()
    from playwright.sync_api import expect  # lazily, as the fixtures import Playwright

    # The filter asked the API: the unfiltered rows go once its answer is in (retried until).
    expect(page.locator("li.video-row:visible")).to_have_count(1, timeout=STEP_TIMEOUT_MS)
    row.get_by_role("link").click()
    failure = page.locator("#video-failure")
    failure.wait_for()
    assert page.locator("#failure-code").text_content() == "NotAVideo"
    assert page.locator("#failure-message").text_content()
    assert page.locator("#player-area").is_hidden()
    screenshot(page, "console-failed.png")

    page.get_by_role("button", name="Process again").click()
    # queued again, then failed again: the page follows it without a reload
    page.locator("#video-status", has_text="queued").wait_for(timeout=STEP_TIMEOUT_MS)
    assert page.get_by_role("button", name="Process again").is_disabled()
    page.locator("#video-status", has_text="failed").wait_for(timeout=PROCESSING_TIMEOUT_MS)
    status, item = served.call(f"/videos/{uploaded.bad}")
    assert status == 200 and item["status"] == "failed"
    assert item["error"]["code"] == "NotAVideo"
    assert watched.problems() == []


def test_search_asks_the_api(served: Served, uploaded: Uploaded, watched: Watched) -> None:
    page = watched.page
    sign_in(page, served.base)
    row_of(page, "Test clip").wait_for()
    with page.expect_response(lambda r: "/videos?" in r.url and "q=BROK" in r.url) as answer:
        page.get_by_label("Search titles").fill("BROK")  # a word's start, any case
    assert answer.value.status == 200
    row_of(page, "Test clip").wait_for(state="detached")
    assert row_of(page, "Broken upload").is_visible()
    page.get_by_label("Search titles").fill("roken")  # not the start of a word
    page.locator("#library-empty", has_text="roken").wait_for()
    assert page.locator("li.video-row").count() == 0
    page.get_by_label("Search titles").fill("")
    row_of(page, "Test clip").wait_for()


def test_chapters_transcript_search_and_clips(
    served: Served, uploaded: Uploaded, watched: Watched
) -> None:
    """Issue 26 part B in the page: the chapter lane seeks, the transcript panel lists the
    segments and asks the API's search (the words come from a stand-in transcript: the clip is a
    tone), a click on a line seeks there, and a range of the player becomes an instant clip."""
    import json

    doc = {
        "language": "en",
        "segments": [
            {"start": 0.4, "end": 1.0, "text": "Hello there.", "words": []},
            {"start": 2.2, "end": 2.8, "text": "General idea.", "words": []},
        ],
    }
    found = {"matches": [{"start": 2.25, "end": 2.5, "text": "General idea."}]}

    def transcript(route: Any) -> None:
        body = found if "q=gen" in route.request.url else doc
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page = watched.page
    page.route("**/transcript*", transcript)
    sign_in(page, served.base)
    page.goto(f"{served.base}/#/videos/{uploaded.good}")
    page.get_by_role("heading", name="Test clip").wait_for()
    video = page.locator("#player")
    video.evaluate("v => new Promise(r => v.readyState >= 1 ? r() : v.onloadedmetadata = r)")

    chapters = page.locator("#chapters-lane button")
    assert chapters.count() == 1 and chapters.first.text_content() == "Chapter 1"  # 3 s: one
    lines = page.locator("#transcript-list button")
    lines.nth(1).wait_for()
    assert "General idea." in (lines.nth(1).text_content() or "")
    lines.nth(1).click()
    page.wait_for_function(
        "() => Math.abs(document.querySelector('#player').currentTime - 2.2) < 0.2"
    )
    chapters.first.click()
    page.wait_for_function("() => document.querySelector('#player').currentTime < 0.1")

    with page.expect_request(lambda r: "transcript?q=gen" in r.url):
        page.get_by_label("Search the words").fill("gen")
        page.get_by_label("Search the words").press("Enter")
    page.locator("#transcript-status", has_text="1 match").wait_for()
    page.locator("#transcript-list button").first.click()
    page.wait_for_function(
        "() => Math.abs(document.querySelector('#player').currentTime - 2.25) < 0.2"
    )

    page.get_by_label("Start (s)").fill("0.5")
    page.get_by_label("End (s)").fill("2.5")
    page.get_by_role("button", name="Instant clip").click()
    link = page.locator("#clip-result a")
    link.wait_for()
    assert "/clip/500-2500/hls_master.m3u8?exp=" in (link.get_attribute("href") or "")
    page.get_by_label("End (s)").fill("99")  # past the end: the API's 400, shown
    page.get_by_role("button", name="New video of the range").click()
    page.locator("#clip-result", has_text="duration").wait_for()
    screenshot(page, "console-media-text.png")
    assert watched.problems() == []
