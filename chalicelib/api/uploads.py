"""Getting a source video to where the processor may read it (the service of `/uploads`).

`POST /uploads` hands out a one-time upload target and the `sourceUrl` to create the video
with, or a multipart upload (`chalicelib.api.multipart`). Where the bytes go is the upload
port's (`chalicelib.api.upload_store`): a presigned S3 PUT under the media bucket's `uploads/`
prefix in AWS, a slot in the local inbox served by `make run` locally. This module validates
requests, signs and checks `uploadId`s and shapes the answers, whichever adapter it is given.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.api.multipart import (
    MAX_MULTIPART_BYTES,
    MAX_PART_BYTES,
    MIN_PART_BYTES,
    MULTIPART_PARTS,
    MULTIPART_SECONDS,
    PART_URL_SECONDS,
    Handle,
    HandleCodec,
    part_size_for,
)
from chalicelib.api.schemas import Integer, Object, Text
from chalicelib.api.signing import UrlSigner
from chalicelib.api.upload_store import (
    LOCAL_MAX_UPLOAD_BYTES,
    UPLOAD_SECONDS,
    UploadStore,
    safe_filename,
)
from chalicelib.config import Settings
from chalicelib.errors import PayloadTooLargeError, RateLimitedError, ValidationError

__all__ = ["LOCAL_MAX_UPLOAD_BYTES", "NEW_UPLOAD", "Uploads", "safe_filename"]

# The request schema of POST /uploads (it validates, and the OpenAPI document shows it).
NEW_UPLOAD = Object(
    {
        "filename": Text(
            max_length=255,
            plain=False,  # reduced to [A-Za-z0-9._-] whatever it holds
            message="filename must be a string of at most 255 characters",
            description="The source's file name; reduced to `[A-Za-z0-9._-]`.",
            example="demo.mp4",
        ),
        "contentType": Text(
            max_length=255,
            pattern=r"[a-z]+/[a-z0-9.+-]+",
            default="application/octet-stream",
            message="contentType must be a media type such as video/mp4",
            example="video/mp4",
        ),
        "multipart": Object(
            {
                "size": Integer(
                    minimum=1,
                    maximum=MAX_MULTIPART_BYTES,
                    description="The source's size in bytes.",
                    example=104857600,
                ),
                "partSize": Integer(
                    minimum=MIN_PART_BYTES,
                    maximum=MAX_PART_BYTES,
                    description="Bytes per part (default 16 MiB, more when the source would "
                    "need more than 10,000 parts).",
                ),
            },
            required=("size",),
            message="multipart must be an object: {size, partSize?}",
            description="Ask for a multipart upload (resumable, parts retried on their own): "
            "for large sources, up to 50 GiB.",
        ),
    },
    message="request body must be a JSON object",
)


LOCAL_BYTES_IN_FLIGHT = 2 * 1024**3  # where uploads land on this server's disk
S3_BYTES_IN_FLIGHT = 100 * 1024**3  # two of the largest multipart uploads


@dataclass(frozen=True)
class UploadLimits:
    """`max_bytes`: the largest upload (single or multipart) where uploads land on this
    server's disk, None where they go to S3; `slots_per_workspace`: upload targets a workspace
    may hold unfilled at once; `abandoned_seconds`: when an unfinished local slot is swept;
    `bytes_in_flight`: the bytes a workspace may have in unfinished uploads at once (the
    upload port's `bytes_in_flight`)."""

    max_bytes: int | None = LOCAL_MAX_UPLOAD_BYTES
    slots_per_workspace: int = 20
    abandoned_seconds: float = MULTIPART_SECONDS + 3600
    bytes_in_flight: int = LOCAL_BYTES_IN_FLIGHT

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        local = settings.media_is_local
        default_in_flight = LOCAL_BYTES_IN_FLIGHT if local else S3_BYTES_IN_FLIGHT
        return cls(
            settings.local_max_upload_bytes if local else None,
            settings.upload_slots_per_workspace,
            settings.upload_abandoned_seconds,
            settings.upload_bytes_per_workspace or default_in_flight,
        )


class Uploads:
    def __init__(
        self, store: UploadStore, signer: UrlSigner, limits: UploadLimits | None = None
    ) -> None:
        self._store = store
        self._handles = HandleCodec(signer)
        self.limits = limits or UploadLimits()

    def create(self, body: Any, base_url: str, workspace: str) -> dict[str, Any]:
        fields = NEW_UPLOAD.check({} if body is None else body)
        limit = self.limits.max_bytes
        size = fields.get("multipart", {}).get("size", 0)
        if limit is not None and size > limit:
            raise PayloadTooLargeError(
                f"uploads to this server hold at most {limit} bytes; copy larger files into a "
                "source root instead",
                details={"maxBytes": limit},
            )
        if size:
            self._check_in_flight(workspace, size)
        if self._store.open_slots(workspace) >= self.limits.slots_per_workspace:
            raise RateLimitedError(
                f"this workspace holds {self.limits.slots_per_workspace} unfinished uploads; "
                "complete or abort one (DELETE /uploads/{uploadId}) first",
                retry_after=60,
                code="TooManyUploads",
            )
        name = safe_filename(fields.get("filename"))
        content_type = fields["contentType"]
        upload_id = secrets.token_urlsafe(16)
        if "multipart" in fields:
            return self._create_multipart(
                fields["multipart"], upload_id, name, content_type, workspace
            )
        url, source = self._store.single(workspace, upload_id, name, content_type, base_url)
        return {
            "uploadId": upload_id,
            "mode": "single",
            "uploadUrl": url,
            "method": "PUT",
            "headers": {"Content-Type": content_type},
            "sourceUrl": source,
            "expiresIn": UPLOAD_SECONDS,
        }

    def _check_in_flight(self, workspace: str, size: int) -> None:
        """`size` more bytes fit in the workspace's bytes in flight: 413 `UploadTooLarge` when
        they never could, 429 `TooManyUploadBytes` (with `Retry-After`) until other uploads
        finish."""
        cap = self.limits.bytes_in_flight
        details = {"maxBytesInFlight": cap}
        if size > cap:
            raise PayloadTooLargeError(
                f"a workspace may have at most {cap} bytes in unfinished uploads; "
                f"this upload is {size}",
                details=details,
                code="UploadTooLarge",
            )
        in_flight = self._store.bytes_in_flight(workspace)
        if in_flight + size > cap:
            raise RateLimitedError(
                f"this workspace has {in_flight} bytes in unfinished uploads and may have at "
                f"most {cap}; complete or abort one (DELETE /uploads/{{uploadId}}) first",
                retry_after=60,
                code="TooManyUploadBytes",
                details={**details, "bytesInFlight": in_flight},
            )

    # --- multipart -------------------------------------------------------------------------
    def _create_multipart(
        self, fields: dict[str, Any], upload_id: str, name: str, content_type: str, workspace: str
    ) -> dict[str, Any]:
        size = fields["size"]
        handle = Handle(
            slot=upload_id,
            workspace=workspace,
            name=name,
            size=size,
            part_size=part_size_for(size, fields.get("partSize")),
            expires=int(time.time()) + MULTIPART_SECONDS,
        )
        handle = self._store.start_multipart(handle, content_type)
        return {
            "uploadId": self._handles.encode(handle),
            "mode": "multipart",
            "sourceUrl": self._store.source(handle),
            "size": handle.size,
            "partSize": handle.part_size,
            "partCount": handle.part_count,
            "expiresIn": MULTIPART_SECONDS,
        }

    def multipart_state(self, upload_id: str, workspace: str) -> dict[str, Any]:
        """`GET /uploads/{uploadId}`: the parts stored so far (what a client resumes from)."""
        handle = self._handles.decode(upload_id, workspace)
        parts, completed = self._store.stored_parts(handle)
        return {
            "uploadId": upload_id,
            "status": "completed" if completed else "pending",
            "sourceUrl": self._store.source(handle),
            "size": handle.size,
            "partSize": handle.part_size,
            "partCount": handle.part_count,
            "bytesStored": sum(p["size"] for p in parts),
            "parts": parts,
            "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(handle.expires)),
        }

    def part_urls(self, upload_id: str, body: Any, base_url: str, workspace: str) -> dict[str, Any]:
        """`POST /uploads/{uploadId}/parts`: a URL to PUT each of these parts (1 h)."""
        handle = self._handles.decode(upload_id, workspace)
        numbers = MULTIPART_PARTS.check(body)["partNumbers"]
        beyond = [n for n in numbers if n > handle.part_count]
        if beyond:
            raise ValidationError(
                f"this upload has parts 1 to {handle.part_count}",
                details={"field": "partNumbers", "partNumbers": beyond[:100]},
            )
        urls = self._store.part_urls(handle, numbers, base_url)
        parts = [
            {"partNumber": n, "url": url, "method": "PUT", "size": handle.part_length(n)}
            for n, url in zip(numbers, urls, strict=True)
        ]
        return {"parts": parts, "expiresIn": PART_URL_SECONDS}

    def complete_multipart(self, upload_id: str, workspace: str) -> dict[str, Any]:
        """`POST /uploads/{uploadId}/complete`: the parts become the source, whole or not at
        all (409 naming the parts still missing)."""
        handle = self._handles.decode(upload_id, workspace)
        self._store.complete(handle)
        return {"sourceUrl": self._store.source(handle), "size": handle.size}

    def abort_multipart(self, upload_id: str, workspace: str) -> None:
        self._store.abort(self._handles.decode(upload_id, workspace))

    # --- bodies sent to this server (local targets; 404 where uploads go to S3) -------------
    def receive_local_part(
        self, upload_id: str, number: str, chunks: Iterable[bytes], length: int | None
    ) -> dict[str, Any]:
        """A part of a local multipart upload (`PUT /uploads/{id}/parts/{n}`)."""
        return self._store.receive_part(upload_id, number, chunks, length)

    def sweep_local(self, older_than: float | None = None) -> int:
        """Remove local upload slots abandoned for longer than `older_than` seconds (by default
        the configured `abandoned_seconds`)."""
        return self._store.sweep(
            self.limits.abandoned_seconds if older_than is None else older_than
        )

    def receive_local(self, upload_id: str, name: str, data: bytes) -> dict[str, Any]:
        """Fill a local upload slot once with a body already in memory (the Chalice route)."""
        return self.receive_local_stream(upload_id, name, [data] if data else [], len(data))

    def receive_local_stream(
        self,
        upload_id: str,
        name: str,
        chunks: Iterable[bytes],
        length: int | None,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """Fill a local upload slot once, from a body that arrives in pieces (checked before
        reading, counted as it arrives, renamed into place only when whole); at most
        `max_bytes` (by default the configured limit)."""
        limit = max_bytes or self.limits.max_bytes or LOCAL_MAX_UPLOAD_BYTES
        workspace = self._store.workspace_of(upload_id)
        if workspace is not None and (length is None or length <= limit):
            # counted before reading (a chunked body as the most it may be): refused before
            # `100 Continue`; a body over the size limit is the store's 413
            self._check_in_flight(workspace, limit if length is None else length)
        return self._store.receive(upload_id, name, chunks, length, limit)
