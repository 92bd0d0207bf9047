"""Typed per-video failures: a stable code plus a message a person understands."""

from __future__ import annotations

import re


class MediaError(Exception):
    """A problem with one video's input or its processing; fails that video only.

    Codes: SourceNotFound, SourceOutsideRoots, SourceTooLarge, UnsupportedSource, NotAVideo,
    NoVideoStream, UnsupportedContainer, ZeroDuration, TooLong, Unreadable, TranscodeFailed,
    Timeout, ThumbnailFailed.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The shape stored on a failed video item."""
        return {"code": self.code, "message": self.message}


# what a tool's message may name that a video's recorded error must not show: a URL's
# query (a presigned URL's signature), and an absolute path (shown as its last segment)
_URL_QUERY_RE = re.compile(r"(https?://[^\s?'\"]*)\?[^\s'\"]*")
_ABS_PATH_RE = re.compile(r"(?<![\w:/.])(?:/[^\s/'\"]+)+/([^\s/'\"]+)")


def scrub(line: str) -> str:
    """A message (ffmpeg's, an exception's) without server paths or URL secrets: each
    absolute path cut to its last segment, each URL's query to `?…`."""
    return _ABS_PATH_RE.sub(r"\1", _URL_QUERY_RE.sub(r"\1?…", line))
