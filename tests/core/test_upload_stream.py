"""Uploads.receive_local_stream on its own: checks before reading, counted size, nothing left
behind by a body that fails (over HTTP: test_local_uploads.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.api.signing import UrlSigner
from chalicelib.api.upload_store_local import LocalUploadStore
from chalicelib.api.uploads import Uploads
from chalicelib.errors import ConflictError, NotFoundError, PayloadTooLargeError
from tests.conftest import uploaded_file


@pytest.fixture
def uploads(tmp_path: Path) -> Uploads:
    signer = UrlSigner(b"k" * 32, 3600)
    return Uploads(LocalUploadStore(tmp_path / "inbox" / "uploads", signer), signer)


def slot_of(uploads: Uploads, data_dir: Path) -> tuple[str, Path]:
    source = uploads.create({"filename": "clip.mp4"}, "http://x", "default")["sourceUrl"]
    path = uploaded_file(source, data_dir)
    return path.parent.name, path.parent


def never_read() -> Iterator[bytes]:
    raise AssertionError("the body was read")
    yield b""  # pragma: no cover


def test_refusals_come_before_the_body_is_read(uploads: Uploads, tmp_path: Path) -> None:
    upload_id, _ = slot_of(uploads, tmp_path)
    with pytest.raises(NotFoundError):
        uploads.receive_local_stream("A" * 22, "clip.mp4", never_read(), 3)
    with pytest.raises(PayloadTooLargeError):
        uploads.receive_local_stream(upload_id, "clip.mp4", never_read(), 11, max_bytes=10)
    uploads.receive_local_stream(upload_id, "clip.mp4", iter([b"abc"]), 3)
    with pytest.raises(ConflictError):
        uploads.receive_local_stream(upload_id, "clip.mp4", never_read(), 3)


def test_the_size_is_counted_as_the_body_arrives(uploads: Uploads, tmp_path: Path) -> None:
    upload_id, slot = slot_of(uploads, tmp_path)
    pieces = iter([b"12345", b"67890", b"!"])
    with pytest.raises(PayloadTooLargeError):
        uploads.receive_local_stream(upload_id, "clip.mp4", pieces, None, max_bytes=10)
    assert list(slot.iterdir()) == []
    result = uploads.receive_local_stream(upload_id, "clip.mp4", iter([b"12345"]), None, 10)
    assert result["size"] == 5


def test_a_body_that_breaks_leaves_the_slot_empty_and_usable(
    uploads: Uploads, tmp_path: Path
) -> None:
    upload_id, slot = slot_of(uploads, tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"first half"
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        uploads.receive_local_stream(upload_id, "clip.mp4", broken(), 100)
    assert list(slot.iterdir()) == []
    uploads.receive_local_stream(upload_id, "clip.mp4", iter([b"whole"]), 5)
    assert (slot / "clip.mp4").read_bytes() == b"whole"


def test_a_second_writer_is_refused_while_the_first_is_writing(
    uploads: Uploads, tmp_path: Path
) -> None:
    upload_id, slot = slot_of(uploads, tmp_path)
    refused: list[Exception] = []

    def first_body() -> Iterator[bytes]:
        yield b"one"
        try:  # a second upload to the same slot arrives meanwhile
            uploads.receive_local_stream(upload_id, "clip.mp4", iter([b"two"]), 3)
        except ConflictError as exc:
            refused.append(exc)
        yield b"!"

    uploads.receive_local_stream(upload_id, "clip.mp4", first_body(), 4)
    assert [str(e) for e in refused] == ["an upload to this slot is in progress"]
    assert (slot / "clip.mp4").read_bytes() == b"one!"
