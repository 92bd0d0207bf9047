"""Multipart (resumable) uploads: large sources in parts, each retried on its own.

`POST /uploads {"multipart": true, "size": N}` answers an `uploadId`, the `partSize` and the
`partCount`; `POST /uploads/{uploadId}/parts {"partNumbers": [...]}` answers a signed URL per
part; the client PUTs each part (again, if it failed); `GET /uploads/{uploadId}` lists the parts
already stored (what an interrupted client resumes from); `POST /uploads/{uploadId}/complete`
assembles them into the source at `sourceUrl`; `DELETE /uploads/{uploadId}` aborts.

- AWS: an S3 multipart upload under `uploads/<workspace>/` (`upload_store_s3`). The bucket's
  lifecycle rule aborts what is left incomplete for a day.
- Locally (the mechanics below, used by `upload_store_local`): the upload slot
  `{root}/uploads/<workspace>/<id>/` receives the parts (`PUT /uploads/{id}/parts/{n}`, signed
  like every slot URL) into `.parts/`, each written to a
  temporary file and renamed into place when whole; completion concatenates them into a
  hidden file renamed to the source's name, so the source appears at once and entire.
  `sweep` removes abandoned uploads after a day.

The `uploadId` is self-describing and MAC-signed (workspace, key, sizes, S3's upload id,
expiry): nothing is stored for an upload besides its parts, and another workspace's or a
forged id is as unknown (404) as a missing one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.api.schemas import Array, Integer, Object
from chalicelib.api.signing import UrlSigner
from chalicelib.errors import (
    ConflictError,
    DependencyError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)

MiB = 1024 * 1024
MIN_PART_BYTES = 5 * MiB  # S3's minimum for every part but the last
MAX_PART_BYTES = 5 * 1024 * MiB  # S3's maximum
DEFAULT_PART_BYTES = 16 * MiB
MAX_PARTS = 10_000  # S3's maximum
MAX_MULTIPART_BYTES = 50 * 1024 * MiB
MULTIPART_SECONDS = 24 * 3600  # the lifecycle rule aborts incomplete uploads after a day
PART_URL_SECONDS = 3600
MAX_PART_URLS = 100  # per request
PREFIX = "mp1."
_CONTEXT = "multipart-upload"
META = ".multipart.json"
PARTS_DIR = ".parts"

MULTIPART_PARTS = Object(
    {
        "partNumbers": Array(
            Integer(minimum=1, maximum=MAX_PARTS),
            min_items=1,
            max_items=MAX_PART_URLS,
            unique=True,
            message=f"partNumbers must be a list of 1 to {MAX_PART_URLS} distinct part numbers",
            example=[1, 2, 3],
        )
    },
    required=("partNumbers",),
)


def part_size_for(size: int, requested: int | None = None) -> int:
    """The part size of an upload of `size` bytes: the one asked for, else 16 MiB, grown in
    whole MiB when the parts would exceed S3's 10,000."""
    if requested is not None:
        if -(-size // requested) > MAX_PARTS:
            raise ValidationError(
                f"partSize is too small for {size} bytes: at most {MAX_PARTS} parts",
                details={"field": "partSize"},
            )
        return requested
    smallest = -(-size // MAX_PARTS)
    return max(DEFAULT_PART_BYTES, -(-smallest // MiB) * MiB)


@dataclass(frozen=True)
class Handle:
    """What an `uploadId` carries (signed)."""

    slot: str  # the 22-character id in the key / the local slot's directory
    workspace: str
    name: str
    size: int
    part_size: int
    expires: int
    s3_upload: str = ""  # S3's UploadId (AWS mode)

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int:
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


class HandleCodec:
    def __init__(self, signer: UrlSigner, clock: Callable[[], float] = time.time) -> None:
        self._signer = signer
        self._clock = clock

    def encode(self, handle: Handle) -> str:
        doc = {
            "i": handle.slot,
            "w": handle.workspace,
            "n": handle.name,
            "s": handle.size,
            "p": handle.part_size,
            "e": handle.expires,
            "u": handle.s3_upload,
        }
        payload = (
            base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode())
            .decode()
            .rstrip("=")
        )
        return f"{PREFIX}{payload}.{self._signer.mac(_CONTEXT, payload)}"

    def decode(self, upload_id: str, workspace: str) -> Handle:
        """The handle of a valid, unexpired id of `workspace`'s; else 404."""
        unknown = NotFoundError("no such upload (unknown, aborted, completed long ago or expired)")
        if not upload_id.startswith(PREFIX) or len(upload_id) > 2048:
            raise unknown
        payload, _, mac = upload_id[len(PREFIX) :].partition(".")
        if not payload or not secrets.compare_digest(
            mac.encode(), self._signer.mac(_CONTEXT, payload).encode()
        ):
            raise unknown
        try:
            doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            handle = Handle(
                slot=str(doc["i"]),
                workspace=str(doc["w"]),
                name=str(doc["n"]),
                size=int(doc["s"]),
                part_size=int(doc["p"]),
                expires=int(doc["e"]),
                s3_upload=str(doc.get("u", "")),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise unknown from None
        if handle.workspace != workspace or handle.expires < self._clock():
            raise unknown
        return handle


def check_parts(handle: Handle, stored: dict[int, int]) -> None:
    """409 unless parts 1..N are all stored with their sizes (`stored`: number -> size)."""
    missing = [n for n in range(1, handle.part_count + 1) if n not in stored]
    wrong = [
        n for n, size in sorted(stored.items())
        if n > handle.part_count or size != handle.part_length(n)
    ]  # fmt: skip
    if missing or wrong:
        raise ConflictError(
            "the upload is not complete: PUT the missing parts (GET the upload to see them)",
            details={"missingParts": missing[:100], "wrongSizeParts": wrong[:100]},
            code="UploadIncomplete",
        )


# --- local ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def slot_lock(
    slot: Path,
    *,
    shared: bool = False,
    busy: str = "this upload is busy (parts arriving, or completing); retry",
) -> Iterator[None]:
    """Parts arrive under a shared lock on the slot directory; completion, abort and a single
    upload's body take it exclusively. Never waits: a conflicting operation is a 409 saying
    `busy` (released by the kernel if the server dies)."""
    fd = os.open(slot, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(busy) from None
        yield
    finally:
        os.close(fd)


def write_meta(slot: Path, handle: Handle) -> None:
    meta = {"size": handle.size, "partSize": handle.part_size, "name": handle.name}
    (slot / PARTS_DIR).mkdir()
    (slot / META).write_text(json.dumps(meta))


def read_meta(slot: Path) -> Handle | None:
    """The local slot's multipart description (None: not a multipart slot, or aborted)."""
    try:
        meta = json.loads((slot / META).read_text())
        return Handle(slot.name, slot.parent.name, meta["name"], meta["size"], meta["partSize"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def local_parts(slot: Path) -> list[dict[str, Any]]:
    folder = slot / PARTS_DIR
    out = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            name = entry.name
            if name.isascii() and name.isdigit():
                out.append({"partNumber": int(name), "size": entry.stat().st_size})
    return sorted(out, key=lambda p: p["partNumber"])


def receive_part(
    slot: Path, number: int, chunks: Iterable[bytes], length: int | None
) -> dict[str, Any]:
    """Store part `number` of the slot's multipart upload from a body arriving in pieces: the
    declared length is checked before reading, the count as it arrives; the part is renamed
    into place only when whole (a part sent again replaces it, as S3 does)."""
    handle = read_meta(slot)
    if handle is None or (slot / handle.name).exists():
        raise NotFoundError("no such multipart upload (completed or aborted?)")
    if not 1 <= number <= handle.part_count:
        raise NotFoundError(f"this upload has parts 1 to {handle.part_count}")
    expected = handle.part_length(number)
    wrong_size = ValidationError(
        f"part {number} must be exactly {expected} bytes", details={"partSize": expected}
    )
    if length is not None and length > expected:  # refused before `100 Continue`
        raise PayloadTooLargeError(
            f"part {number} is {expected} bytes; this body declares {length}",
            details={"partSize": expected},
        )
    if length is not None and length != expected:
        raise wrong_size
    with slot_lock(slot, shared=True):
        folder = slot / PARTS_DIR
        digest = hashlib.sha256()
        size = store_body(
            chunks,
            folder / f".{number}.{secrets.token_hex(4)}.tmp",
            folder / f"{number:05d}",
            limit=expected,
            too_large=wrong_size,
            exact=True,
            digest=digest,
        )
    return {"partNumber": number, "size": size, "etag": digest.hexdigest()[:32]}


def store_body(
    chunks: Iterable[bytes],
    tmp: Path,
    target: Path,
    *,
    limit: int,
    too_large: Exception,
    exact: bool = False,
    digest: Any = None,
) -> int:
    """Stream a body into `tmp`, counting bytes as they arrive (`too_large` past `limit`, or
    short of it when `exact`), then rename it to `target`; `tmp` never outlives a failure.
    Returns the size."""
    size = 0
    try:
        with disk_full_refused(), tmp.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise too_large
                if digest is not None:
                    digest.update(chunk)
                out.write(chunk)
        if exact and size != limit:
            raise too_large
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size


@contextlib.contextmanager
def disk_full_refused() -> Iterator[None]:
    """A full disk (or quota) while writing: a 503 `InsufficientStorage` the client may retry;
    callers remove their temporary file, so what was stored before stays as it was."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DependencyError(
            "the server's disk is full; this body was not kept (what was stored before is "
            "intact); retry later",
            code="InsufficientStorage",
            headers={"Retry-After": "60"},
        ) from exc


def complete_local(slot: Path, handle: Handle) -> int:
    """Concatenate the parts into the source, atomically; returns its size."""
    with slot_lock(slot):
        target = slot / handle.name
        if target.exists():
            return target.stat().st_size  # completed already: the same answer again
        parts = local_parts(slot)
        check_parts(handle, {p["partNumber"]: p["size"] for p in parts})
        tmp = slot / ".upload.part"
        try:
            with disk_full_refused(), tmp.open("wb") as out:
                for part in parts:
                    with (slot / PARTS_DIR / f"{part['partNumber']:05d}").open("rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        shutil.rmtree(slot / PARTS_DIR, ignore_errors=True)
        return handle.size


def abort_local(slot: Path) -> None:
    with slot_lock(slot):
        shutil.rmtree(slot, ignore_errors=True)


def sweep(inbox: Path, older_than: float, now: float | None = None) -> int:
    """Remove local upload slots left unfinished for `older_than` seconds (multipart parts that
    were never completed, slots never filled); returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for slot in inbox.glob("*/*"):
        try:
            if not slot.is_dir():
                continue
            parts = slot / PARTS_DIR
            latest = max(slot.stat().st_mtime, parts.stat().st_mtime if parts.exists() else 0)
            if now - latest < older_than:
                continue
            finished = any(not p.name.startswith(".") for p in slot.iterdir())
            if finished:
                continue
            with slot_lock(slot):
                shutil.rmtree(slot)
            removed += 1
        except (OSError, ConflictError):
            continue
    return removed
