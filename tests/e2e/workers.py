"""Test double for the processor, run in the local pool's spawned worker processes.

It burns real CPU for a duration taken from the video's title (``busy:<ms>``) and moves the
video through the same store transitions as the real processor, so the scaling tests
exercise overlap and throttling without paying for ffmpeg on every video.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from chalicelib.config import Settings
from chalicelib.orchestrator.base import execution_name_of
from chalicelib.store.sqlite import SqliteVideoStore


def busy_worker(settings: Settings, event: dict[str, Any]) -> dict[str, Any]:
    store = SqliteVideoStore(settings.db_path)
    owner = {"executionName": execution_name_of(event["executionId"])}
    item = store.transition(event["videoId"], {"queued"}, "processing", only_if=owner)
    deadline = time.monotonic() + int(item["title"].split(":")[1]) / 1000
    digest = b""
    while time.monotonic() < deadline:
        digest = hashlib.sha256(digest + b"x" * 4096).digest()
    store.transition(
        event["videoId"], {"processing"}, "completed", {"checksum": digest.hex()}, only_if=owner
    )
    store.close()
    return {"videoId": event["videoId"], "status": "completed"}


def dying_worker(settings: Settings, event: dict[str, Any]) -> Any:
    """The real processor, except that the first time segment 1 runs, the environment's process
    dies half a second into it (as a crashed or reclaimed Lambda environment would)."""
    import os
    import threading

    from chalicelib.factory import run_processor_in_worker

    marker = settings.data_dir / "killed-once"
    if event.get("action") == "segment" and event.get("job") == 1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        threading.Timer(0.5, os._exit, (1,)).start()
    return run_processor_in_worker(settings, event)
