"""Getting a source video to where the processor may read it.

`POST /uploads` hands out a one-time upload target and the `sourceUrl` to create the video
with. In AWS it is a presigned S3 PUT under the media bucket's `uploads/` prefix (the only
prefix the processor may read; a lifecycle rule expires what is never used). Locally it is
`PUT /uploads/{uploadId}/{filename}` on this server, written into the first source root.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.api.signing import UrlSigner
from chalicelib.config import Settings
from chalicelib.errors import ConflictError, NotFoundError, PayloadTooLargeError, ValidationError
from chalicelib.sources import uploads_prefix

UPLOAD_SECONDS = 3600
LOCAL_MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # chalice local holds a body in memory
_UPLOAD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTENT_TYPE_RE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")


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
    def __init__(
        self, settings: Settings, s3_client: Callable[[], Any], signer: UrlSigner
    ) -> None:
        self._settings = settings
        self._s3 = s3_client
        self._signer = signer

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
        if body is None:
            body = {}
        if not isinstance(body, dict) or set(body) - {"filename", "contentType"}:
            raise ValidationError("body may hold only filename and contentType")
        name = safe_filename(body.get("filename"))
        content_type = body.get("contentType", "application/octet-stream")
        if not isinstance(content_type, str) or not _CONTENT_TYPE_RE.match(content_type):
            raise ValidationError(
                "contentType must be a media type such as video/mp4",
                details={"field": "contentType"},
            )
        upload_id = secrets.token_urlsafe(16)
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
            "uploadUrl": url,
            "method": "PUT",
            "headers": {"Content-Type": content_type},
            "sourceUrl": source,
            "expiresIn": UPLOAD_SECONDS,
        }

    def receive_local(self, upload_id: str, name: str, data: bytes) -> dict[str, Any]:
        """Fill a local upload slot once."""
        slot = self.slot(upload_id)
        if slot is None:
            raise NotFoundError("no such upload; ask POST /uploads for one")
        if name != safe_filename(name):
            raise NotFoundError("no such upload")
        if len(data) > LOCAL_MAX_UPLOAD_BYTES:
            raise PayloadTooLargeError(
                f"local uploads hold at most {LOCAL_MAX_UPLOAD_BYTES} bytes; copy larger files "
                "into a source root instead"
            )
        target = slot / name
        if any(slot.iterdir()):
            raise ConflictError("this upload was already used")
        tmp = slot / f".{name}.part"
        tmp.write_bytes(data)
        tmp.replace(target)
        return {"sourceUrl": f"file://{target}", "size": len(data)}
