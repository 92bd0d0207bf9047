"""Where a source video may come from: the one set of rules that both the API (at creation,
as a 400) and the processor (at fetch time, as a failed video) apply.

- `file://` (local mode): an existing regular file whose real path (symlinks and `..` resolved)
  is inside one of the source roots.
- `upload://{workspace}/{uploadId}/{name}` (local mode): a local upload, the file
  `{first source root}/uploads/{workspace}/{uploadId}/{name}`; the form `POST /uploads` hands
  out, so no response carries the server's absolute paths. It then follows the `file://` rules
  (older items hold the `file://` form of the same file, which stays valid).
- `s3://bucket/key`: one literal, normalized key (no empty, `.` or `..` segments, no `%`
  escapes, no query or fragment); in AWS it must be under the media bucket's `uploads/`
  prefix, the only one the processor may read. At creation the API also asks S3 whether the
  object exists (`s3_object_exists`, one HeadObject).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from chalicelib.errors import DependencyError

UPLOADS_PREFIX = "uploads/"  # where sources live in the media bucket (infra grants only this)
UPLOAD_SCHEME = "upload"  # local uploads: upload://{workspace}/{uploadId}/{name}
_UPLOAD_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_SEGMENT_RE = re.compile(r"^[A-Za-z0-9!_.*'()=+,;:@ -]+$")


class SourceRejected(Exception):
    """The source breaks a rule: `code` is the failed video's error code, `message` the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def resolve_local_source(raw_path: str, source_roots: Sequence[Path]) -> Path:
    """The real path of a local source: a regular file inside one of the roots.

    Symlinks are resolved first, so a link inside a root that points outside it is rejected;
    a missing path outside the roots is reported as outside (no probing of the host).
    """
    if not raw_path or "\x00" in raw_path or not raw_path.startswith("/"):
        raise SourceRejected("SourceNotFound", "The source path must be absolute.")
    roots = [Path(r).resolve() for r in source_roots]
    outside = SourceRejected(
        "SourceOutsideRoots", "The source is outside the allowed source directories."
    )
    try:
        real = Path(raw_path).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        if not any(_is_within(Path(os.path.abspath(raw_path)), root) for root in roots):
            raise outside from None
        raise SourceRejected("SourceNotFound", "The source file does not exist.") from None
    except (OSError, RuntimeError):  # symlink loops, permission problems
        raise SourceRejected("SourceNotFound", "The source file cannot be read.") from None
    if not any(_is_within(real, root) for root in roots):
        raise outside
    if not real.is_file():
        raise SourceRejected("SourceNotFound", "The source is not a regular file.")
    return real


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def uploads_prefix(workspace: str = "") -> str:
    """Where a workspace's uploads live (in the bucket, and under a local source root)."""
    return f"{UPLOADS_PREFIX}{workspace}/" if workspace else UPLOADS_PREFIX


def check_local_workspace(real: Path, source_roots: Sequence[Path], workspace: str) -> None:
    """A file under a root's `uploads/` must be in the caller's workspace's part of it."""
    for root in source_roots:
        uploads = Path(root).resolve() / UPLOADS_PREFIX.rstrip("/")
        if _is_within(real, uploads) and not _is_within(real, uploads / workspace):
            raise SourceRejected("SourceNotFound", "The source file does not exist.")


def upload_url(workspace: str, slot: str, name: str) -> str:
    """The `sourceUrl` of a local upload: relative to the uploads inbox, never a server path."""
    return f"{UPLOAD_SCHEME}://{workspace}/{slot}/{quote(name, safe='')}"


def parse_upload_url(url: str) -> tuple[str, str, str]:
    """`(workspace, uploadId, name)` of an `upload://` source (one literal segment each)."""
    parts = urlsplit(url)
    bad = SourceRejected(
        "UnsupportedSource", "An upload:// source must be upload://workspace/uploadId/name."
    )
    if parts.scheme.lower() != UPLOAD_SCHEME or "?" in url or "#" in url:
        raise bad
    segments = parts.path.split("/")
    if len(segments) != 3 or segments[0] != "":
        raise bad
    workspace, slot, name = parts.netloc, segments[1], unquote(segments[2])
    if not (_UPLOAD_SEGMENT_RE.match(workspace) and _UPLOAD_SEGMENT_RE.match(slot)):
        raise bad
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise bad
    return workspace, slot, name


def local_source_path(url: str, source_roots: Sequence[Path]) -> str:
    """The path a local source names (not yet checked: `resolve_local_source` does that):
    a `file://` URL's path, or where an `upload://` source lives under the first root."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise SourceRejected("UnsupportedSource", "file:// URLs must be file:///absolute/path")
        return unquote(parts.path)
    if scheme == UPLOAD_SCHEME and source_roots:
        workspace, slot, name = parse_upload_url(url)
        inbox = Path(source_roots[0]) / UPLOADS_PREFIX.rstrip("/")
        return str(inbox / workspace / slot / name)
    raise SourceRejected("UnsupportedSource", "The source must be a file:// or s3:// URL.")


def is_local_source(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("file", UPLOAD_SCHEME)


def public_source_url(url: str, source_roots: Sequence[Path]) -> str:
    """A `sourceUrl` as responses show it: an older item's `file://` URL of a local upload
    becomes its `upload://` form (no server path); anything else as it was given."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or not source_roots:
        return url
    inbox = Path(source_roots[0]) / UPLOADS_PREFIX.rstrip("/")
    path = Path(unquote(parts.path))
    if not path.is_relative_to(inbox) or len(path.relative_to(inbox).parts) != 3:
        return url
    candidate = upload_url(*path.relative_to(inbox).parts)
    try:
        parse_upload_url(candidate)
    except SourceRejected:
        return url
    return candidate


def parse_s3_source(url: str, media_bucket: str = "", workspace: str = "") -> tuple[str, str]:
    """`(bucket, key)` of an `s3://` source; with `media_bucket`, it must be an upload of it
    (of the caller's `workspace`, when given)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not _BUCKET_RE.match(parts.netloc):
        raise SourceRejected("UnsupportedSource", "An s3:// source must be s3://bucket/key.")
    if "?" in url or "#" in url:
        raise SourceRejected(
            "UnsupportedSource", "An s3:// source takes no query (?versionId=...) or fragment."
        )
    key = parts.path[1:] if parts.path.startswith("/") else parts.path
    segments = key.split("/")
    if not key or any(s in ("", ".", "..") or not _KEY_SEGMENT_RE.match(s) for s in segments):
        raise SourceRejected(
            "UnsupportedSource",
            "An s3:// source key must be one normalized object key: no empty, '.' or '..' "
            "segments and no %-escapes.",
        )
    prefix = uploads_prefix(workspace)
    if media_bucket and (parts.netloc != media_bucket or not key.startswith(prefix)):
        raise SourceRejected(  # the bucket's name stays out of the message (a 400's body)
            "UnsupportedSource",
            f"s3:// sources must be objects under the media bucket's {prefix} prefix: "
            "use the sourceUrl that POST /uploads returns.",
        )
    return parts.netloc, key


def s3_object_exists(s3_client: Any, bucket: str, key: str) -> bool:
    """Whether the source object exists (one HeadObject). False only when S3 answers 404;
    anything else raises `DependencyError` (a 503): an outage or throttling, and also 403,
    which with the API's grants (GetObject + ListBucket on `uploads/`) means a misconfigured
    role rather than a missing object."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or error.get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise DependencyError(
            f"the media store is unavailable ({error.get('Code') or type(exc).__name__}); try again"
        ) from exc
    except BotoCoreError as exc:
        raise DependencyError(
            f"the media store is unavailable ({type(exc).__name__}); try again"
        ) from exc
    return True
