"""The API's OpenAPI 3.1 document, built from the code on first request (`GET /openapi.json`).

- The paths and methods are the app's route table: each route registers its own operation
  (`@routes.route(..., op=Op(...))`, `chalicelib.api.operation`) beside its access decision;
  `build` refuses a route without one, and a test holds the document's operations equal to
  the route table. This module keeps the builder and the shapes the operations name.
- Each operation's security follows the route's `access` decision: `public` and `signed`
  routes carry `security: []` (signed ones the `exp`/`sig` query parameters instead), token
  routes the `bearer` scheme and the scope they need (`x-scope`, with their 401/403/429).
- Request bodies and query parameters are the schema objects the validation runs
  (`chalicelib.api.schemas`); responses name the shapes below, to which the contract tests
  (Schemathesis against `make run` and the AWS code path) hold the live answers.

Imported lazily by the route: nothing here is on the API's cold path.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Hashable, Mapping
from typing import Any, Protocol

from chalicelib.api.operation import JSON, Op
from chalicelib.domain import STATUSES, VIDEO_ID_RE
from chalicelib.domain.access import SCOPES
from chalicelib.domain.events import TEST_TYPE, TYPES

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
_REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"{_REF}{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_INT = {"type": "integer"}

# --- shapes of answers (described only; the live server is tested against them) -------------
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {**_STR, "description": "Stable, machine-readable."},
                "message": _STR,
                "details": {"description": "What was wrong, when known (e.g. the field)."},
                "requestId": {**_STR, "description": "Quote it: it finds the server's log."},
            },
        }
    },
    "examples": [
        {
            "error": {
                "code": "ValidationError",
                "message": "title must be a non-blank string",
                "details": {"field": "title"},
                "requestId": "5b0f7c1e2d9a4c3b8a1f0e6d7c5b4a39",
            }
        }
    ],
}
_VIDEO_EXAMPLE = {
    "id": "23cf5_kShqt2U_xwYG6TGA",
    "title": "Demo",
    "description": "",
    "status": "uploaded",
    "sourceUrl": "s3://media-bucket/uploads/default/q5Yl0TtH0lX0v6d2FzPp6w/demo.mp4",
    "workspace": "default",
    "createdAt": "2026-11-28T18:20:37.661481Z",
    "updatedAt": "2026-11-28T18:20:37.661481Z",
}
_VIDEO = {
    "type": "object",
    "description": "A video. A completed one adds `media`, `thumbnail`, `storyboard`, "
    "`transcoding`, `analysis`, `subtitles`, `stages`, `processingTimeMs` and `runId`, with "
    "URLs signed at read time; a failed one `error` and `failedAt`.",
    "required": ["id", "title", "description", "status", "sourceUrl", "createdAt", "updatedAt"],
    "properties": {
        "id": {**_STR, "pattern": VIDEO_ID_RE.pattern},
        "title": _STR,
        "description": _STR,
        "status": {"type": "string", "enum": list(STATUSES)},
        "sourceUrl": _STR,
        "workspace": _STR,
        "createdAt": _TIME,
        "updatedAt": _TIME,
        "createdBy": _STR,
        "processedBy": _STR,
        "executionName": _STR,
        "queuedAt": _TIME,
        "startedAt": _TIME,
        "completedAt": _TIME,
        "failedAt": _TIME,
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "playback": {
            "type": "object",
            "description": "Present once the run can be watched: while `processing` its HLS "
            "master serves growing EVENT playlists of the finished start (`state` partial), "
            "when `completed` the whole run (`state` complete); removed when the run fails.",
            "required": ["hlsUrl", "state"],
            "properties": {
                "hlsUrl": {**_STR, "format": "uri"},
                "state": {"type": "string", "enum": ["partial", "complete"]},
            },
        },
        "playableAt": _TIME,
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": _STR, "message": _STR},
        },
        "runId": _STR,
        "processingTimeMs": {"type": "number"},
        "media": {"type": "object"},
        "thumbnail": {"type": "object", "properties": {"url": {**_STR, "format": "uri"}}},
        "storyboard": {"type": "object"},
        "downloads": {  # issue 26: each MP4 rendition and the audio-only M4A, as attachments
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "quality": {**_STR, "examples": ["720p", "audio"]},
                    "format": {"type": "string", "enum": ["mp4", "m4a"]},
                    "url": {**_STR, "format": "uri"},
                    "size": _INT,
                },
            },
        },
        "images": {  # issue 26: thumbnails and animated previews, signed for an <img>
            "type": "object",
            "properties": {
                "thumbnailUrl": {**_STR, "format": "uri"},
                "animatedUrl": {**_STR, "format": "uri"},
                "signature": {
                    **_STR,
                    "description": "`exp=...&sig=...`: append it to any image URL of this video "
                    "(any time, size, fit or format) instead of a token.",
                },
            },
        },
        "transcoding": {
            "type": "object",
            "properties": {
                "formats": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "quality": {**_STR, "examples": ["720p"]},
                            "width": _INT,
                            "height": _INT,
                            "url": {**_STR, "format": "uri"},
                            "size": _INT,
                            "hlsUrl": {**_STR, "format": "uri"},
                            "codec": {
                                "type": "string",
                                "enum": ["h264", "av1"],
                                "description": "H.264 (every rung, MPEG-TS HLS) or AV1 "
                                "(SVT-AV1, top rungs, fMP4/CMAF HLS) when VIDEO_CODECS has it.",
                            },
                            "vmaf": _nullable(
                                {
                                    "type": "object",
                                    "description": "VMAF (vmaf_v0.6.1) of this rendition, "
                                    "upscaled to the ladder's top size (a 1080p short side "
                                    "at least), against the source: "
                                    "mean and 5th percentile of the frames scored (sampled "
                                    "windows, every second frame). Null: not measured.",
                                    "properties": {
                                        "mean": {"type": "number"},
                                        "p5": {"type": "number"},
                                        "frames": _INT,
                                        "model": _STR,
                                    },
                                }
                            ),
                        },
                    },
                },
                "ladder": _nullable(
                    {
                        "type": "object",
                        "description": "How the ladder was decided (VIDEO_LADDER): `mode` "
                        "per-title or fixed, the VMAF target, each rung's CRF, cap, keyframe "
                        "interval, downscaler (bicubic, or lanczos) and x264 options on "
                        "top of the preset (x264Params), the rungs dropped, and the probe's "
                        "windows, scores and seconds.",
                    }
                ),
                "hls": {"type": "object", "properties": {"masterUrl": {**_STR, "format": "uri"}}},
            },
        },
        "analysis": {"type": "object"},
        "subtitles": {"type": "object"},
        "stages": {"type": "object"},
        # issue 26 part B: chapters, their WebVTT track, and what a clip was cut from
        "chapters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "end", "title"],
                "properties": {
                    "start": {"type": "number"},
                    "end": {"type": "number"},
                    "title": _STR,
                },
            },
        },
        "chaptersVttUrl": {**_STR, "format": "uri"},
        "clipOf": {
            "type": "object",
            "required": ["videoId", "start", "end"],
            "properties": {
                "videoId": {**_STR, "pattern": VIDEO_ID_RE.pattern},
                "start": {"type": "number"},
                "end": {"type": "number"},
            },
        },
    },
    "examples": [_VIDEO_EXAMPLE],
}
_TOKEN = {
    "type": "object",
    "required": ["id", "name", "scope", "workspace", "createdAt", "revoked"],
    "properties": {
        "id": {**_STR, "pattern": "^[0-9a-f]{16}$"},
        "name": _STR,
        "scope": {"type": "string", "enum": list(SCOPES)},
        "workspace": _STR,
        "expiresAt": _nullable(_TIME),
        "createdAt": _TIME,
        "lastUsedAt": _nullable(_TIME),
        "revoked": {"type": "boolean"},
        "revokedAt": _TIME,
    },
}
_WEBHOOK = {
    "type": "object",
    "required": ["id", "url", "events", "description", "workspace", "enabled", "createdAt"],
    "properties": {
        "id": _STR,
        "url": _STR,
        "events": _nullable({"type": "array", "items": {"type": "string", "enum": list(TYPES)}}),
        "description": _STR,
        "workspace": _STR,
        "enabled": {"type": "boolean"},
        "createdAt": _TIME,
        "disabledReason": _STR,
        "circuit": {
            "type": "object",
            "description": "The endpoint's circuit breaker: `open` after consecutive failed "
            "attempts (deliveries wait until `retryAt` without spending an attempt), then "
            "`half-open` (the next attempt decides), `closed` again on a success.",
            "required": ["state", "consecutiveFailures", "retryAt"],
            "properties": {
                "state": {"type": "string", "enum": ["closed", "open", "half-open"]},
                "consecutiveFailures": _INT,
                "retryAt": _nullable(_TIME),
            },
        },
    },
}
_ATTEMPT = {
    "type": "object",
    "required": ["attempt", "at", "responseStatus", "durationMs", "error", "nextAttemptAt"],
    "properties": {
        "attempt": {"type": "integer", "minimum": 1},
        "at": _TIME,
        "responseStatus": _nullable(_INT),
        "durationMs": {"type": "number"},
        "error": _nullable(_STR),
        "nextAttemptAt": _nullable({**_TIME, "description": "The retry it scheduled, if any."}),
    },
}
_WITH_SECRET = {"secret": {**_STR, "description": "Shown only in this response."}}
_PART = {
    "type": "object",
    "required": ["partNumber", "size"],
    "properties": {
        "partNumber": {"type": "integer", "minimum": 1},
        "size": {"type": "integer", "minimum": 0},
        "etag": _STR,
    },
}
_UPLOAD_TARGET = {
    "type": "object",
    "description": "A single PUT (`uploadUrl`), or with `multipart: {size}` a multipart upload: "
    "ask `POST /uploads/{uploadId}/parts` for part URLs, PUT each part, then "
    "`POST /uploads/{uploadId}/complete`.",
    "required": ["uploadId", "mode", "sourceUrl", "expiresIn"],
    "properties": {
        "uploadId": _STR,
        "mode": {"type": "string", "enum": ["single", "multipart"]},
        "uploadUrl": {**_STR, "format": "uri"},
        "method": {"type": "string", "enum": ["PUT"]},
        "headers": {"type": "object", "additionalProperties": _STR},
        "sourceUrl": _STR,
        "expiresIn": _INT,
        "size": _INT,
        "partSize": _INT,
        "partCount": _INT,
    },
}
_UPLOAD_STATE = {
    "type": "object",
    "required": ["uploadId", "status", "sourceUrl", "size", "partSize", "partCount", "parts"],
    "properties": {
        "uploadId": _STR,
        "status": {"type": "string", "enum": ["pending", "completed"]},
        "sourceUrl": _STR,
        "size": _INT,
        "partSize": _INT,
        "partCount": _INT,
        "bytesStored": _INT,
        "parts": {"type": "array", "items": ref("UploadPart")},
        "expiresAt": _TIME,
    },
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "InstantClip": {
        "type": "object",
        "description": "An instant clip: a signed HLS playlist over the video's own segments "
        "that overlap [start, end) (`segmentStart`-`segmentEnd`, nothing encoded).",
        "required": ["hlsUrl", "start", "end", "segmentStart", "segmentEnd"],
        "properties": {
            "hlsUrl": {**_STR, "format": "uri"},
            "start": {"type": "number"},
            "end": {"type": "number"},
            "segmentStart": {"type": "number"},
            "segmentEnd": {"type": "number"},
        },
    },
    "Error": _ERROR,
    "Video": _VIDEO,
    "VideoList": {
        "type": "object",
        "required": ["videos", "count"],
        "properties": {
            "videos": {"type": "array", "items": ref("Video")},
            "count": _INT,
            "nextToken": _STR,
        },
    },
    "ProcessStarted": {
        "type": "object",
        "required": ["message", "executionArn", "videoId"],
        "properties": {"message": _STR, "executionArn": _STR, "videoId": _STR},
    },
    "BatchStarted": {
        "type": "object",
        "required": ["message", "executionArn", "executionName", "results"],
        "properties": {
            "message": _STR,
            "executionArn": _STR,
            "executionName": _STR,
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["videoId", "outcome"],
                    "properties": {
                        "videoId": _STR,
                        "outcome": {"type": "string", "enum": ["queued", "conflict", "notFound"]},
                        "currentStatus": {"type": "string", "enum": list(STATUSES)},
                    },
                },
            },
        },
    },
    "Execution": {
        "type": "object",
        "required": ["executionArn", "name", "status"],
        "properties": {
            "executionArn": _STR,
            "name": _STR,
            "status": _STR,
            "videoIds": {"type": "array", "items": _STR},
            "startDate": _STR,
            "stopDate": _STR,
            "currentState": _STR,
            "error": _STR,
            "cause": _STR,
            "output": {},
        },
    },
    "UploadTarget": _UPLOAD_TARGET,
    "UploadReceived": {
        "type": "object",
        "required": ["sourceUrl", "size"],
        "properties": {"sourceUrl": _STR, "size": _INT},
    },
    "UploadPart": _PART,
    "UploadState": _UPLOAD_STATE,
    "PartUrls": {
        "type": "object",
        "required": ["parts", "expiresIn"],
        "properties": {
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["partNumber", "url", "method", "size"],
                    "properties": {
                        "partNumber": _INT,
                        "url": {**_STR, "format": "uri"},
                        "method": {"type": "string", "enum": ["PUT"]},
                        "size": _INT,
                    },
                },
            },
            "expiresIn": _INT,
        },
    },
    "Token": _TOKEN,
    "TokenWithSecret": {
        "allOf": [
            ref("Token"),
            {"type": "object", "required": ["secret"], "properties": _WITH_SECRET},
        ]
    },
    "TokenList": {
        "type": "object",
        "required": ["tokens", "count"],
        "properties": {"tokens": {"type": "array", "items": ref("Token")}, "count": _INT},
    },
    "Webhook": _WEBHOOK,
    "WebhookWithSecret": {
        "allOf": [
            ref("Webhook"),
            {
                "type": "object",
                "required": ["secret"],
                "properties": {**_WITH_SECRET, "previousSecretValidUntil": _TIME},
            },
        ]
    },
    "WebhookList": {
        "type": "object",
        "required": ["webhooks", "count"],
        "properties": {"webhooks": {"type": "array", "items": ref("Webhook")}, "count": _INT},
    },
    "WebhookTestQueued": {
        "type": "object",
        "required": ["eventId", "deliveryId", "status"],
        "properties": {"eventId": _STR, "deliveryId": _STR, "status": _STR},
    },
    "DeliveryList": {
        "type": "object",
        "required": ["deliveries", "count"],
        "properties": {
            "deliveries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "eventId", "eventType", "status", "attempts"],
                    "properties": {
                        "id": _STR,
                        "eventId": _STR,
                        "eventType": {"type": "string", "enum": [*TYPES, TEST_TYPE]},
                        "status": _STR,
                        "attempts": _INT,
                        "nextAttemptAt": _nullable(_TIME),
                        "createdAt": _TIME,
                        "lastAttemptAt": _nullable(_TIME),
                        "responseStatus": _nullable(_INT),
                        "durationMs": _nullable({"type": "number"}),
                        "error": _nullable(_STR),
                        "attemptHistory": {
                            "type": "array",
                            "description": "Every attempt, oldest first (the last 20).",
                            "maxItems": 20,
                            "items": _ATTEMPT,
                        },
                    },
                },
            },
            "count": _INT,
        },
    },
    "Usage": {
        "type": "object",
        "required": ["workspace", "videos", "mediaMinutes", "environmentSeconds", "costUsd"],
        "properties": {
            "workspace": {"type": "string"},
            "from": _nullable({"type": "string"}),
            "to": _nullable({"type": "string"}),
            "videos": {"type": "integer", "minimum": 0},
            "mediaMinutes": {"type": "number"},
            "environmentSeconds": {"type": "number"},
            "capacitySeconds": {"type": "number"},
            "cpuSeconds": {"type": "number"},
            "costUsd": {"type": "number"},
            "costPerMinute": _nullable({"type": "number"}),
            "pricePerEnvironmentHour": {"type": "number"},
        },
    },
    "Capacity": {
        "type": "object",
        "required": ["requested", "applied", "leases"],
        "properties": {
            "requested": {"type": "object"},
            "applied": _nullable({"type": "object"}),
            "leases": {},
            "environments": {},
            "inFlight": {},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "timestamp", "backend"],
        "properties": {
            "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
            "timestamp": _TIME,
            "backend": _STR,
            "error": _STR,
            "requestId": _STR,
        },
    },
}

# --- operations ------------------------------------------------------------------------------
_ERROR_TEXT = {
    400: "Invalid input: a field, a query parameter, malformed JSON, a bad page token.",
    401: "No, malformed, unknown, revoked or expired access token.",
    403: "The token's scope is too small (or, on signed URLs, the signature is missing, "
    "tampered or expired).",
    404: "No such resource in the caller's workspace.",
    409: "Conflict with the resource's current state.",
    413: "The body is over the limit.",
    415: "The body is not `application/json`.",
    429: "Rate limit, too many failed sign-ins, or the workspace's cap on active videos "
    "(see `Retry-After`).",
    503: "A backing service (store, bucket, workflow) is unavailable; retry.",
}
_RESPONSE_HEADERS = {
    401: {"WWW-Authenticate": '`Bearer realm="video-service"`'},
    429: {"Retry-After": "Seconds to wait before retrying."},
}


_SIGNED_PARAMS = [
    {
        "name": "exp",
        "in": "query",
        "required": True,
        "description": "Expiry (Unix seconds) of the URL signature.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
    },
    {
        "name": "sig",
        "in": "query",
        "required": True,
        "description": "HMAC-SHA256 of the path and `exp` (base64url), as rendered by the API.",
        "schema": {"type": "string", "maxLength": 64},
    },
]


def _path_parameters(path: str, op: Op) -> list[dict[str, Any]]:
    out = []
    for name in re.findall(r"{([^}]+)}", path):
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if name in op.path_patterns:
            schema = {"type": "string", "pattern": op.path_patterns[name]}
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERROR_TEXT[status],
        "headers": {
            "X-Request-Id": {
                "description": "The request id (also `error.requestId`).",
                "schema": _STR,
            },
            **{
                name: {"description": text, "schema": _STR}
                for name, text in _RESPONSE_HEADERS.get(status, {}).items()
            },
        },
        "content": {JSON: {"schema": ref("Error")}},
    }
    return response


def _statuses(access: str, op: Op) -> set[int]:
    """Every status the operation may answer besides its success."""
    statuses = set(op.errors)
    if access not in ("public", "signed"):
        statuses |= {401, 403, 429, 503}
    if access in ("signed", "read-or-signed"):
        statuses.add(403)
    if op.body is not None:
        statuses |= {400, 413, 415}
    if op.query is not None:
        statuses.add(400)
    return statuses


def _responses(access: str, op: Op) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": op.summary}
    if op.ok_schema is not None:
        ok["content"] = {JSON: {"schema": ref(op.ok_schema)}}
    elif op.ok_content is not None:
        ok["content"] = {t: {"schema": s} for t, s in op.ok_content.items()}
    if op.links:
        ok["links"] = dict(op.links)
    responses: dict[str, Any] = {str(op.ok): ok}
    for status, schema in op.other_ok.items():
        content = {JSON: {"schema": ref(schema)}}
        responses[str(status)] = {"description": schema, "content": content}
    if op.revalidates:
        responses["304"] = {"description": "Not modified (the `If-None-Match` ETag matches)."}
    for status in sorted(_statuses(access, op)):
        if status == 503 and op.operation_id == "health":
            responses["503"] = {
                "description": "The store is unreachable.",
                "content": {JSON: {"schema": ref("Health")}},
            }
        else:
            responses[str(status)] = _error(status)
    return responses


def _request_body(method: str, op: Op) -> dict[str, Any] | None:
    if op.body is not None:
        schema = op.body.describe()
        content: dict[str, Any] = {"schema": schema}
        example = _body_example(schema)
        if example:
            content["example"] = example
        return {"required": op.body_required, "content": {JSON: content}}
    if method == "PUT":
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {"required": True, "content": {"application/octet-stream": binary}}
    return None


def _operation(path: str, method: str, access: str, op: Op) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(access, op),
    }
    if op.description:
        doc["description"] = op.description
    params = _path_parameters(path, op)
    if op.query is not None:
        params += op.query.describe()
    if access == "signed":
        params += copy.deepcopy(_SIGNED_PARAMS)
    if access == "read-or-signed":  # a read token, or the signature rendered on the item
        params += [{**p, "required": False} for p in copy.deepcopy(_SIGNED_PARAMS)]
    if params:
        doc["parameters"] = params
    if access in ("public", "signed"):
        doc["security"] = []
        doc["x-access"] = access
    elif access == "read-or-signed":
        doc["security"] = [{"bearer": []}, {}]
        doc["x-scope"] = "read"
        doc["x-access"] = access
    else:
        doc["security"] = [{"bearer": []}]
        doc["x-scope"] = access
        doc["description"] = f"Needs a `{access}` token. " + doc.get("description", "")
    body = _request_body(method, op)
    if body is not None:
        doc["requestBody"] = body
    return doc


def _body_example(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A request example from the properties' own examples."""
    out = {}
    for name, prop in (schema.get("properties") or {}).items():
        examples = prop.get("examples")
        if examples:
            out[name] = examples[0]
    return out


class RouteTable(Hashable, Protocol):
    """The app's routes (`ApiRoutes`): each one's access decision and operation."""

    access: dict[tuple[str, str], str]
    operations: dict[tuple[str, str], Op]


def build(
    access: Mapping[tuple[str, str], str], operations: Mapping[tuple[str, str], Op]
) -> dict[str, Any]:
    """The document for a route table: `{(path, method): access}` and each route's operation;
    a route without an operation is an error (the document must describe every route)."""
    missing = sorted(set(access) - set(operations))
    if missing:
        raise KeyError(f"routes missing from the OpenAPI operations: {missing}")
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), decision in sorted(access.items()):
        op = operations[(path, method)]
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, decision, op)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Video processing service",
            "version": API_VERSION,
            "description": "Upload, process and serve videos. Every route needs "
            "`Authorization: Bearer <token>` except `/health`, this document, `/docs` and "
            "the signed routes (media, stream documents, local upload targets), which carry "
            '`?exp=&sig=` instead. Errors are `{"error": {"code", "message", '
            '"details"?, "requestId"}}`.',
        },
        "tags": [
            {"name": t} for t in ("videos", "uploads", "media", "tokens", "webhooks", "service")
        ],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`vt_<id>_<secret>` (from `POST /tokens`), or the "
                    "operator's admin token. Scopes: read < write < admin (`x-scope`).",
                }
            },
        },
    }


@functools.lru_cache(maxsize=4)
def _cached(routes: RouteTable) -> dict[str, Any]:
    return build(routes.access, routes.operations)


def document(routes: RouteTable, server_url: str) -> bytes:
    """The serialized document of this route table, naming `server_url` (built once: the
    routes are all registered when app.py is imported)."""
    doc = _cached(routes)
    servers = [{"url": server_url}] if server_url else []
    return json.dumps({**doc, "servers": servers}, separators=(",", ":")).encode()
