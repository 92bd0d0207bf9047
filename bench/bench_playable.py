"""`make bench-playable`: how soon a real player plays a video that is still being processed.

For each length (default 1 and 3 minutes; `--minutes 1 3 10`) of generated 1080p30 (moving
test pattern with film grain, a tone), the local product (`make run`'s server, 2 environments,
default settings otherwise) processes it twice in one run:

* **baseline**: `VIDEO_PLAYABLE_SECONDS=0`, today's behaviour: the plan of 60 s segments, the
  video playable only once it completes;
* **playable**: the defaults (short first segments published as they finish).

A headless Chromium (Debian's, driven by Playwright) opens the item's `playback.hlsUrl` with the
console's vendored hls.js as soon as the item has one, from the start of the video. Reported, from
`POST /process`: the first `playback` on the item, the first played frame, 2 s played, and the
completion; then whether the completed playlists are whole (ENDLIST, full duration) and list the
same pieces with the same durations as the baseline's.

The machine is shared: `uptime` is printed beside the figures; wall times are the product's on
this machine at that load, the ratios within one run are what compares.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "bench-operator-token-0123456789abcdef"
HLS_JS = ROOT / "chalicelib" / "console" / "static" / "hls.min.js"
PLAYER = """
async (url) => {
  const t0 = performance.now();
  const out = {};
  const video = document.createElement("video");
  video.muted = true;
  document.body.appendChild(video);
  const hls = new Hls({startPosition: 0, liveDurationInfinity: true, liveSyncDurationCount: 1e9});
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) out.error = d.details; });
  hls.loadSource(url);
  hls.attachMedia(video);
  video.requestVideoFrameCallback(() => { out.firstFrame = (performance.now() - t0) / 1000; });
  video.play().catch(() => {});
  window.__bench = {video, hls, out, t0};
}
"""


def uptime() -> str:
    return subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()


def make_source(out: Path, seconds: int) -> None:
    from chalicelib.media.ffmpeg import ffmpeg_exe

    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={seconds},noise=alls=4:allf=t",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(out),
        ],
        check=True,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`make run`'s server on its own data dir, with `env` on top of the defaults."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, "VIDEO_DATA_DIR": str(data), "VIDEO_BACKEND": "local",
                "VIDEO_ADMIN_TOKEN": TOKEN, "VIDEO_SCALE_MIN": "2", "VIDEO_SCALE_MAX": "2",
                "VIDEO_SOURCE_ROOTS": str(data / "sources"), **env}  # fmt: skip
        for name in ("VIDEO_PUBLIC_URL", "VIDEO_BUCKET"):
            full.pop(name, None)
        self.log = (data / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "devserver"), "--port", str(self.port)],
            env=full, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the server did not start")

    def call(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def text(self, url: str) -> str:
        full = url if url.startswith("http") else self.base + url
        with urllib.request.urlopen(full, timeout=60) as resp:
            return str(resp.read().decode())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def playlists(server: Server, master_url: str) -> dict[str, list[tuple[str, str]]]:
    """Each media playlist of a master: (EXTINF duration, file name) per piece, and whether it
    ends (an `#END` row)."""
    master = server.text(master_url)
    base = master_url.split("?", 1)[0].rsplit("/", 1)[0]
    refs = [line for line in master.splitlines() if line and not line.startswith("#")]
    refs += re.findall(r'URI="([^"]+)"', master)
    out: dict[str, list[tuple[str, str]]] = {}
    for ref in refs:
        name = ref.split("?", 1)[0].rsplit("/", 1)[-1]
        text = server.text(ref if ref.startswith("http") else f"{base}/{ref}")
        rows: list[tuple[str, str]] = []
        duration = ""
        for line in text.splitlines():
            if line.startswith("#EXTINF:"):
                duration = line[8:].rstrip(",")
            elif line and not line.startswith("#"):
                rows.append((duration, line.split("?", 1)[0].rsplit("/", 1)[-1]))
            elif line == "#EXT-X-ENDLIST":
                rows.append(("#END", ""))
        out[name] = rows
    return out


def run_once(browser: Any, source: Path, data: Path, env: dict[str, str]) -> dict[str, Any]:  # noqa: C901
    server = Server(data, env)
    try:
        vid = server.call("/videos", "POST", {"title": "bench", "sourceUrl": source.as_uri()})["id"]
        t0 = time.monotonic()
        server.call(f"/videos/{vid}/process", "POST")
        marks: dict[str, float] = {}
        page = None
        started = 0.0
        item: dict[str, Any] = {}
        while True:
            item = server.call(f"/videos/{vid}")
            now = time.monotonic() - t0
            if item.get("playback") and "playable" not in marks:
                marks["playable"] = now
                marks["playableState"] = 1.0 if item["playback"]["state"] == "partial" else 0.0
                page = browser.new_page()
                page.goto(server.base + "/")  # the console's origin and its vendored hls.js
                page.add_script_tag(url=server.base + "/console/" + HLS_JS.name)
                page.evaluate(PLAYER, item["playback"]["hlsUrl"])
                started = now
            if page is not None and "played2" not in marks:
                state = page.evaluate(
                    "() => ({t: window.__bench.video.currentTime, ...window.__bench.out})"
                )
                if state.get("firstFrame") and "firstFrame" not in marks:
                    marks["firstFrame"] = started + float(state["firstFrame"])
                if state.get("error"):
                    marks["playerError"] = 1.0
                    print("player error:", state["error"], file=sys.stderr)
                if float(state.get("t") or 0) >= 2.0:
                    marks["played2"] = now
            if item["status"] in ("completed", "failed") and "complete" not in marks:
                marks["complete"] = now
            if "complete" in marks and ("played2" in marks or now - marks["complete"] > 60):
                break
            time.sleep(0.2)
        assert item["status"] == "completed", item.get("error")
        try:
            lists = playlists(server, item["playback"]["hlsUrl"])
        except (OSError, urllib.error.URLError) as exc:  # reported, not fatal: the times stand
            print(f"playlists unreadable: {exc}", file=sys.stderr)
            lists = {}
        if page is not None:
            page.close()
        return {"marks": marks, "playlists": lists, "duration": item["media"]["duration"]}
    finally:
        server.close()


def whole(lists: dict[str, list[tuple[str, str]]], duration: float) -> bool:
    """Every playlist ends and covers the duration (within a frame or an AAC frame)."""
    for rows in lists.values():
        if not rows or rows[-1][0] != "#END":
            return False
        total = sum(float(d) for d, _ in rows[:-1])
        if abs(total - duration) > 0.2:
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 3])
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        print("needs Debian's chromium", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-playable-"))
    rows = []
    print(f"start: {uptime()}")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium,
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--autoplay-policy=no-user-gesture-required"],
            )  # fmt: skip
            for minutes in args.minutes:
                seconds = int(minutes * 60)
                sources = tmp / f"m{minutes}" / "sources"
                sources.mkdir(parents=True)
                source = sources / "source.mp4"
                make_source(source, seconds)
                result = {}
                for mode, env in (("baseline", {"VIDEO_PLAYABLE_SECONDS": "0"}),
                                  ("playable", {})):  # fmt: skip
                    data = tmp / f"m{minutes}" / mode
                    (data / "sources").mkdir(parents=True)
                    os.link(source, data / "sources" / "source.mp4")
                    result[mode] = run_once(browser, data / "sources" / "source.mp4", data, env)
                    print(f"{minutes} min {mode}: {json.dumps(result[mode]['marks'])}  "
                          f"[{uptime()}]", flush=True)  # fmt: skip
                rows.append((minutes, result))
            browser.close()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(
        "| source | mode | playable | first frame | 2 s played | complete | 2 s played / "
        "complete | complete vs baseline | playlists whole | same as baseline |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for minutes, result in rows:
        base = result["baseline"]
        for mode in ("baseline", "playable"):
            r = result[mode]
            m = r["marks"]
            same = "—" if mode == "baseline" else str(r["playlists"] == base["playlists"])
            print(f"| {minutes:g} min 1080p | {mode} | {m.get('playable', 0):.1f} s | "
                  f"{m.get('firstFrame', 0):.1f} s | {m.get('played2', 0):.1f} s | "
                  f"{m['complete']:.1f} s | {m.get('played2', 0) / m['complete']:.0%} | "
                  f"{m['complete'] / base['marks']['complete']:.2f} | "
                  f"{whole(r['playlists'], r['duration'])} | {same} |")  # fmt: skip
    print(f"\nend: {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
