"""The video service's Chalice app: the API lambdalith, the processor, the scaler, the finalizer.

Routes stay thin (parse -> call a service in chalicelib -> return); one mapping turns typed
errors into JSON responses. Everything heavy is imported lazily by chalicelib.factory.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.errors import DependencyError, NotFoundError, ServiceError
from chalicelib.factory import REQUEST_BASE_URL, container
from chalicelib.validation import parse_json_body, validate_batch, validate_empty_or_object

app = Chalice(app_name="video-service")
app.log.setLevel(logging.INFO)
# Media served locally: these bodies go out as bytes, base64 through API Gateway.
app.api.binary_types.extend(["video/mp4", "video/mp2t"])

ANY_CONTENT = ["*/*"]  # content types are checked by the service, to answer in its error shape


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(exc: ServiceError) -> Response:
    return _json(exc.status, exc.to_body())


def _is_dependency_failure(exc: Exception) -> bool:
    name = type(exc).__module__ + "." + type(exc).__name__
    return name.startswith(("botocore.", "sqlite3.")) or isinstance(exc, (OSError, TimeoutError))


def api(view: Callable[..., Response]) -> Callable[..., Response]:
    """Map typed errors to their status; a failing backend is a 503, never a bare 500."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        REQUEST_BASE_URL.set(_base_url())
        try:
            return view(*args, **kwargs)
        except ServiceError as exc:
            return _error(exc)
        except Exception as exc:
            if _is_dependency_failure(exc):
                app.log.exception("backend failure")
                return _error(
                    DependencyError(
                        "a backing service failed; try again",
                        details={"reason": type(exc).__name__},
                    )
                )
            app.log.exception("unhandled error")
            return _json(
                500, {"error": {"code": "InternalError", "message": "unexpected server error"}}
            )

    return wrapped


def _base_url() -> str:
    request = app.current_request
    host = request.headers.get("host") if request else None
    if not host:
        return ""
    proto = request.headers.get("x-forwarded-proto", "http") if request else "http"
    return f"{proto}://{host}"


def _request() -> Request:
    request = app.current_request
    assert request is not None
    return request


def _body(required: bool = True) -> Any:
    request = _request()
    raw = request.raw_body
    data = raw.encode() if isinstance(raw, str) else raw
    return parse_json_body(data, request.headers.get("content-type"), required)


@app.middleware("http")
def uniform_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice's own errors (405, 415, ...) in the service's error shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        response.body = {"error": {"code": body["Code"], "message": body.get("Message", "")}}
    return response


@app.route("/health", methods=["GET"])
@api
def health() -> Response:
    ok, body = container().videos.health()
    return _json(200 if ok else 503, body)


@app.route("/videos", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_video() -> Response:
    return _json(201, container().videos.create(_body()))


@app.route("/videos", methods=["GET"])
@api
def list_videos() -> Response:
    return _json(200, container().videos.list_videos(_request().query_params))


@app.route("/videos/{video_id}", methods=["GET"])
@api
def get_video(video_id: str) -> Response:
    return _json(200, container().videos.get(video_id))


@app.route("/videos/{video_id}/process", methods=["POST"], content_types=ANY_CONTENT)
@api
def process_video(video_id: str) -> Response:
    validate_empty_or_object(_body(required=False))
    started = container().videos.process([video_id])
    return _json(
        202,
        {
            "message": "Video processing started",
            "executionArn": started["executionArn"],
            "videoId": video_id,
        },
    )


@app.route("/videos/process", methods=["POST"], content_types=ANY_CONTENT)
@api
def process_batch() -> Response:
    started = container().videos.process(validate_batch(_body()))
    queued = sum(1 for r in started["results"] if r["outcome"] == "queued")
    return _json(202, {"message": f"Processing started for {queued} video(s)", **started})


@app.route("/executions/{name}", methods=["GET"])
@api
def get_execution(name: str) -> Response:
    return _json(200, container().videos.execution(name))


@app.route("/videos/{video_id}/stream/{name}", methods=["GET"], cors=True)
@api
def get_stream_document(video_id: str, name: str) -> Response:
    """HLS playlists and the storyboard index, with their file references signed."""
    text, ctype = container().videos.stream_document(video_id, name)
    return Response(body=text, status_code=200, headers={"Content-Type": ctype})


@app.route("/uploads", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_upload() -> Response:
    """A one-time upload target (presigned S3 PUT in AWS) and the sourceUrl to use."""
    return _json(201, container().uploads.create(_body(required=False), _base_url()))


@app.route("/uploads/{upload_id}/{name}", methods=["PUT"], content_types=ANY_CONTENT)
@api
def receive_upload(upload_id: str, name: str) -> Response:
    """Local mode only: the target of a local upload slot."""
    raw = _request().raw_body
    data = raw.encode() if isinstance(raw, str) else raw
    return _json(201, container().uploads.receive_local(upload_id, name, data or b""))


@app.route("/capacity", methods=["GET"])
@api
def get_capacity() -> Response:
    """The processor's capacity: requested vs applied scaling, live leases (and, locally,
    the worker-process environments)."""
    return _json(200, container().capacity_view())


@app.route("/media/{video_id}/{run_id}/{name}", methods=["GET"], cors=True)
@api
def get_media(video_id: str, run_id: str, name: str) -> Response:
    """Local mode only: serves processed outputs (in AWS they are presigned S3 URLs)."""
    c = container()
    path = c.media_store().resolve(video_id, run_id, name) if c.settings.is_local else None
    if path is None:
        raise NotFoundError("no such media file")
    from chalicelib.mediastore import content_type

    ctype = content_type(name)
    data = path.read_bytes()
    binary = ctype.split(";")[0] in app.api.binary_types
    return Response(
        body=data if binary else data.decode("utf-8"),
        status_code=200,
        headers={"Content-Type": ctype, "Cache-Control": "private, max-age=3600"},
    )


# --- Lambda functions the workflow invokes -------------------------------------------------------
@app.lambda_function(name="processor")
def processor(event: dict[str, Any], context: Any) -> Any:
    return container().processor.handle(event)


@app.lambda_function(name="scaler")
def scaler(event: dict[str, Any], context: Any) -> Any:
    return container().scaler.handle(event)


@app.lambda_function(name="finalizer")
def finalizer(event: dict[str, Any], context: Any) -> Any:
    return container().finalizer.handle(event)
