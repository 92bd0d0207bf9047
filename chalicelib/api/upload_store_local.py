"""The upload port on local disk: slots under `{first source root}/uploads/{workspace}/{id}/`.

An upload's `sourceUrl` is `upload://{workspace}/{id}/{name}` (`chalicelib.sources`): relative
to this inbox, so no answer carries the server's paths.

A one-time target is `PUT /uploads/{uploadId}/{filename}` on this server (a URL signed like
S3's presigned ones): the body is streamed to a hidden temporary file and renamed into place once
complete, one writer per slot. A multipart upload's parts arrive in the slot's `.parts/`
(`chalicelib.api.multipart`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chalicelib.api import multipart
from chalicelib.api.multipart import Handle
from chalicelib.api.signing import UrlSigner
from chalicelib.api.upload_store import safe_filename
from chalicelib.errors import ConflictError, NotFoundError, PayloadTooLargeError
from chalicelib.sources import upload_url

_UPLOAD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
SINGLE_TMP = ".upload.part"  # a single upload's body while it arrives


class LocalUploadStore:
    def __init__(self, inbox: Path, signer: UrlSigner) -> None:
        self._inbox = inbox
        self._signer = signer

    def _signed_url(self, base_url: str, path: str) -> str:
        return self._signer.sign(f"{base_url}{path}", path)  # a capability, like S3's

    def _slot(self, upload_id: str) -> Path | None:
        """The slot `{inbox}/{workspace}/{uploadId}/`, when it exists."""
        if not _UPLOAD_ID_RE.match(upload_id):
            return None
        found = [p for p in self._inbox.glob(f"*/{upload_id}") if p.is_dir()]
        return found[0] if len(found) == 1 else None

    def _open_slot(self, handle: Handle) -> Path:
        slot = self._inbox / handle.workspace / handle.slot
        if not slot.is_dir():
            raise NotFoundError("no such upload (aborted or swept)")
        return slot

    def open_slots(self, workspace: str) -> int:
        folder = self._inbox / workspace
        if not folder.is_dir():
            return 0
        return sum(
            1
            for slot in folder.iterdir()
            if slot.is_dir() and not any(not p.name.startswith(".") for p in slot.iterdir())
        )

    def bytes_in_flight(self, workspace: str) -> int:
        folder = self._inbox / workspace
        if not folder.is_dir():
            return 0
        total = 0
        for slot in folder.iterdir():
            if not slot.is_dir():
                continue
            handle = multipart.read_meta(slot)
            if handle is not None:  # an open multipart upload reserves its declared size
                total += 0 if (slot / handle.name).exists() else handle.size
                continue
            with contextlib.suppress(OSError):  # a single body arriving now: what it has sent
                total += (slot / SINGLE_TMP).stat().st_size
        return total

    def workspace_of(self, upload_id: str) -> str | None:
        slot = self._slot(upload_id)
        return None if slot is None else slot.parent.name

    def single(
        self, workspace: str, upload_id: str, name: str, content_type: str, base_url: str
    ) -> tuple[str, str]:
        slot = self._inbox / workspace / upload_id
        slot.mkdir(parents=True)  # the one-time slot a PUT may fill
        url = self._signed_url(base_url, f"/uploads/{upload_id}/{name}")
        return url, upload_url(workspace, upload_id, name)

    def source(self, handle: Handle) -> str:
        return upload_url(handle.workspace, handle.slot, handle.name)

    def start_multipart(self, handle: Handle, content_type: str) -> Handle:
        slot = self._inbox / handle.workspace / handle.slot
        slot.mkdir(parents=True)
        multipart.write_meta(slot, handle)
        return handle

    def stored_parts(self, handle: Handle) -> tuple[list[dict[str, Any]], bool]:
        slot = self._open_slot(handle)
        return multipart.local_parts(slot), (slot / handle.name).exists()

    def part_urls(self, handle: Handle, numbers: list[int], base_url: str) -> list[str]:
        self._open_slot(handle)
        return [self._signed_url(base_url, f"/uploads/{handle.slot}/parts/{n}") for n in numbers]

    def complete(self, handle: Handle) -> None:
        multipart.complete_local(self._open_slot(handle), handle)

    def abort(self, handle: Handle) -> None:
        slot = self._open_slot(handle)
        if (slot / handle.name).exists():
            raise ConflictError("this upload is complete; nothing to abort")
        multipart.abort_local(slot)

    def receive_part(
        self, upload_id: str, number: str, chunks: Iterable[bytes], length: int | None
    ) -> dict[str, Any]:
        slot = self._slot(upload_id)
        if slot is None or not (number.isascii() and number.isdigit()) or len(number) > 5:
            raise NotFoundError("no such upload part")
        return multipart.receive_part(slot, int(number), chunks, length)

    def sweep(self, older_than: float) -> int:
        if not self._inbox.is_dir():
            return 0
        return multipart.sweep(self._inbox, older_than)

    def receive(
        self,
        upload_id: str,
        name: str,
        chunks: Iterable[bytes],
        length: int | None,
        max_bytes: int,
    ) -> dict[str, Any]:
        """Fill a slot once, from a body that arrives in pieces.

        `length` is the declared size (Content-Length; None when chunked). Every check that can
        be made before reading is (404, 413 on the declared size, 409), so a refused upload is
        never read; the size is also counted as the chunks arrive. The body goes to a hidden
        temporary file renamed into place when it is complete: a body that fails half-way
        (broken connection, too large) leaves the slot empty and usable.
        """
        slot = self._slot(upload_id)
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
        with multipart.slot_lock(slot, busy="an upload to this slot is in progress"):
            if any(not p.name.startswith(".") for p in slot.iterdir()):
                raise ConflictError("this upload was already used")
            target = slot / name
            # hidden temp name: never mistaken for the upload itself
            size = multipart.store_body(
                chunks, slot / SINGLE_TMP, target, limit=max_bytes, too_large=too_large
            )
        return {"sourceUrl": upload_url(slot.parent.name, slot.name, name), "size": size}
