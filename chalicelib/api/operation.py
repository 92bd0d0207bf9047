"""What a route says about itself in the OpenAPI document: `@routes.route(..., op=Op(...))`.

The route table (`ApiRoutes`) keeps each route's `Op` beside its access decision, so a route and
its description are written in one place (app.py); `chalicelib.api.openapi` turns the table into
the document on first request. Light on purpose: app.py imports it on the cold path, the document
builder and its shapes stay lazy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.api.schemas import Query, Schema
from chalicelib.domain import VIDEO_ID_RE
from chalicelib.media_store.base import CONTENT_TYPES

JSON = "application/json"
TEXT = {"type": "string"}
# Path parameter patterns shared by several routes.
VIDEO_ID = VIDEO_ID_RE.pattern
UPLOAD_ID = "^[A-Za-z0-9_-]{22}$"
FILE_NAME = r"^[A-Za-z0-9._-]{1,100}$"
# What GET /media may answer: every media type a run writes, and JSON (analysis, captions index).
MEDIA_TYPES = sorted({t.split(";")[0] for t in CONTENT_TYPES.values()} | {JSON})
# One Server-Sent Event, as a client parses it: `state` events carry the video's
# {"status", "progress", "eventSequence", "error"?, "playback"?} as JSON text; `playable` (once
# per stream, `{hlsUrl, state}`) says the run can be watched; `end` closes the stream.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["state", "playable", "end"]},
        "data": {**TEXT, "contentMediaType": JSON},
        "id": TEXT,
        "retry": {"type": "integer", "minimum": 0},
    },
}


@dataclass(frozen=True)
class Op:
    """What the route table does not say about one operation (its path, method and access are
    the route's own)."""

    operation_id: str
    summary: str
    tag: str
    ok: int
    ok_schema: str | None = None  # a components/schemas name; None with `ok_content`
    ok_content: Mapping[str, Any] | None = None  # {media type: schema} for non-JSON answers
    body: Schema | None = None
    body_required: bool = True
    query: Query | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    path_patterns: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, Any] = field(default_factory=dict)
    revalidates: bool = False  # answers 304 to a matching If-None-Match
    other_ok: Mapping[int, str] = field(default_factory=dict)  # another success: schema name


def links(parameter: str, value: str, **operations: str) -> dict[str, Any]:
    """OpenAPI links `{LinkName: operationId}` that pass `value` (a runtime expression such as
    `$response.body#/id`) as the path parameter `parameter`."""
    return {
        name: {"operationId": op_id, "parameters": {parameter: value}}
        for name, op_id in operations.items()
    }
