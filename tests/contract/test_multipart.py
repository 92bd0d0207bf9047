"""Multipart uploads through the API (local mode, chalice's test client): the protocol's edges."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ADMIN_TOKEN, uploaded_file

MiB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def start(client: Any, size: int, **extra: Any) -> dict[str, Any]:
    payload = {"filename": "big.mp4", "multipart": {"size": size, "partSize": 5 * MiB}, **extra}
    resp = client.http.post("/uploads", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 201, resp.body
    return dict(body(resp))


def put_part(client: Any, upload: dict[str, Any], number: int, data: bytes) -> Any:
    resp = client.http.post(
        f"/uploads/{upload['uploadId']}/parts",
        headers=JSON,
        body=json.dumps({"partNumbers": [number]}),
    )
    assert resp.status_code == 200, resp.body
    (part,) = body(resp)["parts"]
    url = urlsplit(part["url"])  # signed; relative here (the test client sends no Host)
    assert url.path == f"/uploads/{url.path.split('/')[2]}/parts/{number}"
    return client.http.put(f"{url.path}?{url.query}", body=data, headers={"Content-Type": "x/y"})


def test_parts_in_any_order_then_complete(client: Any, local_env: Path) -> None:
    data = os.urandom(11 * MiB)
    upload = start(client, len(data))
    assert (upload["mode"], upload["partCount"], upload["partSize"]) == ("multipart", 3, 5 * MiB)
    assert upload["uploadId"].startswith("mp1.")
    chunks = [data[: 5 * MiB], data[5 * MiB : 10 * MiB], data[10 * MiB :]]
    for number in (3, 1):
        assert put_part(client, upload, number, chunks[number - 1]).status_code == 200
    state = body(client.http.get(f"/uploads/{upload['uploadId']}"))
    assert [p["partNumber"] for p in state["parts"]] == [1, 3]
    assert state["bytesStored"] == 6 * MiB and state["status"] == "pending"
    early = client.http.post(f"/uploads/{upload['uploadId']}/complete")
    assert early.status_code == 409
    assert body(early)["error"]["details"]["missingParts"] == [2]
    assert put_part(client, upload, 2, chunks[1]).status_code == 200
    assert put_part(client, upload, 2, chunks[1]).status_code == 200  # again: replaces itself
    done = client.http.post(f"/uploads/{upload['uploadId']}/complete")
    assert done.status_code == 200, done.body
    source = uploaded_file(body(done)["sourceUrl"], local_env)
    assert source.read_bytes() == data
    again = client.http.post(f"/uploads/{upload['uploadId']}/complete")
    assert again.status_code == 200  # idempotent
    assert body(client.http.get(f"/uploads/{upload['uploadId']}"))["status"] == "completed"
    created = client.http.post(
        "/videos", headers=JSON, body=json.dumps({"title": "Big", "sourceUrl": f"file://{source}"})
    )
    assert created.status_code == 201, created.body


def test_a_part_of_the_wrong_size_or_number_is_refused(client: Any, local_env: Path) -> None:
    upload = start(client, 6 * MiB)
    assert put_part(client, upload, 1, b"x" * 100).status_code == 400
    assert put_part(client, upload, 2, b"x" * MiB).status_code == 200  # the last is shorter
    resp = client.http.post(
        f"/uploads/{upload['uploadId']}/parts", headers=JSON, body=json.dumps({"partNumbers": [3]})
    )
    assert resp.status_code == 400


def test_abort_and_unknown_forged_or_foreign_ids(client: Any, local_env: Path) -> None:
    upload = start(client, 6 * MiB)
    uid = upload["uploadId"]
    assert client.http.delete(f"/uploads/{uid}").status_code == 204
    assert client.http.get(f"/uploads/{uid}").status_code == 404
    forged = uid[:-2] + ("AA" if not uid.endswith("AA") else "BB")
    for bad in (forged, "mp1.e30.x", "AAAAAAAAAAAAAAAAAAAAAA", "mp1." + "A" * 3000):
        assert client.http.get(f"/uploads/{bad}").status_code == 404, bad
    # another workspace's token sees nothing of it
    other = start(client, 6 * MiB)
    token = body(client.http.post("/tokens", headers=JSON, body=json.dumps(
        {"name": "x", "scope": "write", "workspace": "acme"})))["secret"]  # fmt: skip
    resp = client.http.get(
        f"/uploads/{other['uploadId']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 404


def test_multipart_needs_a_size_and_enough_part_size(client: Any, local_env: Path) -> None:
    payloads: list[dict[str, Any]] = [
        {"multipart": {}},
        {"multipart": {"size": 10**12, "partSize": 5 * MiB}},
        {"multipart": {"size": 1, "partSize": MiB}},
    ]
    for payload in payloads:
        resp = client.http.post("/uploads", headers=JSON, body=json.dumps(payload))
        assert resp.status_code == 400, payload


def test_the_sweep_removes_abandoned_slots_only(client: Any, local_env: Path) -> None:
    from chalicelib.factory import container

    old = start(client, 6 * MiB)
    fresh = start(client, 6 * MiB)
    inbox = local_env / "inbox" / "uploads" / "default"
    old_slot = inbox / old["sourceUrl"].split("/")[-2]
    stale = time.time() - 3 * 86400
    for path in (old_slot, old_slot / ".parts"):
        os.utime(path, (stale, stale))
    assert container().uploads.sweep_local() == 1
    assert not old_slot.exists()
    assert (inbox / fresh["sourceUrl"].split("/")[-2]).exists()


@pytest.mark.parametrize("token", [None, "vt_0123456789abcdef_" + "A" * 43])
def test_multipart_routes_need_a_write_token(client: Any, local_env: Path, token) -> None:
    headers = {"Authorization": f"Bearer {token}" if token else ""}
    assert client.http.get("/uploads/x", headers=headers).status_code == 401
    assert ADMIN_TOKEN
