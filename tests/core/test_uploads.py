"""POST /uploads: a one-time upload target, presigned S3 PUT in AWS, a local slot locally."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.signing import UrlSigner
from chalicelib.api.upload_store_s3 import S3UploadStore
from chalicelib.api.uploads import Uploads, safe_filename
from chalicelib.config import Settings
from chalicelib.errors import ValidationError
from tests.conftest import uploaded_file

JSON = {"content-type": "application/json"}


def body(resp: Any) -> Any:
    return json.loads(resp.body)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("my film (final).mov", "my_film_final_.mov"),
        (".hidden", "hidden"),
        ("///", "source"),
        (None, "source"),
    ],
)
def test_filenames_are_made_harmless(raw: Any, safe: str) -> None:
    assert safe_filename(raw) == safe


def test_local_upload_then_create_and_process_source(client: Any, local_env: Path) -> None:
    resp = client.http.post(
        "/uploads",
        headers=JSON,
        body=json.dumps({"filename": "../my clip.mp4", "contentType": "video/mp4"}),
    )
    assert resp.status_code == 201
    target = body(resp)
    assert target["method"] == "PUT"
    path = target["uploadUrl"].split("/uploads/", 1)[1]
    put = client.http.put(
        f"/uploads/{path}", headers={"content-type": "video/mp4"}, body=b"\x00\x01binary\xff"
    )
    assert put.status_code == 201, put.body
    stored = uploaded_file(target["sourceUrl"], local_env)
    assert stored.read_bytes() == b"\x00\x01binary\xff"
    assert stored.name == "my_clip.mp4"
    created = client.http.post(
        "/videos", headers=JSON, body=json.dumps({"title": "t", "sourceUrl": target["sourceUrl"]})
    )
    assert created.status_code == 201  # the slot is inside the source roots
    again = client.http.put(
        f"/uploads/{path}", headers={"content-type": "video/mp4"}, body=b"other"
    )
    assert again.status_code == 409  # one-time


def test_put_without_a_slot_is_404_and_an_unsigned_put_is_403(client: Any) -> None:
    from chalicelib.factory import container

    path = "/uploads/AAAAAAAAAAAAAAAAAAAAAA/x.mp4"
    headers = {"content-type": "video/mp4"}
    signed = container().signer.sign(path, path)
    assert client.http.put(signed, headers=headers, body=b"x").status_code == 404
    assert client.http.put(path, headers=headers, body=b"x").status_code == 403


@pytest.mark.parametrize(
    "payload", [{"filename": 5}, {"contentType": "not a type"}, {"size": 3}, ["x"]]
)
def test_bad_upload_requests(client: Any, payload: Any) -> None:
    resp = client.http.post("/uploads", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 400


def test_s3_upload_is_a_presigned_put_under_uploads(
    s3_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    s3, bucket = s3_bucket
    settings = Settings(backend="aws", bucket=bucket, data_dir=tmp_path)
    signer = UrlSigner(b"k" * 32, 3600)
    uploads = Uploads(S3UploadStore(bucket, lambda: s3), signer)
    target = uploads.create({"filename": "clip.mp4", "contentType": "video/mp4"}, "", "acme")
    assert target["sourceUrl"].startswith(f"s3://{bucket}/uploads/acme/")
    assert "X-Amz-Signature=" in target["uploadUrl"]
    req = urllib.request.Request(
        target["uploadUrl"], data=b"video bytes", method="PUT", headers=target["headers"]
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    key = target["sourceUrl"].split(f"s3://{bucket}/", 1)[1]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"video bytes"
    # and the created video accepts exactly this kind of source
    from chalicelib.api.validation import validate_new_video

    new = {"title": "t", "sourceUrl": target["sourceUrl"]}
    assert validate_new_video(new, settings, "acme")
    with pytest.raises(ValidationError, match="uploads/globex/"):
        validate_new_video(new, settings, "globex")  # another workspace's upload
    with pytest.raises(ValidationError):
        uploads.create({"contentType": "video/mp4; x=1"}, "", "a")
