"""Request parsing and validation: every malformed input becomes a precise 4xx."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from chalicelib import sources
from chalicelib.api.schemas import (
    Array,
    Choice,
    Integer,
    Number,
    Object,
    Query,
    Text,
    check_text,
)
from chalicelib.config import Settings
from chalicelib.domain import STATUSES
from chalicelib.errors import (
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from chalicelib.store.base import search_words

MAX_BODY_BYTES = 1024 * 1024
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_URL = 2048
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MAX_BATCH = 100
MAX_NEXT_TOKEN = 4096
MAX_SEARCH = 200
MAX_SEARCH_WORDS = 8
MAX_SSE_WAIT = 60

# --- the request schemas of the video routes (they validate, and the OpenAPI document shows
# them: chalicelib.api.openapi) ------------------------------------------------------------
SOURCE_URL = Text(
    max_length=MAX_URL,
    non_blank=True,
    message="sourceUrl must be a non-empty string",
    description="Where the source video is: in AWS `s3://<media bucket>/uploads/<workspace>/...`"
    " (from `POST /uploads`); locally a `file:///` path inside the source roots (or an upload "
    "slot's `sourceUrl`).",
    example="s3://media-bucket/uploads/default/q5Yl0TtH0lX0v6d2FzPp6w/demo.mp4",
)
NEW_VIDEO = Object(
    {
        "title": Text(
            max_length=MAX_TITLE,
            non_blank=True,
            strip=True,
            description="Shown in lists; leading and trailing white space is removed.",
            example="Demo",
        ),
        "description": Text(
            max_length=MAX_DESCRIPTION, multiline=True, default="", example="a test clip"
        ),
        "sourceUrl": SOURCE_URL,
    },
    required=("title", "sourceUrl"),
)
LIST_PARAMS = Query(
    {
        "status": Choice(STATUSES, description="Only videos in this status."),
        "limit": Integer(
            minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT, description="Page size."
        ),
        "nextToken": Text(
            max_length=MAX_NEXT_TOKEN,
            non_blank=True,
            plain=False,
            message="nextToken must not be empty",
            description="The previous page's `nextToken` (signed, bound to the `status` "
            "filter, the search and the workspace, valid 24 h).",
        ),
        "q": Text(
            max_length=MAX_SEARCH,
            non_blank=True,
            message="q must be a non-blank search",
            description="Search titles: videos whose title has a word starting with each "
            "word of `q` (case and accents ignored), e.g. `intro kube` finds "
            "'Intro to Kubernetes'. A page may hold fewer than `limit` videos and still "
            "have a `nextToken`.",
            example="intro",
        ),
    }
)
BATCH = Object(
    {
        "videoIds": Array(
            Text(max_length=MAX_URL, plain=False),
            min_items=1,
            max_items=MAX_BATCH,
            unique=True,
            message="videoIds must be a non-empty list of video ids",
            too_many=f"a batch holds at most {MAX_BATCH} videos",
            duplicates="videoIds contains duplicates",
            description="Distinct video ids of the caller's workspace.",
            example=["23cf5_kShqt2U_xwYG6TGA"],
        )
    },
    required=("videoIds",),
)
NO_FIELDS = Object({}, description="No fields: an empty object, or no body at all.")
_ISO_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?Z?)?$"
USAGE_PARAMS = Query(
    {
        "from": Text(
            max_length=32,
            pattern=_ISO_UTC,
            description="Count videos completed at or after this ISO 8601 UTC time.",
        ),
        "to": Text(
            max_length=32,
            pattern=_ISO_UTC,
            description="Count videos completed before this ISO 8601 UTC time.",
        ),
    }
)
EVENTS_PARAMS = Query(
    {
        "wait": Number(
            minimum=0,
            maximum=MAX_SSE_WAIT,
            description="Longest wait for a change, in seconds (capped by the server's "
            "VIDEO_SSE_WAIT_SECONDS).",
        ),
        "lastEventId": Text(
            max_length=200,
            plain=False,
            description="The last event id seen (as the Last-Event-ID header).",
        ),
    }
)


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
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError("request body is not UTF-8") from None
    except RecursionError:  # e.g. 100,000 nested "[": the decoder's recursion limit
        raise ValidationError("request body is nested too deeply") from None
    except ValueError as exc:
        raise ValidationError("request body is not valid JSON", details=str(exc)) from None
    if document is None:  # `null` is not "no body" (found by fuzzing: it passed as one)
        raise ValidationError("request body must be a JSON object, not null")
    return document


def _check_local_file(path: str, settings: Settings, workspace: str) -> None:
    real = sources.resolve_local_source(path, settings.source_roots)
    if workspace:
        sources.check_local_workspace(real, settings.source_roots, workspace)


def _check_local_upload(url: str, settings: Settings, workspace: str) -> None:
    owner = sources.parse_upload_url(url)[0]
    if workspace and owner != workspace:  # another workspace's upload: as if it did not exist
        raise sources.SourceRejected("SourceNotFound", "The source file does not exist.")
    _check_local_file(sources.local_source_path(url, settings.source_roots), settings, workspace)


def _rejected(exc: sources.SourceRejected, settings: Settings) -> ValidationError:
    details: dict[str, Any] = {"field": "sourceUrl", "reason": exc.code}
    if exc.code == "SourceOutsideRoots":
        # where sources may be, without the server's absolute paths: relative to the data
        # dir when inside it (`inbox`), else the directory's name
        details["allowedRoots"] = [
            str(r.relative_to(settings.data_dir)) if r.is_relative_to(settings.data_dir) else r.name
            for r in settings.source_roots
        ]
    return ValidationError(f"sourceUrl: {exc.message}", details=details)


def validate_source_url(url: Any, settings: Settings, workspace: str = "") -> str:
    """A source the processor will be able to read (`chalicelib.sources`), else a 400."""
    field = {"field": "sourceUrl"}
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("sourceUrl must be a non-empty string", details=field)
    if len(url) > MAX_URL:
        raise ValidationError(f"sourceUrl exceeds {MAX_URL} characters", details=field)
    check_text(url, "sourceUrl")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        if scheme == "s3":
            if settings.media_is_local:
                raise ValidationError(
                    "s3:// sources need an S3 media store (VIDEO_BUCKET); locally use file://",
                    details=field,
                )
            sources.parse_s3_source(url, settings.bucket, workspace)
            return url
        if scheme == "file" and settings.is_local:
            if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
                raise ValidationError("file:// URLs must be file:///absolute/path", details=field)
            _check_local_file(unquote(parts.path), settings, workspace)
            return url
        if scheme == sources.UPLOAD_SCHEME and settings.media_is_local:
            _check_local_upload(url, settings, workspace)
            return url
    except sources.SourceRejected as exc:
        raise _rejected(exc, settings) from None
    allowed = (
        "s3://bucket/key"
        if not settings.is_local
        else "file:///path or upload:// (or s3:// with a bucket)"
    )
    raise ValidationError(
        f"unsupported sourceUrl scheme; use {allowed}",
        details={"field": "sourceUrl", "scheme": scheme or None},
    )


def validate_new_video(body: Any, settings: Settings, workspace: str = "") -> dict[str, str]:
    fields = NEW_VIDEO.check(body)
    source = validate_source_url(fields["sourceUrl"], settings, workspace)
    return {**fields, "sourceUrl": source}


def validate_list_params(
    params: Mapping[str, str] | None,
) -> tuple[str | None, int, str | None, list[str] | None]:
    """`GET /videos`: (status, limit, nextToken, the search's words or None)."""
    found = LIST_PARAMS.check(params)
    words = None
    if "q" in found:
        words = search_words(found["q"])
        if not words or len(words) > MAX_SEARCH_WORDS:
            raise ValidationError(
                f"q must hold between 1 and {MAX_SEARCH_WORDS} words of letters or digits",
                details={"field": "q"},
            )
    return found.get("status"), found["limit"], found.get("nextToken"), words


def validate_batch(body: Any) -> list[str]:
    return list(BATCH.check(body)["videoIds"])


def validate_empty_or_object(body: Any) -> None:
    if body is not None:
        NO_FIELDS.check(body)


def validate_events_params(params: Mapping[str, str] | None) -> tuple[float | None, str | None]:
    """`GET /videos/{id}/events`: (wait, lastEventId) as given, None when not."""
    found = EVENTS_PARAMS.check(params)
    return found.get("wait"), found.get("lastEventId")
