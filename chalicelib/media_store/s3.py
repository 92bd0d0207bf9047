"""S3 adapter: runs under `s3://{bucket}/videos/{videoId}/{runId}/`, URLs presigned per read."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import VIDEO_ID_RE
from chalicelib.errors import dependency_errors
from chalicelib.media_store.base import (
    IMMUTABLE_CACHE,
    RUN_ID_RE,
    DeleteFailed,
    check_names,
    content_disposition,
    content_type,
    is_valid_ids,
    run_prefix,
)


@dependency_errors("media store", BotoCoreError, ClientError)
class S3MediaStore:
    """Runs under `s3://{bucket}/videos/{videoId}/{runId}/`; URLs are presigned GETs."""

    urls_self_authenticate = True  # presigned by S3

    def __init__(self, bucket: str, s3_client: Any, *, presign_seconds: int) -> None:
        self.bucket = bucket
        self.s3 = s3_client
        self.presign_seconds = presign_seconds

    def publish(self, video_id: str, run_id: str, files: Sequence[Path]) -> str:
        """Upload each file under the new run prefix (seen only once the item switches to it)."""
        check_names(video_id, run_id, [f.name for f in files])
        prefix = run_prefix(video_id, run_id)
        for f in files:
            self.s3.upload_file(
                str(f),
                self.bucket,
                f"{prefix}/{f.name}",
                ExtraArgs={"ContentType": content_type(f.name), "CacheControl": IMMUTABLE_CACHE},
            )
        return prefix

    def copy_in(self, video_id: str, run_id: str, files: Sequence[tuple[str, str]]) -> None:
        """CopyObject inside S3 (`s3://bucket/key` sources), a few at a time: the bytes never
        reach this host. Objects of up to 5 GB (scratch holds segment files of a few MB)."""
        check_names(video_id, run_id, [name for _, name in files])
        prefix = run_prefix(video_id, run_id)

        def copy(pair: tuple[str, str]) -> None:
            bucket, _, key = pair[0].removeprefix("s3://").partition("/")
            self.s3.copy_object(
                Bucket=self.bucket,
                Key=f"{prefix}/{pair[1]}",
                CopySource={"Bucket": bucket, "Key": key},
                MetadataDirective="REPLACE",
                ContentType=content_type(pair[1]),
                CacheControl=IMMUTABLE_CACHE,
            )

        with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
            list(pool.map(copy, files))

    def write_stream(self, video_id: str, run_id: str, name: str, stream: BinaryIO) -> int:
        """A multipart upload fed from `stream` part by part (at most `TRANSFER.max_concurrency`
        parts of `TRANSFER.multipart_chunksize` in memory, nothing on disk); an error while
        reading aborts the upload."""
        check_names(video_id, run_id, [name])
        counted = _Counting(stream)
        self.s3.upload_fileobj(
            counted,
            self.bucket,
            f"{run_prefix(video_id, run_id)}/{name}",
            ExtraArgs={"ContentType": content_type(name), "CacheControl": IMMUTABLE_CACHE},
            Config=transfer_config(),
        )
        return counted.count

    def locate(self, video_id: str, run_id: str, name: str) -> str:
        return self.url(video_id, run_id, name)

    def discard(self, video_id: str, run_id: str) -> None:
        check_names(video_id, run_id)
        self._delete(self._keys(f"{run_prefix(video_id, run_id)}/"))

    def url(self, video_id: str, run_id: str, name: str, download: str | None = None) -> str:
        """Presigned HTTPS GET URL (`download`: S3 answers it as an attachment of that name)."""
        check_names(video_id, run_id, [name])
        params = {"Bucket": self.bucket, "Key": f"{run_prefix(video_id, run_id)}/{name}"}
        if download:
            params["ResponseContentDisposition"] = content_disposition(download)
        return str(
            self.s3.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=self.presign_seconds
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

    # --- renders cached in a published run (chalicelib/tasks/render.py) -------------------
    def has_file(self, video_id: str, run_id: str, name: str) -> bool:
        if not is_valid_ids(video_id, run_id, name):
            return False
        key = f"{run_prefix(video_id, run_id)}/{name}"
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def source_of(self, video_id: str, run_id: str, name: str) -> str | None:
        """Where ffmpeg reads a published file: a presigned URL (ranges, so a seek reads
        about one GOP)."""
        return self.url(video_id, run_id, name) if is_valid_ids(video_id, run_id, name) else None

    def put_file(self, video_id: str, run_id: str, name: str, path: Path) -> None:
        check_names(video_id, run_id, [name])
        self.s3.upload_file(
            str(path),
            self.bucket,
            f"{run_prefix(video_id, run_id)}/{name}",
            ExtraArgs={"ContentType": content_type(name), "CacheControl": IMMUTABLE_CACHE},
        )

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
        check_names(video_id, keep_run_id)
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
        delete_keys(self.s3, self.bucket, keys, "media store")


COPY_THREADS = 16
# Keys DeleteObjects failed on are sent again this many times before DeleteFailed is raised
# (SlowDown / InternalError pass; AccessDenied does not, and is reported with its code).
DELETE_RETRIES = 2


def delete_keys(s3: Any, bucket: str, keys: Sequence[str], what: str) -> None:
    """DeleteObjects in batches of 1000 (the API limit). Quiet mode answers only the failures,
    in `Errors` of a 200 response: those keys are retried, then raised as DeleteFailed."""
    pending = list(keys)
    for _attempt in range(DELETE_RETRIES + 1):
        failed: list[tuple[str, str]] = []
        for i in range(0, len(pending), 1000):
            batch = [{"Key": k} for k in pending[i : i + 1000]]
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            failed += [(e.get("Key", "?"), e.get("Code", "?")) for e in answer.get("Errors", [])]
        if not failed:
            return
        pending = [key for key, _ in failed]
    raise DeleteFailed(f"{what} s3://{bucket}", failed)


def transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    # 8 MiB parts, 4 in flight: ~32 MiB of memory for a rendition of any length.
    return TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)


class _Counting:
    """A read-only stream that counts the bytes read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data
