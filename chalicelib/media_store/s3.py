"""S3 adapter: runs under `s3://{bucket}/videos/{videoId}/{runId}/`, URLs presigned per read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import VIDEO_ID_RE
from chalicelib.errors import dependency_errors
from chalicelib.media_store.base import (
    IMMUTABLE_CACHE,
    RUN_ID_RE,
    check_names,
    content_type,
    is_valid_ids,
    run_prefix,
)


@dependency_errors("media store", BotoCoreError, ClientError)
class S3MediaStore:
    """Runs under `s3://{bucket}/videos/{videoId}/{runId}/`; URLs are presigned GETs."""

    urls_self_authenticate = True  # presigned by S3

    def __init__(
        self, bucket: str, s3_client: Any, *, presign_seconds: int
    ) -> None:
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

    def url(self, video_id: str, run_id: str, name: str) -> str:
        """Presigned HTTPS GET URL."""
        check_names(video_id, run_id, [name])
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
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
