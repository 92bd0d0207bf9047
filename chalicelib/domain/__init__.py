"""The domain: plain values and rules, no I/O. This module holds the video's life cycle
(states, legal transitions, identifiers, timestamps) and the record shape every port stores;
`domain.events` the events a change causes, `domain.access` who is acting."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from enum import Enum
from typing import Any

# A stored record (video, token, event, webhook, delivery) in the API's shape: camelCase fields.
Item = dict[str, Any]
DEFAULT_WORKSPACE = "default"  # items stored before workspaces existed belong to it


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
# What a processing run writes on the item: its results, its error, its progress and the run
# its files belong to (`runId`/`outputPrefix`; `segments`, which older items may carry).
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
    "runId",
    "segments",
    "cost",
    "downloads",  # issue 26
    "playback",  # {hlsUrl, state}: playable while processing ("partial"), then "complete"
    "playableAt",
)
RESULT_FIELDS += ("chapters", "chaptersVttUrl")  # issue 26: the run's chapters and their track
# Everything of one run: its results and its bookkeeping. Queueing a video again removes all of
# it in the same conditional write that sets the new run's `executionName` and `queuedAt`, so a
# queued or processing item shows nothing of an earlier run (and its stream route answers 404
# until the new run completes).
RUN_FIELDS: tuple[str, ...] = (
    *RESULT_FIELDS,
    "executionName",
    "queuedAt",
    "startedAt",
    "completedAt",
    "failedAt",
    "processedBy",  # the token that queued the run
)

VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")  # the one id pattern: 128 random bits


def new_video_id() -> str:
    """128 random bits, URL-safe base64 without padding: unguessable and URL-safe — and never
    starting with "-" or "_": an id that begins with "-" reads as an option on a command line
    (`video download -dCk…` failed with "the following arguments are required: id"). Redrawing
    the first character costs under 0.05 of a bit. Ids issued before keep working everywhere
    (VIDEO_ID_RE accepts them; the CLI takes them too)."""
    while True:
        value = secrets.token_urlsafe(16)
        if value[0].isalnum():
            return value


def is_video_id(value: str) -> bool:
    return bool(VIDEO_ID_RE.fullmatch(value))


def utc_now() -> str:
    """ISO 8601 UTC with microseconds, so lexical order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
