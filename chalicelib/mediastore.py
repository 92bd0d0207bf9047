"""Where processed media lives: a port with a local-directory and an S3 adapter.

Every processing run publishes into its own prefix `videos/{videoId}/{runId}/` holding one flat
set of files, so a reprocess never overwrites what viewers are using: the caller switches the
video item to the new prefix, then calls `delete_other_runs`. Locally, a run is written into a
staging directory and appears with a single rename.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# One dot at most, a known extension, no leading dot: no traversal, no hidden files.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,100}\.(mp4|m3u8|ts|jpg|vtt|srt|json)$")

CONTENT_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "jpg": "image/jpeg",
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "json": "application/json",
}
# A run prefix is never rewritten, so clients may cache its files for good.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
PRESIGN_SECONDS_DEFAULT = 7 * 24 * 3600  # the SigV4 maximum


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


def _check(video_id: str, run_id: str, names: Sequence[str] = ()) -> None:
    if not is_valid_ids(video_id, run_id):
        raise ValueError("invalid video id or run id")
    for n in names:
        if not NAME_RE.fullmatch(n):
            raise ValueError(f"invalid media file name {n!r}")


class MediaStore(ABC):
    """Port: publish a run's files, give URLs for them, drop superseded runs."""

    @abstractmethod
    def publish(self, video_id: str, run_id: str, files: Sequence[Path]) -> str:
        """Publish `files` (flat, named as they will be served) as one run; return its prefix."""

    @abstractmethod
    def url(self, video_id: str, run_id: str, name: str) -> str:
        """A URL a browser can GET for one published file."""

    @abstractmethod
    def read_text(self, video_id: str, run_id: str, name: str) -> str | None:
        """A published text file (playlist, index), or None when it does not exist."""

    @abstractmethod
    def list_runs(self, video_id: str) -> list[str]:
        """Run ids currently stored for a video."""

    @abstractmethod
    def delete_other_runs(self, video_id: str, keep_run_id: str) -> list[str]:
        """Delete every run of the video except `keep_run_id`; return the deleted run ids."""

    @abstractmethod
    def delete_video(self, video_id: str) -> None:
        """Delete every run of the video."""


class LocalMediaStore(MediaStore):
    """Runs under `{root}/videos/{videoId}/{runId}/`; URLs served by the local API's media route."""

    def __init__(self, root: Path, public_base_url: str = "") -> None:
        self.root = Path(root).absolute()
        self.public_base_url = public_base_url.rstrip("/")

    def _video_dir(self, video_id: str) -> Path:
        return self.root / "videos" / video_id

    def publish(self, video_id: str, run_id: str, files: Sequence[Path]) -> str:
        """Copy into a staging dir on the same file system, then one rename makes it visible."""
        _check(video_id, run_id, [f.name for f in files])
        staging_root = self.root / ".staging"
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = staging_root / f"{video_id}.{run_id}.{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for f in files:
                # move = rename when the work dir shares the file system, a copy otherwise.
                shutil.move(str(f), str(staging / f.name))
            final = self._video_dir(video_id) / run_id
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return run_prefix(video_id, run_id)

    def url(self, video_id: str, run_id: str, name: str) -> str:
        """`{public_base_url}/media/{videoId}/{runId}/{name}`."""
        _check(video_id, run_id, [name])
        return f"{self.public_base_url}/media/{video_id}/{run_id}/{name}"

    def resolve(self, video_id: str, run_id: str, name: str) -> Path | None:
        """The file behind `GET /media/{videoId}/{runId}/{name}`, or None (never outside root)."""
        if not is_valid_ids(video_id, run_id, name):
            return None
        path = self._video_dir(video_id) / run_id / name
        try:
            if path.is_symlink() or not path.is_file():
                return None
            real = path.resolve(strict=True)
        except OSError:
            return None
        root = self.root.resolve()
        return real if root in real.parents else None

    def read_text(self, video_id: str, run_id: str, name: str) -> str | None:
        path = self.resolve(video_id, run_id, name)
        return None if path is None else path.read_text(encoding="utf-8")

    def list_runs(self, video_id: str) -> list[str]:
        """Run ids on disk, oldest name first."""
        if not VIDEO_ID_RE.fullmatch(video_id):
            raise ValueError("invalid video id")
        vdir = self._video_dir(video_id)
        if not vdir.is_dir():
            return []
        return sorted(p.name for p in vdir.iterdir() if p.is_dir() and RUN_ID_RE.fullmatch(p.name))

    def delete_other_runs(self, video_id: str, keep_run_id: str) -> list[str]:
        """Each old run is renamed away first, so a half-deleted run is never served."""
        _check(video_id, keep_run_id)
        deleted = [r for r in self.list_runs(video_id) if r != keep_run_id]
        for run in deleted:
            self._remove(self._video_dir(video_id) / run)
        return deleted

    def delete_video(self, video_id: str) -> None:
        """Remove the video's whole directory."""
        if not VIDEO_ID_RE.fullmatch(video_id):
            raise ValueError("invalid video id")
        vdir = self._video_dir(video_id)
        if vdir.is_dir():
            self._remove(vdir)

    def _remove(self, path: Path) -> None:
        trash_root = self.root / ".trash"
        trash_root.mkdir(parents=True, exist_ok=True)
        trash = trash_root / uuid.uuid4().hex
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)


class S3MediaStore(MediaStore):
    """Runs under `s3://{bucket}/videos/{videoId}/{runId}/`; URLs are presigned GETs."""

    def __init__(
        self, bucket: str, s3_client: Any, *, presign_seconds: int = PRESIGN_SECONDS_DEFAULT
    ) -> None:
        self.bucket = bucket
        self.s3 = s3_client
        self.presign_seconds = presign_seconds

    def publish(self, video_id: str, run_id: str, files: Sequence[Path]) -> str:
        """Upload each file under the new run prefix (seen only once the item switches to it)."""
        _check(video_id, run_id, [f.name for f in files])
        prefix = run_prefix(video_id, run_id)
        for f in files:
            self.s3.upload_file(
                str(f),
                self.bucket,
                f"{prefix}/{f.name}",
                ExtraArgs={"ContentType": content_type(f.name), "CacheControl": IMMUTABLE_CACHE},
            )
        return prefix

    def url(self, video_id: str, run_id: str, name: str) -> str:
        """Presigned HTTPS GET URL."""
        _check(video_id, run_id, [name])
        return str(
            self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": f"{run_prefix(video_id, run_id)}/{name}"},
                ExpiresIn=self.presign_seconds,
            )
        )

    def read_text(self, video_id: str, run_id: str, name: str) -> str | None:
        if not is_valid_ids(video_id, run_id, name):
            return None
        key = f"{run_prefix(video_id, run_id)}/{name}"
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None
        return str(obj["Body"].read().decode("utf-8"))

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        return keys

    def list_runs(self, video_id: str) -> list[str]:
        """Run ids that have at least one object."""
        if not VIDEO_ID_RE.fullmatch(video_id):
            raise ValueError("invalid video id")
        prefix = f"videos/{video_id}/"
        runs = {k[len(prefix) :].split("/", 1)[0] for k in self._keys(prefix)}
        return sorted(r for r in runs if RUN_ID_RE.fullmatch(r))

    def delete_other_runs(self, video_id: str, keep_run_id: str) -> list[str]:
        """Delete the objects of every other run (batches of 1000, the API limit)."""
        _check(video_id, keep_run_id)
        prefix = f"videos/{video_id}/"
        keep = f"{prefix}{keep_run_id}/"
        doomed = [k for k in self._keys(prefix) if not k.startswith(keep)]
        self._delete(doomed)
        return sorted({k[len(prefix) :].split("/", 1)[0] for k in doomed})

    def delete_video(self, video_id: str) -> None:
        """Delete every object under `videos/{videoId}/`."""
        if not VIDEO_ID_RE.fullmatch(video_id):
            raise ValueError("invalid video id")
        self._delete(self._keys(f"videos/{video_id}/"))

    def _delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
