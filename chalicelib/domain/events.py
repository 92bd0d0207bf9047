"""The events a state change causes, built from the item as it is after the change.

The store writes them in the same transaction as the change (SQLite: one transaction;
DynamoDB: TransactWriteItems), so a crash can neither lose an event nor emit one for a change
that did not happen. An event keeps the raw item (media references); URLs are rendered when it
is delivered, so signed URLs are fresh.
"""

from __future__ import annotations

import os
from typing import Any

from chalicelib.domain import DEFAULT_WORKSPACE, Item, VideoStatus, utc_now

TYPES = (
    "video.created",
    "video.queued",
    "video.processing",
    "video.rendition.ready",
    "video.playable",
    "video.completed",
    "video.failed",
)
TEST_TYPE = "webhook.test"
SEQUENCE_FIELD = "eventSequence"  # per video, +1 per event: receivers drop stale ones
_BY_STATUS = {
    VideoStatus.UPLOADED.value: "video.created",
    VideoStatus.QUEUED.value: "video.queued",
    VideoStatus.PROCESSING.value: "video.processing",
    VideoStatus.COMPLETED.value: "video.completed",
    VideoStatus.FAILED.value: "video.failed",
}


def new_event_id() -> str:
    return f"evt_{os.urandom(16).hex()}"  # 128 random bits


def event(kind: str, item: Item, sequence: int, data: Item | None = None) -> Item:
    return {
        "id": new_event_id(),
        "type": kind,
        "createdAt": utc_now(),
        "workspace": item.get("workspace", DEFAULT_WORKSPACE),
        "videoId": item["id"],
        "sequence": sequence,
        "data": data if data is not None else item,
    }


def for_change(item: Item, first_sequence: int) -> list[Item]:
    """The events of a video that just reached `item["status"]` (in order), numbered from
    `first_sequence`. A completed video first announces each rendition, then completion
    (preceded by `video.playable` when it was not playable before); a processing one that
    got `playback` is `video.playable`."""
    out: list[Item] = []
    kind = _BY_STATUS.get(item["status"])
    if kind is None:
        return out
    if kind == "video.processing" and "playback" in item:
        # The only change that stays `processing` and sets `playback`, once per run (the
        # processor's write requires it absent): the run can be watched now.
        return [event("video.playable", item, first_sequence)]
    done_at = item.get("completedAt")
    if kind == "video.completed" and done_at and item.get("playableAt") == done_at:
        # a run not playable before it completed (one pass) announces it here, once
        out.append(event("video.playable", item, first_sequence))
    if kind == "video.completed":
        for fmt in (item.get("transcoding") or {}).get("formats", []):
            rendition = {"video": item, "rendition": fmt}
            out.append(event("video.rendition.ready", item, first_sequence + len(out), rendition))
    out.append(event(kind, item, first_sequence + len(out)))
    return out


def matches(subscribed: list[str] | None, kind: str) -> bool:
    """A webhook with no `events` list receives every type."""
    return kind == TEST_TYPE or not subscribed or kind in subscribed


def envelope(evt: Item, render: Any) -> Item:
    """The body receivers get: `{id, type, createdAt, workspace, data}`, URLs rendered now."""
    data = evt["data"]
    if evt["type"] == "video.rendition.ready":
        data = {"video": render(data["video"]), "rendition": render_nested(data, render)}
    elif evt["type"] != TEST_TYPE:
        data = render(data)
    body = {k: evt[k] for k in ("id", "type", "createdAt", "workspace")}
    body["data"] = {**data, "sequence": evt.get("sequence")} if isinstance(data, dict) else data
    return body


def render_nested(data: Item, render: Any) -> Any:
    """A rendition's URLs, rendered through the video they belong to."""
    video = {**data["video"], "transcoding": {"formats": [data["rendition"]]}}
    formats = render(video).get("transcoding", {}).get("formats", [{}])
    return formats[0] if formats else data["rendition"]
