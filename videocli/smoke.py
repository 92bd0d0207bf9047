"""`make smoke API=https://… TOKEN=…`: the smallest check a user runs after `cdk deploy`.

It walks the walkthrough's curl flow against a running service — health, upload a short clip,
create, process, poll until the video ends, list by status — and prints each step's time. Exit 0
when the video completed and every step answered as documented, 1 otherwise (the failing step
and the API's error are printed), 2 for bad arguments.

Usage: python -m videocli.smoke --url URL [--token TOKEN] [--source FILE | --source-url URL]
(VIDEO_API_URL / VIDEO_TOKEN are read when the flags are absent). Without a source it makes a
4 s 320x240 clip with a tone (needs the bundled ffmpeg: `make install`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from videocli import clips
from videocli.client import ApiError, Client

TERMINAL = ("completed", "failed")


class SmokeFailed(Exception):
    """A step answered something other than what the walkthrough documents."""


@dataclass
class Step:
    name: str
    seconds: float
    detail: str


@dataclass
class Smoke:
    api: Client
    out: TextIO = sys.stdout
    poll_seconds: float = 2.0
    timeout_seconds: float = 900.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    steps: list[Step] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], tuple[Any, str]]) -> Any:
        started = self.clock()
        try:
            value, detail = action()
        except (ApiError, SmokeFailed) as exc:
            raise SmokeFailed(f"{name}: {exc}") from exc
        seconds = self.clock() - started
        self.steps.append(Step(name, seconds, detail))
        print(f"{name:<10} {seconds:8.2f} s  {detail}", file=self.out, flush=True)
        return value

    def run(self, source: Path | None, source_url: str | None) -> dict[str, Any]:
        self.step("health", self._health)
        if source_url is None:
            assert source is not None
            source_url = self.step("upload", lambda: self._upload(source))
        video = self.step("create", lambda: self._create(str(source_url)))
        self.step("process", lambda: self._process(video["id"]))
        done = self.step("poll", lambda: self._poll(video["id"]))
        self.step("list", lambda: self._listed(video["id"]))
        return dict(done)

    def _health(self) -> tuple[Any, str]:
        health = self.api.health()
        if health.get("status") != "healthy":
            raise SmokeFailed(f"/health answered {health}")
        return health, f"healthy, backend {health.get('backend')}"

    def _upload(self, source: Path) -> tuple[str, str]:
        uploaded = self.api.upload_file(source)
        return uploaded["sourceUrl"], f"{uploaded['size']} bytes -> {uploaded['sourceUrl']}"

    def _create(self, source_url: str) -> tuple[dict[str, Any], str]:
        video = self.api.create_video("smoke test", source_url, "make smoke")
        if video.get("status") != "uploaded":
            raise SmokeFailed(f"a new video should be 'uploaded', got {video.get('status')}")
        return video, f"video {video['id']}"

    def _process(self, video_id: str) -> tuple[dict[str, Any], str]:
        started = self.api.process(video_id)
        return started, f"execution {started.get('executionArn', '?').rsplit(':', 1)[-1]}"

    def _poll(self, video_id: str) -> tuple[dict[str, Any], str]:
        deadline = self.clock() + self.timeout_seconds
        seen: list[str] = []
        while True:
            video = self.api.get_video(video_id)
            if not seen or seen[-1] != video["status"]:
                seen.append(video["status"])
            if video["status"] in TERMINAL:
                break
            if self.clock() > deadline:
                raise SmokeFailed(f"still {video['status']} after {self.timeout_seconds:.0f} s")
            self.sleep(self.poll_seconds)
        if video["status"] == "failed":
            error = video.get("error") or {}
            raise SmokeFailed(f"the video failed: {error.get('code')}: {error.get('message')}")
        formats = (video.get("transcoding") or {}).get("formats") or []
        if not formats or not (video.get("transcoding") or {}).get("hls"):
            raise SmokeFailed("a completed video without renditions or an HLS master")
        return video, " -> ".join(seen) + f" ({len(formats)} renditions)"

    def _listed(self, video_id: str) -> tuple[None, str]:
        ids = [v["id"] for v in self.api.list_videos(status="completed", limit=50)]
        if video_id not in ids:
            raise SmokeFailed("the completed video is missing from GET /videos?status=completed")
        return None, f"found among {len(ids)} completed"


def make_clip(directory: Path) -> Path:
    """A 4 s 320x240 clip with a 440 Hz tone, made by the bundled ffmpeg."""
    return clips.make_clip(directory / "smoke.mp4", 4, "320x240")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smoke", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("VIDEO_API_URL", ""), help="the API's base URL")
    p.add_argument("--token", default=os.environ.get("VIDEO_TOKEN", ""), help="a write token")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--source", type=Path, help="a video file to upload")
    group.add_argument("--source-url", help="a source the service accepts (skips the upload)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the video")
    p.add_argument("--json", action="store_true", help="print the steps as JSON at the end")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.url:
        print("smoke: give --url (or API=… to make, or VIDEO_API_URL)", file=sys.stderr)
        return 2
    api = Client(base_url=args.url.rstrip("/"), token=args.token or None)
    smoke = Smoke(api, timeout_seconds=args.timeout)
    with tempfile.TemporaryDirectory(prefix="smoke-") as tmp:
        source = args.source
        if source is None and args.source_url is None:
            source = make_clip(Path(tmp))
        try:
            video = smoke.run(source, args.source_url)
        except SmokeFailed as exc:
            print(f"FAILED at {exc}", file=sys.stderr)
            return 1
    total = sum(s.seconds for s in smoke.steps)
    print(f"{'total':<10} {total:8.2f} s  video {video['id']} completed", flush=True)
    if args.json:
        print(json.dumps({"videoId": video["id"], "steps": [s.__dict__ for s in smoke.steps]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
