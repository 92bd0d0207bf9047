"""Hostile request bodies are 400s naming the field, never 500s and never stored, on both
backends (SQLite locally; DynamoDB + S3 on moto's server in AWS mode)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.core.backends import Backend, open_backend

DEEP = 100_000
BIDI_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


@pytest.fixture(params=["local", "aws"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend(request.param, request, tmp_path, monkeypatch)


def error(resp: Any) -> dict[str, Any]:
    err: dict[str, Any] = json.loads(resp.body)["error"]
    return err


def assert_refused(api: Backend, resp: Any, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == 400, resp.body
    err = error(resp)
    assert err["code"] == "ValidationError"
    assert err["requestId"]
    if field is not None:
        assert err["details"]["field"] == field
    assert api.stored_count() == 0  # nothing reached the store
    return err


# --- deeply nested JSON ---------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/videos", "/videos/process", "/uploads"])
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * DEEP + b"]" * DEEP,
        b"[" * DEEP,  # unterminated as well
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    ],
    ids=["arrays", "unterminated", "objects"],
)
def test_deeply_nested_bodies_are_400(api: Backend, path: str, raw: bytes) -> None:
    err = assert_refused(api, api.post(path, raw=raw))
    assert "nested too deeply" in err["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [("/videos", "title"), ("/videos/process", "videoIds"), ("/uploads", "filename")],
)
def test_deep_nesting_inside_a_field_is_400(api: Backend, path: str, field: str) -> None:
    raw = b'{"' + field.encode() + b'": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    assert_refused(api, api.post(path, raw=raw))
    assert api.orchestrator is not None and api.orchestrator.started == []


# --- lone surrogates --------------------------------------------------------------------------
# json.dumps writes a lone surrogate as the escape "\ud800", exactly what a hostile client sends.
@pytest.mark.parametrize("bad", ["\ud800", "\udfff", "a\udc00b", "\udc00\ud800"])
def test_lone_surrogate_in_source_url_is_400(api: Backend, bad: str) -> None:
    resp = api.post("/videos", {"title": "t", "sourceUrl": api.source() + bad})
    err = assert_refused(api, resp, "sourceUrl")
    assert err["details"]["reason"] == "InvalidUnicode"


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("bad", ["\ud800", "x\udbff", "\udc00\ud800"])
def test_lone_surrogate_in_text_is_400_and_not_stored(api: Backend, field: str, bad: str) -> None:
    payload = {"title": "t", "sourceUrl": api.source(), field: f"clip {bad}"}
    raw = json.dumps(payload).encode()
    assert b"\\ud" in raw  # sent as a JSON escape, the body itself is valid UTF-8
    err = assert_refused(api, api.post("/videos", raw=raw), field)
    assert err["details"]["reason"] == "InvalidUnicode"


def test_a_valid_surrogate_pair_is_one_character_and_accepted(api: Backend) -> None:
    raw = json.dumps({"title": "clip \U0001f3ac", "sourceUrl": api.source()}).encode()
    assert b"\\ud83c\\udfac" in raw  # the escaped pair decodes to U+1F3AC
    resp = api.post("/videos", raw=raw)
    assert resp.status_code == 201, resp.body
    vid = json.loads(resp.body)["id"]
    assert json.loads(api.get(f"/videos/{vid}").body)["title"] == "clip \U0001f3ac"


# --- control and bidi-override characters ---------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    ["\x00", "\x07", "\x1b[31m", "\t", "\n", "\r", "\x7f", "\x85", "\x9f"],
    ids=repr,
)
def test_control_characters_in_title_are_400(api: Backend, bad: str) -> None:
    resp = api.post("/videos", {"title": f"my{bad}clip", "sourceUrl": api.source()})
    err = assert_refused(api, resp, "title")
    assert err["details"]["reason"] == "ControlCharacter"
    assert err["details"]["position"] == 2


@pytest.mark.parametrize("bad", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("field", ["title", "description", "sourceUrl"])
def test_bidi_controls_are_400_in_every_text_field(api: Backend, field: str, bad: str) -> None:
    payload = {"title": "invoice", "sourceUrl": api.source()}
    payload[field] = payload.get(field, "") + bad + "4pm.exe"
    err = assert_refused(api, api.post("/videos", payload), field)
    assert err["details"]["reason"] == "BidiControl"
    assert err["details"]["codePoint"] == f"U+{ord(bad):04X}"


@pytest.mark.parametrize("bad", ["\x00", "\r", "\x0b", "\x0c", "\x1b", "\x7f", "\x80"], ids=repr)
def test_description_refuses_controls_other_than_tab_and_newline(api: Backend, bad: str) -> None:
    resp = api.post(
        "/videos", {"title": "t", "sourceUrl": api.source(), "description": f"a\n{bad}b"}
    )
    err = assert_refused(api, resp, "description")
    assert err["details"]["reason"] == "ControlCharacter"


@pytest.mark.parametrize("bad", ["\x00", "\t", "\n", "\x7f"], ids=repr)
def test_source_url_refuses_control_characters(api: Backend, bad: str) -> None:
    resp = api.post("/videos", {"title": "t", "sourceUrl": api.source() + bad})
    assert_refused(api, resp, "sourceUrl")


def test_real_text_in_any_script_round_trips(api: Backend) -> None:
    """What is refused is narrow: right-to-left scripts, combining marks, emoji sequences and
    (in the description) tabs and newlines are kept exactly."""
    title = "שלום مرحبا Ünïcödé e\u0301 \U0001f469\u200d\U0001f4bb 日本語"
    description = "line one\n\tindented line two\nالسطر الثالث"
    item = api.create(title=title, description=description)
    again = json.loads(api.get(f"/videos/{item['id']}").body)
    assert (again["title"], again["description"]) == (title, description)
    listed = json.loads(api.get("/videos").body)["videos"]
    assert [(v["title"], v["description"]) for v in listed] == [(title, description)]


# --- nothing hostile gives a 500 ---------------------------------------------------------------
HOSTILE_BODIES = [
    b"\x00",
    b"\xed\xa0\x80",  # a surrogate encoded in (invalid) UTF-8
    b'"\\ud800"',
    b'{"\\ud800": 1}',
    b'{"title": "\\u0000", "sourceUrl": "\\ud800"}',
    b'{"videoIds": ["\\ud800", "\\u0000", "\\u202e"]}',
    b'{"filename": "\\ud800\\u202e.mp4", "contentType": "video/mp4"}',
    b'{"contentType": "\\ud800"}',
    b"1e999999",
    b"-" + b"9" * 5000,
    b'{"title": ' + b"1" * 5000 + b"}",
    b"NaN",
    b'{"title": "t", "title": "\\ud800"}',  # the last duplicate wins, and is checked
]


@pytest.mark.parametrize("path", ["/videos", "/videos/process", "/uploads"])
@pytest.mark.parametrize("raw", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_no_hostile_body_is_a_500(api: Backend, path: str, raw: bytes) -> None:
    resp = api.post(path, raw=raw)
    assert resp.status_code < 500, (resp.status_code, resp.body)
    assert "error" in json.loads(resp.body) or path == "/uploads"  # a name is made harmless
    assert api.stored_count() == 0
