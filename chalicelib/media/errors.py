"""Typed per-video failures: a stable code plus a message a person understands."""

from __future__ import annotations


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
