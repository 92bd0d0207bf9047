"""Regression tests: each failure the contract fuzzing (or the schema work around it) found in
the code, fixed in the code, pinned here."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.contract.servers import Server, local_server

JSON = {"Content-Type": "application/json"}
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with local_server(tmp_path_factory.mktemp("findings")) as served:
        yield served


def call(
    server: Server, method: str, path: str, body: bytes | None = None, headers: Any = None
) -> tuple[int, dict[str, str], bytes]:
    host = server.base.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request(method, path, body=body, headers={**AUTH, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.headers), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/videos/GsJ5IWNJ9ijEYFMfkOjPYi/stream/ci?sig=%C3%8E&exp=26755967",  # Chalice route
        "/media/0000000000000000000000/0/ci?exp=0&sig=%C2%80",  # make run's media path
        "/media/0000000000000000000000/0/ci?exp=%C2%B2&sig=abc",  # '²'.isdigit()
    ],
)
def test_a_signature_with_non_ascii_characters_is_a_403_not_a_crash(server, path) -> None:
    """hmac.compare_digest raised TypeError on non-ASCII text: a 500 on the stream route, a
    connection dropped without an answer on make run's media and upload paths."""
    status, _headers, raw = call(server, "GET", path)
    assert status == 403
    assert json.loads(raw)["error"]["code"] == "Forbidden"


def test_a_non_ascii_signature_on_an_upload_slot_is_a_403(server) -> None:
    status, _, raw = call(server, "PUT", "/uploads/YR2lhYNPULfHcgVEEmbxfA/0?exp=0&sig=%C2%80", b"x")
    assert status == 403, raw


@pytest.mark.parametrize(("method", "path", "status"), [
    ("TRACE", "/health", 405),
    ("TRACE", "/videos", 405),
    ("CONNECT", "/capacity", 405),
    ("FOO", "/nothing", 404),
])  # fmt: skip
def test_any_method_gets_a_json_answer_from_make_run(server, method, path, status) -> None:
    """http.server answered methods it has no do_X for with an HTML 501 (a server error)."""
    got, headers, raw = call(server, method, path)
    assert got == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(raw)["error"]["code"]


@pytest.mark.parametrize("path", ["/uploads", "/videos/AAAAAAAAAAAAAAAAAAAAAA/process"])
def test_a_json_null_body_is_not_taken_for_no_body(server, path) -> None:
    """`null` passed as "no body" on routes whose body is optional: a schema-violating
    request accepted."""
    status, _, raw = call(server, "POST", path, b"null", JSON)
    assert status == 400, raw
    assert "null" in json.loads(raw)["error"]["message"]


def test_an_integral_float_is_an_integer_as_json_schema_says(server) -> None:
    """The document's `integer` admits 3600.0 (JSON Schema), the validation refused it."""
    body = json.dumps({"name": "f", "scope": "read", "expiresIn": 3600.0}).encode()
    status, _, raw = call(server, "POST", "/tokens", body, JSON)
    assert status == 201, raw
    body = json.dumps({"multipart": {"size": 10.0, "partSize": 5242880.0}}).encode()
    status, _, raw = call(server, "POST", "/uploads", body, JSON)
    assert status == 201, raw
    assert json.loads(raw)["partCount"] == 1


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": "ci", "scope": "read", "workspace": "acme\n"}, "workspace"),
        ({"contentType": "video/mp4\n"}, "contentType"),
    ],
)
def test_a_trailing_newline_does_not_pass_an_anchored_pattern(server, document, field) -> None:
    """`re.match("^...$")` accepts a trailing newline: a workspace "acme\\n" was minted and a
    content type with a newline went into a presigned URL's signed headers."""
    path = "/tokens" if "scope" in document else "/uploads"
    status, _, raw = call(server, "POST", path, json.dumps(document).encode(), JSON)
    assert status == 400, raw
    assert json.loads(raw)["error"]["details"]["field"] == field


def test_an_sse_answer_is_events_the_document_describes(server: Server) -> None:
    """The events route was documented as a plain string; Schemathesis parses SSE and checks
    each event against the schema: now `{event, data, id, retry}` with `state` / `end`."""
    body = json.dumps({"title": "t", "sourceUrl": server.source_url}).encode()
    status, _, raw = call(server, "POST", "/videos", body, JSON)
    assert status == 201, raw
    vid = json.loads(raw)["id"]
    status, headers, raw = call(server, "GET", f"/videos/{vid}/events?wait=0")
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    text = raw.decode()
    assert "event: state" in text and "id: " in text and "retry: 1000" in text
