"""The upload port: where a source is uploaded to before a video is created from it.

Two adapters, chosen once by the factory (`Settings.media_is_local`): the media bucket's
`uploads/` prefix with presigned S3 URLs (`upload_store_s3.S3UploadStore`), or the local inbox
`{first source root}/uploads/` with URLs signed by this server (`upload_store_local`). The
service (`chalicelib.api.uploads.Uploads`) validates requests and shapes answers; it never asks
which adapter it has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from chalicelib.api.multipart import Handle
from chalicelib.errors import ValidationError

UPLOAD_SECONDS = 3600
# Local uploads are streamed to disk (devserver/), so this is a policy limit (the local inbox is
# a development aid), not a memory bound.
LOCAL_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


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


class UploadStore(Protocol):
    """Upload targets and multipart uploads on one backend. `handle` is a multipart upload's
    decoded (verified) `uploadId`."""

    def single(
        self, workspace: str, upload_id: str, name: str, content_type: str, base_url: str
    ) -> tuple[str, str]:
        """A one-time target for one PUT: (its URL, the `sourceUrl` the file will have)."""
        ...

    def open_slots(self, workspace: str) -> int:
        """Upload targets the workspace holds that are not filled yet (0 where the backend
        bounds them itself)."""
        ...

    def bytes_in_flight(self, workspace: str) -> int:
        """Bytes the workspace has in unfinished uploads: locally each open multipart upload's
        declared size plus the bytes of single bodies arriving now; in S3 the parts stored in
        its open multipart uploads."""
        ...

    def source(self, handle: Handle) -> str:
        """The `sourceUrl` a multipart upload becomes."""
        ...

    def start_multipart(self, handle: Handle, content_type: str) -> Handle:
        """Open a multipart upload; the handle to encode (it may carry the backend's id)."""
        ...

    def stored_parts(self, handle: Handle) -> tuple[list[dict[str, Any]], bool]:
        """The parts stored so far (`{partNumber, size, etag?}`) and whether it is complete."""
        ...

    def part_urls(self, handle: Handle, numbers: list[int], base_url: str) -> list[str]:
        """A URL to PUT each of these parts (404 when the upload is gone)."""
        ...

    def complete(self, handle: Handle) -> None:
        """Assemble the parts into the source, whole or not at all (409 naming what is missing)."""
        ...

    def abort(self, handle: Handle) -> None:
        """Abort the upload; its parts are deleted (409 when it is already complete)."""
        ...

    def receive(
        self,
        upload_id: str,
        name: str,
        chunks: Iterable[bytes],
        length: int | None,
        max_bytes: int,
    ) -> dict[str, Any]:
        """Fill a one-time target with a body arriving in pieces (this server's targets only:
        404 where uploads go elsewhere)."""
        ...

    def workspace_of(self, upload_id: str) -> str | None:
        """The workspace of this server's one-time target `upload_id` (None: not one here)."""
        ...

    def receive_part(
        self, upload_id: str, number: str, chunks: Iterable[bytes], length: int | None
    ) -> dict[str, Any]:
        """One part of a multipart upload (this server's targets only: 404 elsewhere)."""
        ...

    def sweep(self, older_than: float) -> int:
        """Remove uploads abandoned for longer than `older_than` seconds; how many."""
        ...
