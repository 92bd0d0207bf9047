"""The video's life cycle: states, legal transitions, identifiers and timestamps."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from enum import Enum


class VideoStatus(str, Enum):
    UPLOADED = "uploaded"
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


STATUSES: tuple[str, ...] = tuple(s.value for s in VideoStatus)
ACTIVE: frozenset[str] = frozenset({VideoStatus.QUEUED.value, VideoStatus.PROCESSING.value})
# States from which a video may be (re)queued for processing.
QUEUEABLE: frozenset[str] = frozenset(
    {VideoStatus.UPLOADED.value, VideoStatus.COMPLETED.value, VideoStatus.FAILED.value}
)
# Result fields a new processing run clears, so an item never mixes two runs.
RESULT_FIELDS: tuple[str, ...] = (
    "media",
    "thumbnail",
    "storyboard",
    "transcoding",
    "analysis",
    "subtitles",
    "processingTimeMs",
    "stages",
    "error",
    "progress",
    "outputPrefix",
)

VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")  # the one id pattern: 128 random bits


def new_video_id() -> str:
    """128 random bits, URL-safe base64 without padding: unguessable and URL-safe."""
    return secrets.token_urlsafe(16)


def is_video_id(value: str) -> bool:
    return bool(VIDEO_ID_RE.fullmatch(value))


def utc_now() -> str:
    """ISO 8601 UTC with microseconds, so lexical order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
