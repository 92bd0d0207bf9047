"""Scratch space of a segmented run: the plan, each segment's files and results, the audio.

Keys are flat names under one prefix per run, `work/{videoId}/{runId}/`, so one delete removes
a run's scratch whatever happened to it. Locally it is a directory under the data dir's `work/`
(which local start-up empties: a run that died with the server leaves nothing behind); in AWS
it is that prefix in the media bucket (a lifecycle rule may expire `work/` as a safety net).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from chalicelib.domain import VIDEO_ID_RE
from chalicelib.media_store.base import RUN_ID_RE

SCRATCH_PREFIX = "work"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
URL_SECONDS = 3600


def run_scratch(video_id: str, run_id: str) -> str:
    """The scratch prefix of one run: `work/{videoId}/{runId}`."""
    if not VIDEO_ID_RE.fullmatch(video_id) or not RUN_ID_RE.fullmatch(run_id):
        raise ValueError("invalid video id or run id")
    return f"{SCRATCH_PREFIX}/{video_id}/{run_id}"


def _check(name: str) -> str:
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise ValueError(f"invalid scratch name {name!r}")
    return name


class ScratchStore(Protocol):
    """Port: a flat namespace of files per run prefix."""

    def put_files(self, prefix: str, files: Sequence[Path]) -> None:
        """Store local files under `prefix` by their names (the local files may be moved)."""

    def put_text(self, prefix: str, name: str, text: str) -> None:
        """Store a small text document."""

    def get_text(self, prefix: str, name: str) -> str | None:
        """A stored text document, or None."""

    def list(self, prefix: str) -> list[str]:
        """Names stored under `prefix`."""

    def locate(self, prefix: str, name: str) -> str:
        """A path or URL ffmpeg can read the stored file from."""

    def fetch(self, prefix: str, names: Sequence[str], dest: Path) -> None:
        """Bring stored files into the local directory `dest` under their names."""

    def open(self, prefix: str, name: str) -> BinaryIO:
        """A stored file as a stream read from start to end (nothing written locally)."""

    def stored(self, prefix: str, name: str) -> str:
        """Where a stored file is, for `MediaStore.copy_in`: a local path or `s3://bucket/key`."""

    def put_stream(self, prefix: str, name: str, stream: BinaryIO) -> None:
        """Store a file read from `stream` to its end (never held whole on this host)."""

    def delete(self, prefix: str, name: str) -> None:
        """Remove one stored file (no error when it is not there)."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove everything under `prefix`; raises `DeleteFailed` when anything stays."""


class LocalScratchStore:
    """Scratch under a local directory (the data dir's `work/`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def _dir(self, prefix: str) -> Path:
        path = (self.root / prefix).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("scratch prefix outside the root")
        return path

    def put_files(self, prefix: str, files: Sequence[Path]) -> None:
        target = self._dir(prefix)
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            dest = target / _check(f.name)
            # A rename on one file system: a retried segment simply replaces its files.
            if _same_fs(f, target):
                os.replace(f, dest)
            else:
                shutil.copyfile(f, dest)

    def put_text(self, prefix: str, name: str, text: str) -> None:
        target = self._dir(prefix)
        target.mkdir(parents=True, exist_ok=True)
        # a temp name of this writer's own: jobs in parallel processes may write the same name
        # (same bytes: `live<N>.json`), and each rename is whole
        tmp = target / f".{_check(name)}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target / name)

    def get_text(self, prefix: str, name: str) -> str | None:
        path = self._dir(prefix) / _check(name)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def list(self, prefix: str) -> list[str]:
        path = self._dir(prefix)
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []

    def locate(self, prefix: str, name: str) -> str:
        return str(self._dir(prefix) / _check(name))

    def stored(self, prefix: str, name: str) -> str:
        return self.locate(prefix, name)

    def open(self, prefix: str, name: str) -> BinaryIO:
        return open(self._dir(prefix) / _check(name), "rb")

    def put_stream(self, prefix: str, name: str, stream: BinaryIO) -> None:
        target = self._dir(prefix)
        target.mkdir(parents=True, exist_ok=True)
        with open(target / _check(name), "wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)

    def fetch(self, prefix: str, names: Sequence[str], dest: Path) -> None:
        src = self._dir(prefix)
        for name in names:
            target = dest / _check(name)
            try:
                os.link(src / name, target)  # free on one file system
            except OSError:
                shutil.copyfile(src / name, target)

    def delete(self, prefix: str, name: str) -> None:
        (self._dir(prefix) / _check(name)).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._dir(prefix), ignore_errors=True)


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


class S3ScratchStore:
    """Scratch under `s3://{bucket}/work/`; ffmpeg reads objects through presigned GET URLs
    (ranged reads: a seek fetches only what it needs)."""

    def __init__(self, bucket: str, s3_client: Any) -> None:
        self.bucket = bucket
        self.s3 = s3_client

    def put_files(self, prefix: str, files: Sequence[Path]) -> None:
        for f in files:
            self.s3.upload_file(str(f), self.bucket, f"{prefix}/{_check(f.name)}")

    def put_text(self, prefix: str, name: str, text: str) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=f"{prefix}/{_check(name)}", Body=text.encode("utf-8")
        )

    def get_text(self, prefix: str, name: str) -> str | None:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=f"{prefix}/{_check(name)}")
        except self.s3.exceptions.NoSuchKey:
            return None
        return str(obj["Body"].read().decode("utf-8"))

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{prefix}/"
        )
        for page in pages:
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        return keys

    def list(self, prefix: str) -> list[str]:
        return sorted(k[len(prefix) + 1 :] for k in self._keys(prefix))

    def locate(self, prefix: str, name: str) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": f"{prefix}/{_check(name)}"},
                ExpiresIn=URL_SECONDS,
            )
        )

    def open(self, prefix: str, name: str) -> BinaryIO:
        obj = self.s3.get_object(Bucket=self.bucket, Key=f"{prefix}/{_check(name)}")
        return cast(BinaryIO, obj["Body"])

    def stored(self, prefix: str, name: str) -> str:
        return f"s3://{self.bucket}/{prefix}/{_check(name)}"

    def put_stream(self, prefix: str, name: str, stream: BinaryIO) -> None:
        from chalicelib.media_store.s3 import transfer_config

        self.s3.upload_fileobj(
            stream, self.bucket, f"{prefix}/{_check(name)}", Config=transfer_config()
        )

    def fetch(self, prefix: str, names: Sequence[str], dest: Path) -> None:
        for name in names:
            self.s3.download_file(self.bucket, f"{prefix}/{_check(name)}", str(dest / name))

    def delete(self, prefix: str, name: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=f"{prefix}/{_check(name)}")

    def delete_prefix(self, prefix: str) -> None:
        """Raises DeleteFailed naming the keys that stayed (with S3's codes)."""
        from chalicelib.media_store.s3 import delete_keys

        delete_keys(self.s3, self.bucket, self._keys(prefix), "scratch")
