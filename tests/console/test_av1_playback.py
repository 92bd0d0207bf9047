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


@pytest.fixture(scope="module")
def ladder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s 480p clip encoded as one H.264 and one AV1 rendition, with the master playlist."""
    exe = ffmpeg_exe()
    work = tmp_path_factory.mktemp("av1-ladder")
    subprocess.run(
        [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "testsrc2=s=640x480:r=25:d=4", "-f", "lavfi", "-i", "sine=f=440:d=4",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-shortest", str(work / "source.mp4")],
        check=True,
    )  # fmt: skip
    (work / "source").symlink_to(work / "source.mp4")
    info = probe(work / "source.mp4", max_duration=60, exe=exe)
    rungs = transcode.plan_ladder(info.width, info.height)
    rungs += [transcode.Rung(r.quality, r.width, r.height, r.maxrate_kbps, 35, "av1")
              for r in rungs]  # fmt: skip
    transcode.transcode(work, info, exe=exe, timeout=300, rungs=rungs, preset="ultrafast")
    shutil.copyfile(HLS_JS, work / HLS_JS.name)
    (work / "index.html").write_text(PAGE, encoding="utf-8")
    (work / "play.js").write_text(SCRIPT, encoding="utf-8")
    return work


@pytest.fixture(scope="module")
def origin(ladder_dir: Path) -> Iterator[str]:
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
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["avc1", "av01"])
def test_each_codec_variant_of_the_master_plays_in_chromium(origin: str, codec: str) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{origin}/index.html?codec={codec}")
            page.wait_for_function(
                "() => document.getElementById('v').currentTime > 1.5 || "
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
