"""AV1 beside H.264 in one master playlist: Debian's chromium with the console's vendored hls.js
plays each variant (H.264 in MPEG-TS, AV1 in fMP4), served from loopback."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chalicelib.media import transcode
from chalicelib.media.ffmpeg import ffmpeg_exe
from chalicelib.media.probe import probe
from tests.conftest import ROOT
from tests.console.conftest import CHROMIUM_ARGS

HLS_JS = ROOT / "chalicelib" / "console" / "static" / "hls.min.js"
PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted playsinline></video>
<script src="hls.min.js"></script><script src="play.js"></script>"""
# Plays the variant whose CODECS start with ?codec=, locked to it (manual level).
SCRIPT = """
const want = new URLSearchParams(location.search).get("codec");
const video = document.getElementById("v");
const hls = new Hls({ enableWorker: false });
window.result = { levels: [], playing: null, errors: [] };
hls.on(Hls.Events.MANIFEST_PARSED, () => {
  window.result.levels = hls.levels.map((l) => l.attrs.CODECS);
  const index = hls.levels.findIndex((l) => l.attrs.CODECS.startsWith(want));
  hls.currentLevel = index;
  video.play();
});
hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => {
  window.result.playing = hls.levels[d.level].attrs.CODECS;
});
hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.result.errors.push(d.details); });
hls.loadSource("hls_master.m3u8");
hls.attachMedia(video);
"""


def _source(exe: str, work: Path, seconds: int) -> Path:
    path = work / "source.mp4"
    subprocess.run(
        [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=s=640x480:r=25:d={seconds}", "-f", "lavfi", "-i",
         f"sine=f=440:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
         "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _page(folder: Path) -> Path:
    shutil.copyfile(HLS_JS, folder / HLS_JS.name)
    (folder / "index.html").write_text(PAGE, encoding="utf-8")
    (folder / "play.js").write_text(SCRIPT, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def ladder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s 480p clip encoded as one H.264 and one AV1 rendition, with the master playlist."""
    exe = ffmpeg_exe()
    work = tmp_path_factory.mktemp("av1-ladder")
    (work / "source").symlink_to(_source(exe, work, 4))
    info = probe(work / "source.mp4", max_duration=60, exe=exe)
    rungs = transcode.plan_ladder(info.width, info.height)
    rungs += [transcode.Rung(r.quality, r.width, r.height, r.maxrate_kbps, 35, "av1")
              for r in rungs]  # fmt: skip
    transcode.transcode(work, info, exe=exe, timeout=300, rungs=rungs, preset="ultrafast")
    return _page(work)


def segmented_dir(work: Path) -> Path:
    """An 8 s 480p clip through the segmented path (4 s segments) with `VIDEO_CODECS=h264,av1`:
    the run's folder, whose AV1 playlist names each segment's init before its pieces."""
    from chalicelib.config import Settings
    from chalicelib.media_store.local import LocalMediaStore
    from chalicelib.media_store.scratch import LocalScratchStore
    from chalicelib.processing import segmented
    from chalicelib.processing.context import new_run_id
    from tests.media.test_pipeline import media_path

    inbox = work / "data" / "inbox"
    inbox.mkdir(parents=True)
    source = _source(ffmpeg_exe(), inbox, 8)
    settings = Settings(backend="local", data_dir=work / "data", source_roots=(inbox,),
                        public_base_url="http://127.0.0.1:8000", whisper_model="off",
                        x264_preset="ultrafast", segment_seconds=4,
                        video_codecs=("h264", "av1"))  # fmt: skip
    scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    vid, run_id = "Av1SegmentedPlayback01", new_run_id()
    prepared = segmented.prepare(vid, run_id, source.as_uri(), settings, scratch)
    assert prepared.planned is not None and prepared.planned["segments"] == 2
    for job in prepared.planned["jobs"]:
        segmented.run_job(vid, run_id, job, settings, scratch)
    result = segmented.assemble(vid, run_id, settings, scratch, store)
    folder = media_path(store, result["transcoding"]["formats"][0]["url"]).parent
    assert (folder / "hls_av1_480p.m3u8").read_text().count("#EXT-X-MAP:") == 2
    return _page(folder)


@pytest.fixture(scope="module", params=["one-pass", "segmented"])
def origin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, float]]:  # fmt: skip
    """The ladder of one path served from loopback: one-pass (4 s) or segmented (8 s, played
    past the segment boundary at 4 s)."""
    if request.param == "one-pass":
        ladder_dir = request.getfixturevalue("ladder_dir")
    else:
        ladder_dir = segmented_dir(tmp_path_factory.mktemp("av1-segmented"))

    class Quiet(SimpleHTTPRequestHandler):
        extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                          ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
                          ".m4s": "video/iso.segment", ".js": "text/javascript"}  # fmt: skip

        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(ladder_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    played = 1.5 if request.param == "one-pass" else 5.5  # past the boundary at 4 s
    yield f"http://127.0.0.1:{server.server_address[1]}", played
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["avc1", "av01"])
def test_each_codec_variant_of_the_master_plays_in_chromium(
    origin: tuple[str, float], codec: str
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            base, until = origin
            page.goto(f"{base}/index.html?codec={codec}")
            page.wait_for_function(
                f"() => document.getElementById('v').currentTime > {until} || "
                "window.result.errors.length > 0",
                timeout=60_000,
            )
            result = page.evaluate("() => window.result")
            size = page.evaluate(
                "() => [document.getElementById('v').videoWidth, "
                "document.getElementById('v').videoHeight]"
            )
        finally:
            browser.close()
    assert result["errors"] == []
    assert sorted(c.split(",")[0] for c in result["levels"]) == ["av01.0.08M.08", "avc1.640028"]
    assert result["playing"].startswith(codec)
    assert size == [640, 480]
