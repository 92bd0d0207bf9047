"""The upload port on S3: the media bucket's `uploads/{workspace}/` prefix, the only prefix the
processor may read (a lifecycle rule expires what is never used, and aborts multipart uploads
left incomplete for a day).

A one-time target is a presigned PutObject; a multipart upload is S3's (CreateMultipartUpload,
presigned UploadPart URLs, ListParts, CompleteMultipartUpload, AbortMultipartUpload). Bodies
never pass through this service, so the PUT routes of local targets answer 404 here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chalicelib.api import multipart
from chalicelib.api.multipart import PART_URL_SECONDS, Handle
from chalicelib.api.upload_store import UPLOAD_SECONDS
from chalicelib.errors import DependencyError, NotFoundError
from chalicelib.sources import uploads_prefix


class S3UploadStore:
    def __init__(self, bucket: str, s3_client: Callable[[], Any]) -> None:
        self._bucket = bucket
        self._s3 = s3_client

    def _key(self, handle: Handle) -> str:
        return f"{uploads_prefix(handle.workspace)}{handle.slot}/{handle.name}"

    @contextlib.contextmanager
    def _calls(self) -> Iterator[None]:
        """S3's answers: NoSuchUpload is a 404, anything else that fails a 503."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchUpload", "404", "NoSuchKey"):
                raise NotFoundError(
                    "no such upload (unknown, aborted, completed or expired)"
                ) from None
            raise DependencyError(
                f"the media store is unavailable ({code or type(exc).__name__}); try again"
            ) from exc
        except BotoCoreError as exc:
            raise DependencyError(
                f"the media store is unavailable ({type(exc).__name__}); try again"
            ) from exc

    def open_slots(self, workspace: str) -> int:
        return 0  # S3 holds them; the bucket's lifecycle rule aborts abandoned multipart uploads

    def bytes_in_flight(self, workspace: str) -> int:
        """The parts stored in the workspace's open multipart uploads (ListMultipartUploads,
        then ListParts of each: at most the slot cap's worth)."""
        total = 0
        with self._calls():
            pages = self._s3().get_paginator("list_multipart_uploads")
            for page in pages.paginate(Bucket=self._bucket, Prefix=uploads_prefix(workspace)):
                for upload in page.get("Uploads", []):
                    parts = self._s3().get_paginator("list_parts")
                    for listed in parts.paginate(
                        Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    ):
                        total += sum(int(p["Size"]) for p in listed.get("Parts", []))
        return total

    def workspace_of(self, upload_id: str) -> str | None:
        return None  # bodies go to S3, never here

    def single(
        self, workspace: str, upload_id: str, name: str, content_type: str, base_url: str
    ) -> tuple[str, str]:
        key = f"{uploads_prefix(workspace)}{upload_id}/{name}"
        url = self._s3().generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=UPLOAD_SECONDS,
        )
        return str(url), f"s3://{self._bucket}/{key}"

    def source(self, handle: Handle) -> str:
        return f"s3://{self._bucket}/{self._key(handle)}"

    def start_multipart(self, handle: Handle, content_type: str) -> Handle:
        with self._calls():
            answer = self._s3().create_multipart_upload(
                Bucket=self._bucket, Key=self._key(handle), ContentType=content_type
            )
        return dataclasses.replace(handle, s3_upload=str(answer["UploadId"]))

    def stored_parts(self, handle: Handle) -> tuple[list[dict[str, Any]], bool]:
        out: list[dict[str, Any]] = []
        marker = 0
        with self._calls():
            while True:
                page = self._s3().list_parts(
                    Bucket=self._bucket,
                    Key=self._key(handle),
                    UploadId=handle.s3_upload,
                    PartNumberMarker=marker,
                )
                out += [
                    {"partNumber": p["PartNumber"], "size": p["Size"], "etag": p["ETag"]}
                    for p in page.get("Parts", [])
                ]
                if not page.get("IsTruncated"):
                    return out, False  # a completed upload is no longer listed (404)
                marker = int(page["NextPartNumberMarker"])

    def part_urls(self, handle: Handle, numbers: list[int], base_url: str) -> list[str]:
        urls = []
        with self._calls():
            for number in numbers:
                url = self._s3().generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self._bucket,
                        "Key": self._key(handle),
                        "UploadId": handle.s3_upload,
                        "PartNumber": number,
                        # signed: S3 refuses a part of any other length, so an upload never
                        # stores more than its declared size (what bytes in flight count on)
                        "ContentLength": handle.part_length(number),
                    },
                    ExpiresIn=PART_URL_SECONDS,
                )
                urls.append(str(url))
        return urls

    def complete(self, handle: Handle) -> None:
        parts, _ = self.stored_parts(handle)
        multipart.check_parts(handle, {p["partNumber"]: p["size"] for p in parts})
        with self._calls():
            self._s3().complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key(handle),
                UploadId=handle.s3_upload,
                MultipartUpload={
                    "Parts": [{"PartNumber": p["partNumber"], "ETag": p["etag"]} for p in parts]
                },
            )

    def abort(self, handle: Handle) -> None:
        with self._calls():
            self._s3().abort_multipart_upload(
                Bucket=self._bucket, Key=self._key(handle), UploadId=handle.s3_upload
            )

    def receive(
        self,
        upload_id: str,
        name: str,
        chunks: Iterable[bytes],
        length: int | None,
        max_bytes: int,
    ) -> dict[str, Any]:
        raise NotFoundError("no such upload; ask POST /uploads for one")

    def receive_part(
        self, upload_id: str, number: str, chunks: Iterable[bytes], length: int | None
    ) -> dict[str, Any]:
        raise NotFoundError("no such upload part")

    def sweep(self, older_than: float) -> int:
        return 0  # the bucket's lifecycle rule expires abandoned uploads
