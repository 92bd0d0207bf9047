"""How the local server answers `GET`/`HEAD /media/...` for one file: status, headers, byte range.

Pure decisions (no I/O), so every case is testable on its own; `devserver.server` opens the
file, asks `plan_media` what to send, and streams that byte range from disk with sendfile.

- `ETag` (strong: size and mtime; a run's files are never rewritten) and `Last-Modified`;
  `If-None-Match` (weak comparison, `*`) and, without it, `If-Modified-Since` answer `304`.
- `Range` on `GET`: one `bytes=` range (`a-b`, `a-`, `-n`) answers `206` with `Content-Range`;
  a range that starts past the end, or `-0`, answers `416` with `Content-Range: bytes */size`.
  A syntactically invalid `Range`, or a multi-range one (`bytes=0-1,5-6`), is ignored: `200`
  and the whole file, which RFC 9110 allows (no multipart/byteranges responses here). An
  `If-Range` that does not match the current validator also means the whole file.
- `HEAD` answers the headers `GET` would (without a range: RFC 9110 defines ranges for GET only).
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from chalice.app import CORSConfig

# The /media route's CORS: players (hls.js) send Range and read Content-Range / Accept-Ranges.
MEDIA_CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Range", "If-None-Match", "If-Modified-Since", "If-Range"],
    expose_headers=["Accept-Ranges", "Content-Length", "Content-Range", "ETag"],
)
CACHE_CONTROL = "private, max-age=3600"
# The media route's handoff: the Chalice view never reads a file's body. It checks the
# signature, finds the file, and answers this header (`{videoId}/{runId}/{name}`) with an empty
# body; the server in front (`devserver.server`) streams that file from disk in its place,
# with ranges and validators. Never sent to a client.
HANDOFF_HEADER = "X-Media-Handoff"


def handoff_headers(
    video_id: str, run_id: str, name: str, content_type: str
) -> dict[str, str | list[str]]:
    """The view's answer: which file the streaming handler serves for this request."""
    return {
        HANDOFF_HEADER: f"{video_id}/{run_id}/{name}",
        "Content-Type": content_type,
        "Cache-Control": CACHE_CONTROL,
    }


def parse_handoff(value: str) -> tuple[str, str, str] | None:
    """`(videoId, runId, name)` of a handoff header (None when it is not one)."""
    parts = value.split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 and all(parts) else None


class LocalMediaFiles(Protocol):
    """Processed files on local disk (`Container.local_media()`), found by their URL's parts."""

    def resolve(self, video_id: str, run_id: str, name: str) -> Path | None:
        """The file, when it exists inside the media dir; None otherwise."""
        ...


_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$", re.IGNORECASE)


@dataclass(frozen=True)
class MediaPlan:
    """What to send: status and headers, then `length` bytes of the file from `offset`
    (none for HEAD), or `body` (an error document)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    offset: int = 0
    length: int = 0
    body: bytes = b""


def cors_headers() -> list[tuple[str, str]]:
    return list(MEDIA_CORS.get_access_control_headers().items())


def etag_of(size: int, mtime_ns: int) -> str:
    return f'"{size:x}-{mtime_ns:x}"'


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return None if parsed.tzinfo is None else parsed.timestamp()


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _weak_match(header: str, etag: str) -> bool:
    """If-None-Match: weak comparison (W/ prefixes ignored), or `*`."""
    opaque = etag.removeprefix("W/")
    return any(t == "*" or t.removeprefix("W/") == opaque for t in _tags(header))


def _if_range_holds(value: str, etag: str, last_modified: str) -> bool:
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # strong comparison; a weak tag never matches
    return value == last_modified


def parse_range(header: str, size: int) -> tuple[int, int] | Literal["ignore", "unsatisfiable"]:
    """One `bytes=` range as (offset, length); "ignore" for a header to ignore (invalid,
    several ranges); "unsatisfiable" for a range that starts past the end (or `-0`)."""
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:  # not bytes=, several ranges, or garbage
        return "ignore"
    first, last = match.groups()
    if not first and not last:
        return "ignore"
    if not first:  # suffix: the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        offset = max(0, size - suffix)
        return offset, size - offset
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return "ignore"  # an invalid range-spec makes the whole header invalid
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1) - start + 1


def plan_media(
    method: str,
    request_headers: Mapping[str, str],
    size: int,
    mtime: float,
    mtime_ns: int,
    content_type: str,
) -> MediaPlan:
    """`request_headers` keyed in lower case."""
    etag = etag_of(size, mtime_ns)
    last_modified = email.utils.formatdate(int(mtime), usegmt=True)
    validators = [
        ("ETag", etag),
        ("Last-Modified", last_modified),
        ("Cache-Control", CACHE_CONTROL),
        *cors_headers(),
    ]
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        if _weak_match(if_none_match, etag):
            return MediaPlan(304, validators)
    else:
        since = _http_date(request_headers.get("if-modified-since"))
        if since is not None and int(mtime) <= since:
            return MediaPlan(304, validators)

    headers = [("Content-Type", content_type), ("Accept-Ranges", "bytes"), *validators]
    range_header = request_headers.get("range")
    if_range = request_headers.get("if-range")
    if (
        method == "GET"
        and range_header is not None
        and (if_range is None or _if_range_holds(if_range, etag, last_modified))
    ):
        wanted = parse_range(range_header, size)
        if wanted == "unsatisfiable":
            error = {
                "error": {
                    "code": "RangeNotSatisfiable",
                    "message": f"the file has {size} bytes; ask for a range inside them",
                }
            }
            return MediaPlan(
                416,
                [
                    ("Content-Type", "application/json"),
                    ("Content-Range", f"bytes */{size}"),
                    *cors_headers(),
                ],
                body=json.dumps(error).encode(),
            )
        if isinstance(wanted, tuple):
            offset, length = wanted
            content_range = f"bytes {offset}-{offset + length - 1}/{size}"
            return MediaPlan(
                206, [*headers, ("Content-Range", content_range)], offset=offset, length=length
            )
    return MediaPlan(200, headers, offset=0, length=size)
