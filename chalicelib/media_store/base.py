"""Where processed media lives: a port with a local-directory and an S3 adapter.

Every processing run publishes into its own prefix `videos/{videoId}/{runId}/` holding one flat
set of files, so a reprocess never overwrites what viewers are using: the caller switches the
video item to the new prefix, then calls `delete_other_runs`. Locally, a run is written into a
staging directory and appears with a single rename.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from chalicelib.domain import VIDEO_ID_RE

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# One dot at most, a known extension, no leading dot: no traversal, no hidden files.
NAME_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,100}\.(mp4|m3u8|ts|m4s|jpg|vtt|srt|json|png|webp|gif|m4a)$"
)

CONTENT_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "m4s": "video/iso.segment",  # fMP4 (CMAF) HLS segments
    "jpg": "image/jpeg",
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "json": "application/json",
    "png": "image/png",  # renders (chalicelib/tasks/render.py)
    "webp": "image/webp",
    "gif": "image/gif",
    "m4a": "audio/mp4",  # the audio-only download
}
# A run prefix is never rewritten, so clients may cache its files for good.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


# A run still being processed (playable before it completes) holds, beside its finished HLS
# media files, immutable playlists of each contiguous finished prefix of its segments:
# `live_{variant}_{k:05d}.m3u8` (the first k segments; `variant` a rung's quality or "audio")
# and `live_master.m3u8`. The stream route serves them under the final names (`hls_720p.m3u8`,
# `hls_master.m3u8`) for the k the store records (`segments.published`).
LIVE_MASTER = "live_master.m3u8"
MASTER = "hls_master.m3u8"  # a run's HLS master playlist (transcode.MASTER_PLAYLIST)
_FINAL_PLAYLIST = re.compile(r"^hls_([A-Za-z0-9]{1,20})\.m3u8$")


def live_playlist_name(variant: str, published: int) -> str:
    """The playlist of `variant` ("720p", "audio") over the first `published` segments."""
    return f"live_{variant}_{published:05d}.m3u8"


def live_name(name: str, published: int) -> str | None:
    """The stored playlist served as `name` while the run is processing, or None."""
    if name == MASTER:
        return LIVE_MASTER
    m = _FINAL_PLAYLIST.match(name)
    return live_playlist_name(m.group(1), published) if m and published > 0 else None


def content_type(name: str) -> str:
    """Content type for a published file name (application/octet-stream when unknown)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return CONTENT_TYPES.get(ext, "application/octet-stream")


def is_valid_ids(video_id: str, run_id: str, name: str | None = None) -> bool:
    """True when the ids (and name) match the strict patterns every adapter enforces."""
    if not VIDEO_ID_RE.fullmatch(video_id) or not RUN_ID_RE.fullmatch(run_id):
        return False
    return name is None or bool(NAME_RE.fullmatch(name))


def run_prefix(video_id: str, run_id: str) -> str:
    """The key prefix of one run: `videos/{videoId}/{runId}`."""
    return f"videos/{video_id}/{run_id}"


def check_names(video_id: str, run_id: str, names: Sequence[str] = ()) -> None:
    if not is_valid_ids(video_id, run_id):
        raise ValueError("invalid video id or run id")
    for n in names:
        if not NAME_RE.fullmatch(n):
            raise ValueError(f"invalid media file name {n!r}")


class DeleteFailed(Exception):
    """A batch delete left objects behind (S3 `DeleteObjects` answers 200 with per-key errors):
    raised, never ignored, so a run whose files stayed is not reported clean."""

    def __init__(self, what: str, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        shown = ", ".join(f"{key} ({code})" for key, code in self.errors[:10])
        more = f" and {len(self.errors) - 10} more" if len(self.errors) > 10 else ""
        super().__init__(f"{what}: {len(self.errors)} objects not deleted: {shown}{more}")


MEDIA_SCHEME = "media://"


@dataclass(frozen=True)
class MediaRef:
    """A published file, as stored on the item: `media://{videoId}/{runId}/{name}`.

    The processor stores references, never URLs; the API renders them when an item is read
    (`chalicelib.api.render`), so presigned URLs are signed per read and never expire inside the
    database.
    """

    video_id: str
    run_id: str
    name: str

    def __str__(self) -> str:
        return f"{MEDIA_SCHEME}{self.video_id}/{self.run_id}/{self.name}"

    @classmethod
    def parse(cls, value: str) -> MediaRef | None:
        """The reference in `value`, or None when it is not a valid one."""
        if not value.startswith(MEDIA_SCHEME):
            return None
        parts = value[len(MEDIA_SCHEME) :].split("/", 2)
        if len(parts) != 3 or not is_valid_ids(*parts):
            return None
        return cls(*parts)


class MediaStore(Protocol):
    """Port: publish a run's files, give URLs for them, drop superseded runs."""

    # True when `url` already carries its own authorisation (S3 presigned); False when the API
    # must sign it (the local media route).
    urls_self_authenticate: bool

    def publish(self, video_id: str, run_id: str, files: Sequence[Path]) -> str:
        """Publish `files` (flat, named as they will be served) as one run, with whatever
        `copy_in`/`write_stream` put into it; return its prefix."""

    def copy_in(self, video_id: str, run_id: str, files: Sequence[tuple[str, str]]) -> None:
        """Put files stored elsewhere into the run being built, as (`ScratchStore.stored` value,
        name) pairs, without passing them through this host (S3: CopyObject; local: a link)."""

    def write_stream(self, video_id: str, run_id: str, name: str, stream: BinaryIO) -> int:
        """Write one file of the run being built from `stream` (read to its end, never held
        whole: S3 multipart upload); return its size in bytes."""

    def locate(self, video_id: str, run_id: str, name: str) -> str:
        """Where ffmpeg/PyAV read a file of the run being built: a path, or a presigned URL."""

    def discard(self, video_id: str, run_id: str) -> None:
        """Drop a run that was being built and will not be published."""

    def url(self, video_id: str, run_id: str, name: str, download: str | None = None) -> str:
        """A URL a browser can GET for one published file (`download`: served as an
        attachment of that file name)."""

    def read_text(self, video_id: str, run_id: str, name: str) -> str | None:
        """A published text file (playlist, index), or None when it does not exist."""

    def list_runs(self, video_id: str) -> list[str]:
        """Run ids currently stored for a video."""

    def delete_other_runs(self, video_id: str, keep_run_id: str) -> list[str]:
        """Delete every run of the video except `keep_run_id`; return the deleted run ids."""

    def delete_video(self, video_id: str) -> None:
        """Delete every run of the video."""


# --- downloads: a published file served as an attachment (issue 26) ---------------------------
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;%]+')
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._ ()+,=@-]+")


def _clean_name(text: str) -> str:
    import unicodedata

    return _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", text)).strip(" ._")


def attachment_name(title: str, quality: str, ext: str) -> str:
    """`<title>-<quality>.<ext>`, safe as a file name anywhere: no path separators, controls,
    quotes or reserved characters, no leading dots, at most ~120 characters."""
    return f"{(_clean_name(f'{title}-{quality}') or 'video')[:120]}.{ext}"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII `filename` and, when the name is not ASCII, RFC 6266's
    `filename*` (RFC 8187: UTF-8, percent-encoded). `filename` is sanitized again here."""
    import unicodedata
    from urllib.parse import quote

    name = _clean_name(filename)[:130] or "download"
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = _ASCII_NAME.sub("_", folded).strip(" ._") or "download"
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header
