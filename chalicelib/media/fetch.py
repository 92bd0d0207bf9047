"""Bring a source into the run's private temp dir under the fixed name `source`.

The user's file name never reaches a command line or a path: only `source` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib import sources
from chalicelib.media.errors import MediaError

SOURCE_NAME = "source"
_CHUNK = 1024 * 1024


def _too_large(limit: int) -> MediaError:
    return MediaError(
        "SourceTooLarge", f"The source is larger than the limit of {limit / 1024**3:.2f} GiB."
    )


def fetch_source(
    source_url: str,
    dest_dir: Path,
    *,
    source_roots: Sequence[Path],
    max_bytes: int,
    s3_client: Any = None,
) -> Path:
    """Copy `source_url` (`file://` or `upload://` inside `source_roots`, or `s3://bucket/key`)
    to dest_dir/source.

    Raises MediaError: SourceNotFound, SourceOutsideRoots, SourceTooLarge, UnsupportedSource.
    """
    parts = urlsplit(source_url)
    dest = dest_dir / SOURCE_NAME
    if sources.is_local_source(source_url):
        _fetch_file(_local_path(source_url, source_roots), dest, source_roots, max_bytes)
    elif parts.scheme == "s3":
        try:
            bucket, key = sources.parse_s3_source(source_url)
        except sources.SourceRejected as exc:
            raise MediaError(exc.code, exc.message) from None
        _fetch_s3(bucket, key, dest, max_bytes, s3_client)
    else:
        raise MediaError("UnsupportedSource", "The source must be a file:// or s3:// URL.")
    return dest


def resolve_local_source(raw_path: str, source_roots: Sequence[Path]) -> Path:
    """`chalicelib.sources.resolve_local_source`, failing the video with the rule's code."""
    try:
        return sources.resolve_local_source(raw_path, source_roots)
    except sources.SourceRejected as exc:
        raise MediaError(exc.code, exc.message) from None


def _local_path(source_url: str, source_roots: Sequence[Path]) -> str:
    """The path a `file://` or `upload://` source names (checked by `resolve_local_source`)."""
    if urlsplit(source_url).netloc not in ("", "localhost") and source_url.startswith("file:"):
        raise MediaError("UnsupportedSource", "file:// sources must be on this host.")
    try:
        return sources.local_source_path(source_url, source_roots)
    except sources.SourceRejected as exc:
        raise MediaError(exc.code, exc.message) from None


def _fetch_file(raw_path: str, dest: Path, roots: Sequence[Path], max_bytes: int) -> None:
    real = resolve_local_source(raw_path, roots)
    try:
        src = open(real, "rb")  # noqa: SIM115 - closed below; opened once so the checks hold
    except OSError:
        raise MediaError("SourceNotFound", "The source file cannot be read.") from None
    with src, open(dest, "wb") as out:
        if os.fstat(src.fileno()).st_size > max_bytes:
            raise _too_large(max_bytes)
        copied = 0
        # Counted while copying too: the file may grow after the size check.
        while chunk := src.read(_CHUNK):
            copied += len(chunk)
            if copied > max_bytes:
                raise _too_large(max_bytes)
            out.write(chunk)


def _head_s3(bucket: str, key: str, max_bytes: int, s3_client: Any) -> tuple[Any, dict[str, Any]]:
    """(client, HeadObject answer) of a source object within the size limit."""
    if not bucket or not key:
        raise MediaError("UnsupportedSource", "An s3:// source needs a bucket and a key.")
    if s3_client is None:
        import boto3  # lazy: local mode never needs it

        s3_client = boto3.client("s3")
    from botocore.exceptions import ClientError

    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
            raise MediaError("SourceNotFound", "The source object does not exist.") from None
        raise
    if int(head.get("ContentLength", 0)) > max_bytes:
        raise _too_large(max_bytes)
    return s3_client, head


def _fetch_s3(bucket: str, key: str, dest: Path, max_bytes: int, s3_client: Any) -> None:
    s3_client, head = _head_s3(bucket, key, max_bytes, s3_client)
    # Pinned to the version just checked, so an overwrite cannot swap in a bigger object.
    extra = {"VersionId": head["VersionId"]} if head.get("VersionId") else None
    s3_client.download_file(bucket, key, str(dest), ExtraArgs=extra)
    if dest.stat().st_size > max_bytes:  # unversioned buckets: check what actually arrived
        raise _too_large(max_bytes)


PRESIGN_SECONDS = 6 * 3600  # a source URL outlives the longest invocation reading it


def presign_get(s3_client: Any, bucket: str, key: str, version: str | None = None) -> str:
    """A presigned GET of one object for ffmpeg/PyAV (ranged reads: a seek reads only what it
    needs)."""
    params = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
    url = s3_client.generate_presigned_url("get_object", Params=params, ExpiresIn=PRESIGN_SECONDS)
    return str(url)


def locate_source(
    source_url: str, *, source_roots: Sequence[Path], max_bytes: int, s3_client: Any = None
) -> tuple[str, int]:
    """Where ffmpeg and PyAV read a source in place, and its size in bytes: the real path of a
    `file://` or `upload://` source, or a presigned GET of an `s3://` object (nothing is
    downloaded). Checks as `fetch_source` does (same codes)."""
    parts = urlsplit(source_url)
    if sources.is_local_source(source_url):
        real = resolve_local_source(_local_path(source_url, source_roots), source_roots)
        try:
            size = real.stat().st_size
        except OSError:
            raise MediaError("SourceNotFound", "The source file cannot be read.") from None
        if size > max_bytes:
            raise _too_large(max_bytes)
        return str(real), size
    if parts.scheme != "s3":
        raise MediaError("UnsupportedSource", "The source must be a file:// or s3:// URL.")
    try:
        bucket, key = sources.parse_s3_source(source_url)
    except sources.SourceRejected as exc:
        raise MediaError(exc.code, exc.message) from None
    s3_client, head = _head_s3(bucket, key, max_bytes, s3_client)
    url = presign_get(s3_client, bucket, key, head.get("VersionId"))
    return url, int(head.get("ContentLength", 0))


def read_location(
    source_url: str, *, source_roots: Sequence[Path], bucket: str = "", s3_client: Any = None
) -> str:
    """Where a job reads a source that `locate_source` already checked: the real path of a
    `file://`/`upload://` source, or a fresh presigned GET of an `s3://` one in `bucket`
    (when given)."""
    if sources.is_local_source(source_url):
        return str(resolve_local_source(_local_path(source_url, source_roots), source_roots))
    try:
        bucket, key = sources.parse_s3_source(source_url, bucket)
    except sources.SourceRejected as exc:
        raise MediaError(exc.code, exc.message) from None
    if s3_client is None:
        import boto3  # lazy: local mode never needs it

        s3_client = boto3.client("s3")
    return presign_get(s3_client, bucket, key)
