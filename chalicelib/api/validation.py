"""Request parsing and validation: every malformed input becomes a precise 4xx."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from chalicelib import sources
from chalicelib.config import Settings
from chalicelib.domain import STATUSES
from chalicelib.errors import (
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

MAX_BODY_BYTES = 1024 * 1024
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_URL = 2048
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MAX_BATCH = 100



def parse_json_body(raw: bytes | None, content_type: str | None, required: bool = True) -> Any:
    """Decode a JSON request body, enforcing size, content type and syntax."""
    raw = raw or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"request body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if required:
            raise ValidationError("request body must be a JSON object")
        return None
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaTypeError(
            "request body must be sent as Content-Type: application/json",
            details={"contentType": content_type or None},
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError("request body is not UTF-8") from None
    except ValueError as exc:
        raise ValidationError("request body is not valid JSON", details=str(exc)) from None


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    return body


def _reject_unknown(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError("unknown fields", details={"unknownFields": unknown})


def _check_local_file(path: str, settings: Settings, workspace: str) -> None:
    real = sources.resolve_local_source(path, settings.source_roots)
    if workspace:
        sources.check_local_workspace(real, settings.source_roots, workspace)


def validate_source_url(url: Any, settings: Settings, workspace: str = "") -> str:
    """A source the processor will be able to read (`chalicelib.sources`), else a 400."""
    field = {"field": "sourceUrl"}
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("sourceUrl must be a non-empty string", details=field)
    if len(url) > MAX_URL:
        raise ValidationError(f"sourceUrl exceeds {MAX_URL} characters", details=field)
    if any(ord(ch) < 32 for ch in url):
        raise ValidationError("sourceUrl contains control characters", details=field)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        if scheme == "s3":
            if settings.is_local and not settings.bucket:
                raise ValidationError(
                    "s3:// sources need an S3 media store (VIDEO_BUCKET); locally use file://",
                    details=field,
                )
            sources.parse_s3_source(url, settings.bucket, workspace)
            return url
        if scheme == "file" and settings.is_local:
            if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
                raise ValidationError(
                    "file:// URLs must be file:///absolute/path", details=field
                )
            _check_local_file(unquote(parts.path), settings, workspace)
            return url
    except sources.SourceRejected as exc:
        details: dict[str, Any] = {**field, "reason": exc.code}
        if exc.code == "SourceOutsideRoots":
            details["allowedRoots"] = [str(r) for r in settings.source_roots]
        raise ValidationError(f"sourceUrl: {exc.message}", details=details) from None
    allowed = (
        "s3://bucket/key" if not settings.is_local else "file:///path (or s3:// with a bucket)"
    )
    raise ValidationError(
        f"unsupported sourceUrl scheme; use {allowed}",
        details={"field": "sourceUrl", "scheme": scheme or None},
    )


def validate_new_video(body: Any, settings: Settings, workspace: str = "") -> dict[str, str]:
    body = _require_object(body)
    _reject_unknown(body, {"title", "sourceUrl", "description"})
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("title must be a non-blank string", details={"field": "title"})
    if len(title) > MAX_TITLE:
        raise ValidationError(f"title exceeds {MAX_TITLE} characters", details={"field": "title"})
    description = body.get("description", "")
    if not isinstance(description, str):
        raise ValidationError("description must be a string", details={"field": "description"})
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(
            f"description exceeds {MAX_DESCRIPTION} characters", details={"field": "description"}
        )
    if "sourceUrl" not in body:
        raise ValidationError("sourceUrl is required", details={"field": "sourceUrl"})
    source = validate_source_url(body["sourceUrl"], settings, workspace)
    return {"title": title.strip(), "description": description, "sourceUrl": source}


def validate_list_params(params: Mapping[str, str] | None) -> tuple[str | None, int, str | None]:
    params = dict(params or {})
    _reject_unknown_params(params, {"status", "limit", "nextToken"})
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationError(
            "status must be one of " + ", ".join(STATUSES),
            details={"field": "status", "allowed": list(STATUSES)},
        )
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise ValidationError(
                f"limit must be an integer from 1 to {MAX_LIMIT}", details={"field": "limit"}
            )
        limit = int(raw_limit)
    token = params.get("nextToken")
    if token is not None and not token:
        raise ValidationError("nextToken must not be empty", details={"field": "nextToken"})
    return status, limit, token


def _reject_unknown_params(params: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError("unknown query parameters", details={"unknownParameters": unknown})


def validate_batch(body: Any) -> list[str]:
    body = _require_object(body)
    _reject_unknown(body, {"videoIds"})
    ids = body.get("videoIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValidationError(
            "videoIds must be a non-empty list of video ids", details={"field": "videoIds"}
        )
    if len(ids) > MAX_BATCH:
        raise ValidationError(
            f"a batch holds at most {MAX_BATCH} videos", details={"field": "videoIds"}
        )
    if len(set(ids)) != len(ids):
        raise ValidationError("videoIds contains duplicates", details={"field": "videoIds"})
    return list(ids)


def validate_empty_or_object(body: Any) -> None:
    if body is None:
        return
    _reject_unknown(_require_object(body), set())
