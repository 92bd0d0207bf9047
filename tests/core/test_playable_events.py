"""`video.playable` once per run (issue 24): which change causes it (the store's condition:
tests/store/test_videos.py)."""

from __future__ import annotations

from chalicelib.domain import utc_now
from chalicelib.domain.events import for_change

PLAYBACK = {"hlsUrl": "media://x/y/hls_master.m3u8", "state": "partial"}


def kinds(item: dict) -> list[str]:
    return [e["type"] for e in for_change({"id": "v", **item}, 1)]


def test_which_changes_announce_a_playable_run() -> None:
    assert kinds({"status": "processing"}) == ["video.processing"]
    assert kinds({"status": "processing", "playback": PLAYBACK}) == ["video.playable"]
    at = utc_now()
    one_pass = {"status": "completed", "completedAt": at, "playableAt": at}
    assert kinds(one_pass) == ["video.playable", "video.completed"]
    earlier = {"status": "completed", "completedAt": at, "playableAt": "2026-01-01T00:00:00Z"}
    assert kinds(earlier) == ["video.completed"]  # announced while it was processing
    assert kinds({"status": "completed"}) == ["video.completed"]  # older items: no announcement
