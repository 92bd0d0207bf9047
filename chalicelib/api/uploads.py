"""Getting a source video to where the processor may read it.

`POST /uploads` hands out a one-time upload target and the `sourceUrl` to create the video
with. In AWS it is a presigned S3 PUT under the media bucket's `uploads/` prefix (the only
prefix the processor may read; a lifecycle rule expires what is never used). Locally it is
`PUT /uploads/{uploadId}/{filename}` on this server, written into the first source root:
streamed to a hidden temporary file and renamed into place once complete, one writer per slot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from chalicelib.api import multipart
from chalicelib.api.multipart import (
    MAX_MULTIPART_BYTES,
    MAX_PART_BYTES,
    MIN_PART_BYTES,
    MULTIPART_PARTS,
    MULTIPART_SECONDS,
    PART_URL_SECONDS,
    Handle,
    HandleCodec,
)
from chalicelib.api.schemas import Integer, Object, Text
from chalicelib.api.signing import UrlSigner
from chalicelib.config import Settings
from chalicelib.errors import ConflictError, NotFoundError, PayloadTooLargeError, ValidationError
from chalicelib.sources import uploads_prefix

UPLOAD_SECONDS = 3600
# Local uploads are streamed to disk (chalicelib/local_http.py), so this is a policy limit (the
# local inbox is a development aid), not a memory bound.
LOCAL_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
_UPLOAD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
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


def safe_filename(raw: Any) -> str:
    """A user's file name reduced to a harmless one (never a path, never hidden)."""
    if raw is None:
        return "source"
    if not isinstance(raw, str) or len(raw) > 255:
        raise ValidationError(
            "filename must be a string of at most 255 characters", details={"field": "filename"}
        )
    name = _UNSAFE.sub("_", raw.rsplit("/", 1)[-1]).strip("._")[:100]
    return name or "source"


class Uploads:
    def __init__(self, settings: Settings, s3_client: Callable[[], Any], signer: UrlSigner) -> None:
        self._settings = settings
        self._s3 = s3_client
        self._signer = signer
        self._handles = HandleCodec(signer)
        self._s3_multipart = multipart.S3Multipart(settings.bucket, s3_client)

    @property
    def _inbox(self) -> Path:
        return self._settings.source_roots[0] / "uploads"

    def slot(self, upload_id: str) -> Path | None:
        """The local slot `{root}/uploads/{workspace}/{uploadId}/`, when it exists."""
        if self._settings.bucket or not _UPLOAD_ID_RE.match(upload_id):
            return None
        found = [p for p in self._inbox.glob(f"*/{upload_id}") if p.is_dir()]
        return found[0] if len(found) == 1 else None

    def create(self, body: Any, base_url: str, workspace: str) -> dict[str, Any]:
        fields = NEW_UPLOAD.check({} if body is None else body)
        name = safe_filename(fields.get("filename"))
        content_type = fields["contentType"]
        upload_id = secrets.token_urlsafe(16)
        if "multipart" in fields:
            return self._create_multipart(
                fields["multipart"], upload_id, name, content_type, workspace
            )
        if self._settings.bucket:
            key = f"{uploads_prefix(workspace)}{upload_id}/{name}"
            url = self._s3().generate_presigned_url(
                "put_object",
                Params={"Bucket": self._settings.bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=UPLOAD_SECONDS,
            )
            source = f"s3://{self._settings.bucket}/{key}"
        else:
            slot = self._inbox / workspace / upload_id
            slot.mkdir(parents=True)  # the one-time slot a PUT may fill
            path = f"/uploads/{upload_id}/{name}"
            url = self._signer.sign(f"{base_url}{path}", path)  # a capability, like S3's
            source = f"file://{slot / name}"
        return {
            "uploadId": upload_id,
            "mode": "single",
            "uploadUrl": url,
            "method": "PUT",
            "headers": {"Content-Type": content_type},
            "sourceUrl": source,
            "expiresIn": UPLOAD_SECONDS,
        }

    # --- multipart -------------------------------------------------------------------------
    def _key(self, handle: Handle) -> str:
        return f"{uploads_prefix(handle.workspace)}{handle.slot}/{handle.name}"

    def _source(self, handle: Handle) -> str:
        if self._settings.bucket:
            return f"s3://{self._settings.bucket}/{self._key(handle)}"
        return f"file://{self._inbox / handle.workspace / handle.slot / handle.name}"

    def _create_multipart(
        self, fields: dict[str, Any], upload_id: str, name: str, content_type: str, workspace: str
    ) -> dict[str, Any]:
        size = fields["size"]
        handle = Handle(
            slot=upload_id,
            workspace=workspace,
            name=name,
            size=size,
            part_size=multipart.part_size_for(size, fields.get("partSize")),
            expires=int(time.time()) + MULTIPART_SECONDS,
        )
        if self._settings.bucket:
            s3_upload = self._s3_multipart.start(self._key(handle), content_type)
            handle = dataclasses.replace(handle, s3_upload=s3_upload)
        else:
            slot = self._inbox / workspace / upload_id
            slot.mkdir(parents=True)
            multipart.write_meta(slot, handle)
        return {
            "uploadId": self._handles.encode(handle),
            "mode": "multipart",
            "sourceUrl": self._source(handle),
            "size": handle.size,
            "partSize": handle.part_size,
            "partCount": handle.part_count,
            "expiresIn": MULTIPART_SECONDS,
        }

    def _local_slot(self, handle: Handle) -> Path:
        slot = self._inbox / handle.workspace / handle.slot
        if not slot.is_dir():
            raise NotFoundError("no such upload (aborted or swept)")
        return slot

    def multipart_state(self, upload_id: str, workspace: str) -> dict[str, Any]:
        """`GET /uploads/{uploadId}`: the parts stored so far (what a client resumes from)."""
        handle = self._handles.decode(upload_id, workspace)
        status = "pending"
        if self._settings.bucket:
            parts = self._s3_multipart.parts(self._key(handle), handle.s3_upload)
        else:
            slot = self._local_slot(handle)
            parts = multipart.local_parts(slot)
            if (slot / handle.name).exists():
                status = "completed"
        return {
            "uploadId": upload_id,
            "status": status,
            "sourceUrl": self._source(handle),
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
        if not self._settings.bucket:
            self._local_slot(handle)
        parts = []
        for number in numbers:
            if self._settings.bucket:
                url = self._s3_multipart.part_url(self._key(handle), handle.s3_upload, number)
            else:
                path = f"/uploads/{handle.slot}/parts/{number}"
                url = self._signer.sign(f"{base_url}{path}", path)
            parts.append(
                {
                    "partNumber": number,
                    "url": url,
                    "method": "PUT",
                    "size": handle.part_length(number),
                }
            )
        return {"parts": parts, "expiresIn": PART_URL_SECONDS}

    def complete_multipart(self, upload_id: str, workspace: str) -> dict[str, Any]:
        """`POST /uploads/{uploadId}/complete`: the parts become the source, whole or not at
        all (409 naming the parts still missing)."""
        handle = self._handles.decode(upload_id, workspace)
        if self._settings.bucket:
            key = self._key(handle)
            parts = self._s3_multipart.parts(key, handle.s3_upload)
            multipart.check_parts(handle, {p["partNumber"]: p["size"] for p in parts})
            self._s3_multipart.complete(key, handle.s3_upload, parts)
        else:
            multipart.complete_local(self._local_slot(handle), handle)
        return {"sourceUrl": self._source(handle), "size": handle.size}

    def abort_multipart(self, upload_id: str, workspace: str) -> None:
        handle = self._handles.decode(upload_id, workspace)
        if self._settings.bucket:
            self._s3_multipart.abort(self._key(handle), handle.s3_upload)
            return
        slot = self._local_slot(handle)
        if (slot / handle.name).exists():
            raise ConflictError("this upload is complete; nothing to abort")
        multipart.abort_local(slot)

    def receive_local_part(
        self, upload_id: str, number: str, chunks: Iterable[bytes], length: int | None
    ) -> dict[str, Any]:
        """A part of a local multipart upload (`PUT /uploads/{id}/parts/{n}`)."""
        slot = self.slot(upload_id)
        if slot is None or not (number.isascii() and number.isdigit()) or len(number) > 5:
            raise NotFoundError("no such upload part")
        return multipart.receive_part(slot, int(number), chunks, length)

    def sweep_local(self, older_than: float = MULTIPART_SECONDS + 3600) -> int:
        """Remove local upload slots abandoned for longer than `older_than` seconds."""
        if self._settings.bucket or not self._inbox.is_dir():
            return 0
        return multipart.sweep(self._inbox, older_than)

    def receive_local(self, upload_id: str, name: str, data: bytes) -> dict[str, Any]:
        """Fill a local upload slot once with a body already in memory (the Chalice route)."""
        return self.receive_local_stream(upload_id, name, [data] if data else [], len(data))

    def receive_local_stream(
        self,
        upload_id: str,
        name: str,
        chunks: Iterable[bytes],
        length: int | None,
        max_bytes: int = LOCAL_MAX_UPLOAD_BYTES,
    ) -> dict[str, Any]:
        """Fill a local upload slot once, from a body that arrives in pieces.

        `length` is the declared size (Content-Length; None when chunked). Every check that can
        be made before reading is (404, 413 on the declared size, 409), so a refused upload is
        never read; the size is also counted as the chunks arrive. The body goes to a hidden
        temporary file renamed into place when it is complete: a body that fails half-way
        (broken connection, too large) leaves the slot empty and usable.
        """
        slot = self.slot(upload_id)
        if slot is None:
            raise NotFoundError("no such upload; ask POST /uploads for one")
        if name != safe_filename(name):
            raise NotFoundError("no such upload")
        too_large = PayloadTooLargeError(
            f"local uploads hold at most {max_bytes} bytes; copy larger files "
            "into a source root instead"
        )
        if length is not None and length > max_bytes:
            raise too_large
        with _slot_lock(slot):
            if _slot_used(slot):
                raise ConflictError("this upload was already used")
            target = slot / name
            # hidden temp name: never mistaken for the upload itself
            size = multipart.store_body(
                chunks, slot / ".upload.part", target, limit=max_bytes, too_large=too_large
            )
        return {"sourceUrl": f"file://{target}", "size": size}


def _slot_used(slot: Path) -> bool:
    return any(not p.name.startswith(".") for p in slot.iterdir())


@contextlib.contextmanager
def _slot_lock(slot: Path) -> Iterator[None]:
    """One writer per slot: an advisory lock on the slot directory (released by the kernel if the
    server dies, so a crash never leaves a slot locked)."""
    fd = os.open(slot, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError("an upload to this slot is in progress") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
