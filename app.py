"""The video service's Chalice app: the API lambdalith, the processor, the scaler, the finalizer.

Routes stay thin (parse -> call a service in chalicelib.api -> return) and are registered through
`routes.route`, which always applies the one error mapping (chalicelib.api.http). Each route
describes itself: `op=Op(...)` is its OpenAPI operation (the path, method and access are the
route's own; the shapes it names are in chalicelib/api/openapi.py, built on first request).
Everything heavy is imported lazily by chalicelib.factory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalice import Response
from chalice.app import Request

from chalicelib.api.auth import NEW_TOKEN, TOKEN_LIST_PARAMS
from chalicelib.api.http import (
    ANY_CONTENT,
    ApiRoutes,
    json_response,
    request_id_of,
    with_request_id,
)
from chalicelib.api.images import ANIMATED_PARAMS, THUMBNAIL_PARAMS
from chalicelib.api.isolation import IsolatedChalice
from chalicelib.api.local_media import CACHE_CONTROL, MEDIA_CORS, handoff_headers
from chalicelib.api.media_text import NEW_CLIP, TRANSCRIPT_PARAMS
from chalicelib.api.multipart import MULTIPART_PARTS
from chalicelib.api.operation import (
    FILE_NAME,
    JSON,
    MEDIA_TYPES,
    SSE_EVENT,
    TEXT,
    UPLOAD_ID,
    VIDEO_ID,
    Op,
    links,
)
from chalicelib.api.uploads import NEW_UPLOAD
from chalicelib.api.validation import (
    BATCH,
    EVENTS_PARAMS,
    LIST_PARAMS,
    NEW_VIDEO,
    NO_FIELDS,
    USAGE_PARAMS,
    parse_json_body,
    validate_batch,
    validate_empty_or_object,
    validate_events_params,
)
from chalicelib.api.webhooks import NEW_WEBHOOK
from chalicelib.errors import NotFoundError
from chalicelib.factory import container

# current_request is per request even when requests are served on threads (make run).
app = IsolatedChalice(app_name="video-service")
app.log.setLevel(logging.INFO)
# Media served locally: these bodies go out as bytes, base64 through API Gateway.
app.api.binary_types.extend(["video/mp4", "video/mp2t", "video/iso.segment", "image/webp"])
# Every route goes through routes.route: access control and the error mapping always apply.
routes = ApiRoutes(
    app,
    authenticate=lambda header, client: container().auth.authenticate(header, client),  # noqa: PLW0108
    verify_signature=lambda path, params: container().signer.verify(path, params),  # noqa: PLW0108
    origin=lambda: (
        container().settings.public_base_url,
        bool(container().settings.trusted_proxies),
    ),
)
_json = json_response
# OpenAPI links from a created resource to the operations that take its id.
VIDEO_LINKS = {
    **links(
        "video_id",
        "$response.body#/id",
        GetVideo="getVideo",
        ProcessVideo="processVideo",
        VideoEvents="videoEvents",
    ),
    "ProcessBatch": {
        "operationId": "processBatch",
        "requestBody": {"videoIds": ["$response.body#/id"]},
    },
}
UPLOAD_LINKS = links(
    "upload_id",
    "$response.body#/uploadId",
    GetUpload="getUpload",
    UploadPartUrls="uploadPartUrls",
    CompleteUpload="completeUpload",
    AbortUpload="abortUpload",
)
HOOK_LINKS = links(
    "hook_id",
    "$response.body#/id",
    GetWebhook="getWebhook",
    TestWebhook="testWebhook",
    RotateWebhook="rotateWebhook",
    WebhookDeliveries="webhookDeliveries",
    DeleteWebhook="deleteWebhook",
)


def _body(required: bool = True) -> Any:
    request = routes.request()
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
        with_request_id(response, request_id_of(event))
    return response


@routes.route(
    "/health",
    methods=["GET"],
    access="public",
    op=Op(
        "health",
        "Health of the service and its store",
        "service",
        200,
        "Health",
        errors=(503,),
        description="503 (same shape, `status: unhealthy`) when the store is unreachable.",
    ),
)
def health() -> Response:
    ok, body = container().videos.health()
    return _json(200 if ok else 503, body)


@routes.route(
    "/openapi.json",
    methods=["GET"],
    access="public",
    cors=True,
    op=Op(
        "openapi",
        "This document",
        "service",
        200,
        ok_content={JSON: {"type": "object"}},
    ),
)
def openapi_document() -> Response:
    """The OpenAPI 3.1 document, built from the route table (each route's `op`) on first
    request (chalicelib/api/openapi.py: nothing of it is on the cold path)."""
    from chalicelib.api.openapi import document

    body = document(routes, routes.base_url()).decode()
    return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})


@routes.route(
    "/docs",
    methods=["GET"],
    access="public",
    op=Op("docs", "A human page for this document", "service", 200, ok_content={"text/html": TEXT}),
)
def docs_page() -> Response:
    from chalicelib.api import docs

    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": docs.CSP,
    }
    return Response(body=docs.page(), status_code=200, headers=headers)


@routes.route(
    "/docs/{name}",
    methods=["GET"],
    access="public",
    op=Op(
        "docsAsset",
        "The documentation page's vendored script",
        "service",
        200,
        ok_content={"text/javascript": TEXT},
        errors=(404,),
        path_patterns={"name": FILE_NAME},
    ),
)
def docs_asset(name: str) -> Response:
    from chalicelib.api import docs

    found = docs.asset(name)
    if found is None:
        raise NotFoundError("no such file")
    text, ctype = found
    headers: dict[str, str | list[str]] = {"Content-Type": ctype, "Cache-Control": docs.CACHE}
    return Response(body=text, status_code=200, headers=headers)


@routes.route(
    "/videos",
    methods=["POST"],
    access="write",
    content_types=ANY_CONTENT,
    op=Op(
        "createVideo",
        "Create a video from a source",
        "videos",
        201,
        "Video",
        body=NEW_VIDEO,
        errors=(400, 413, 415, 503),
        links=VIDEO_LINKS,
    ),
)
def create_video() -> Response:
    return _json(201, container().videos.create(_body(), routes.principal()))


@routes.route(
    "/videos",
    methods=["GET"],
    access="read",
    op=Op(
        "listVideos",
        "List the workspace's videos, newest first",
        "videos",
        200,
        "VideoList",
        query=LIST_PARAMS,
        errors=(400,),
    ),
)
def list_videos() -> Response:
    return _json(
        200, container().videos.list_videos(routes.request().query_params, routes.principal())
    )


@routes.route(
    "/videos/{video_id}",
    methods=["GET"],
    access="read",
    op=Op(
        "getVideo",
        "Get a video",
        "videos",
        200,
        "Video",
        errors=(404,),
        path_patterns={"video_id": VIDEO_ID},
    ),
)
def get_video(video_id: str) -> Response:
    return _json(200, container().videos.get(video_id, routes.principal()))


@routes.route(
    "/videos/{video_id}/process",
    methods=["POST"],
    access="write",
    content_types=ANY_CONTENT,
    op=Op(
        "processVideo",
        "Start processing a video",
        "videos",
        202,
        "ProcessStarted",
        body=NO_FIELDS,
        body_required=False,
        errors=(400, 404, 409, 413, 415, 503),
        path_patterns={"video_id": VIDEO_ID},
    ),
)
def process_video(video_id: str) -> Response:
    validate_empty_or_object(_body(required=False))
    started = container().videos.process([video_id], routes.principal())
    return _json(
        202,
        {
            "message": "Video processing started",
            "executionArn": started["executionArn"],
            "videoId": video_id,
        },
    )


@routes.route(
    "/videos/process",
    methods=["POST"],
    access="write",
    content_types=ANY_CONTENT,
    op=Op(
        "processBatch",
        "Start processing a batch of videos (one execution)",
        "videos",
        202,
        "BatchStarted",
        body=BATCH,
        errors=(400, 404, 409, 413, 415, 503),
    ),
)
def process_batch() -> Response:
    started = container().videos.process(validate_batch(_body()), routes.principal())
    queued = sum(1 for r in started["results"] if r["outcome"] == "queued")
    return _json(202, {"message": f"Processing started for {queued} video(s)", **started})


@routes.route(
    "/executions/{name}",
    methods=["GET"],
    access="read",
    op=Op(
        "getExecution",
        "A workflow execution",
        "videos",
        200,
        "Execution",
        errors=(404,),
        path_patterns={"name": "^exec-[0-9a-f]{32}$"},
    ),
)
def get_execution(name: str) -> Response:
    return _json(200, container().videos.execution(name, routes.principal()))


@routes.route(
    "/videos/{video_id}/stream/{name}",
    methods=["GET"],
    access="signed",
    cors=True,
    op=Op(
        "getStreamDocument",
        "An HLS playlist or the storyboard index, references signed",
        "media",
        200,
        ok_content={"application/vnd.apple.mpegurl": TEXT, "text/vtt": TEXT},
        errors=(404,),
        path_patterns={"video_id": VIDEO_ID},
    ),
)
def get_stream_document(video_id: str, name: str) -> Response:
    """HLS playlists and the storyboard index, with their file references signed."""
    text, ctype = container().videos.stream_document(video_id, name)
    return Response(body=text, status_code=200, headers={"Content-Type": ctype})


@routes.route(
    "/uploads",
    methods=["POST"],
    access="write",
    content_types=ANY_CONTENT,
    op=Op(
        "createUpload",
        "A place to upload a source (single PUT, or multipart)",
        "uploads",
        201,
        "UploadTarget",
        body=NEW_UPLOAD,
        body_required=False,
        errors=(400, 413, 415, 503),
        links=UPLOAD_LINKS,
    ),
)
def create_upload() -> Response:
    """A one-time upload target (presigned S3 PUT in AWS) and the sourceUrl to use."""
    base_url = routes.base_url()
    workspace = routes.principal().workspace
    return _json(201, container().uploads.create(_body(required=False), base_url, workspace))


@routes.route(
    "/uploads/{upload_id}",
    methods=["GET"],
    access="write",
    op=Op(
        "getUpload",
        "A multipart upload: the parts stored so far",
        "uploads",
        200,
        "UploadState",
        errors=(404, 503),
    ),
)
def get_upload(upload_id: str) -> Response:
    """A multipart upload: the parts stored so far (an interrupted client resumes from them)."""
    workspace = routes.principal().workspace
    return _json(200, container().uploads.multipart_state(upload_id, workspace))


@routes.route(
    "/uploads/{upload_id}",
    methods=["DELETE"],
    access="write",
    op=Op(
        "abortUpload",
        "Abort a multipart upload (its parts are deleted)",
        "uploads",
        204,
        errors=(404, 409, 503),
    ),
)
def abort_upload(upload_id: str) -> Response:
    container().uploads.abort_multipart(upload_id, routes.principal().workspace)
    return Response(body="", status_code=204)


@routes.route(
    "/uploads/{upload_id}/parts",
    methods=["POST"],
    access="write",
    content_types=ANY_CONTENT,
    op=Op(
        "uploadPartUrls",
        "Signed URLs to PUT parts of a multipart upload",
        "uploads",
        200,
        "PartUrls",
        body=MULTIPART_PARTS,
        errors=(400, 404, 413, 415, 503),
    ),
)
def upload_part_urls(upload_id: str) -> Response:
    """Signed URLs (presigned UploadPart in AWS) to PUT parts of a multipart upload."""
    base_url = routes.base_url()
    workspace = routes.principal().workspace
    return _json(200, container().uploads.part_urls(upload_id, _body(), base_url, workspace))


@routes.route(
    "/uploads/{upload_id}/complete",
    methods=["POST"],
    access="write",
    content_types=ANY_CONTENT,
    op=Op(
        "completeUpload",
        "Assemble a multipart upload's parts into the source",
        "uploads",
        200,
        "UploadReceived",
        body=NO_FIELDS,
        body_required=False,
        errors=(400, 404, 409, 413, 415, 503),
    ),
)
def complete_upload(upload_id: str) -> Response:
    validate_empty_or_object(_body(required=False))
    workspace = routes.principal().workspace
    return _json(200, container().uploads.complete_multipart(upload_id, workspace))


@routes.route(
    "/uploads/{upload_id}/parts/{part_number}",
    methods=["PUT"],
    access="signed",
    content_types=ANY_CONTENT,
    op=Op(
        "putUploadPart",
        "Local mode: one part of a multipart upload (the body is the part)",
        "uploads",
        200,
        "UploadPart",
        errors=(400, 404, 409, 413),
        path_patterns={"upload_id": UPLOAD_ID, "part_number": "^[0-9]{1,5}$"},
    ),
)
def receive_upload_part(upload_id: str, part_number: str) -> Response:
    """Local mode only: one part of a multipart upload. `make run` streams it to disk itself
    (devserver/server.py); this is the route table's entry and chalice.test.Client's path."""
    raw = routes.request().raw_body
    data = raw.encode() if isinstance(raw, str) else raw or b""
    uploads = container().uploads
    return _json(200, uploads.receive_local_part(upload_id, part_number, [data], len(data)))


@routes.route(
    "/uploads/{upload_id}/{name}",
    methods=["PUT"],
    access="signed",
    content_types=ANY_CONTENT,
    op=Op(
        "putUpload",
        "Local mode: fill an upload slot (the body is the file)",
        "uploads",
        201,
        "UploadReceived",
        errors=(404, 409, 413),
        path_patterns={"upload_id": UPLOAD_ID},
    ),
)
def receive_upload(upload_id: str, name: str) -> Response:
    """Local mode only: the target of a local upload slot. `make run` streams the body to disk
    itself (devserver/server.py); this is the route table's entry and chalice.test.Client's
    path, with the body in memory."""
    raw = routes.request().raw_body
    data = raw.encode() if isinstance(raw, str) else raw
    return _json(201, container().uploads.receive_local(upload_id, name, data or b""))


@routes.route(
    "/tokens",
    methods=["POST"],
    access="admin",
    content_types=ANY_CONTENT,
    op=Op(
        "createToken",
        "Mint an access token",
        "tokens",
        201,
        "TokenWithSecret",
        body=NEW_TOKEN,
        errors=(400, 413, 415),
    ),
)
def create_token() -> Response:
    """A new access token; its secret is in this response only."""
    return _json(201, container().tokens.create(_body(), routes.principal()))


@routes.route(
    "/tokens",
    methods=["GET"],
    access="admin",
    op=Op(
        "listTokens",
        "List tokens",
        "tokens",
        200,
        "TokenList",
        query=TOKEN_LIST_PARAMS,
        errors=(400,),
    ),
)
def list_tokens() -> Response:
    params = TOKEN_LIST_PARAMS.check(routes.request().query_params)
    tokens = container().tokens.list(routes.principal(), params.get("workspace"))
    return _json(200, {"tokens": tokens, "count": len(tokens)})


@routes.route(
    "/tokens/{token_id}",
    methods=["DELETE"],
    access="admin",
    op=Op(
        "revokeToken",
        "Revoke a token (effective on the next request)",
        "tokens",
        204,
        errors=(404,),
        path_patterns={"token_id": "^[0-9a-f]{16}$"},
    ),
)
def revoke_token(token_id: str) -> Response:
    container().tokens.revoke(token_id, routes.principal())
    return Response(body="", status_code=204)


@routes.route(
    "/videos/{video_id}/events",
    methods=["GET"],
    access="read",
    op=Op(
        "videoEvents",
        "Server-Sent Events: the video's state and progress",
        "videos",
        200,
        ok_content={"text/event-stream": SSE_EVENT},
        query=EVENTS_PARAMS,
        errors=(400, 404),
        path_patterns={"video_id": VIDEO_ID},
        description="Answers as soon as the state differs from `Last-Event-ID` (or after "
        "`wait` seconds with a keep-alive comment), then closes; `event: end` at a final "
        "state.",
    ),
)
def video_events(video_id: str) -> Response:
    """Server-Sent Events: the video's state and progress (reconnect with Last-Event-ID)."""
    request = routes.request()
    wait, last_param = validate_events_params(request.query_params)
    last = request.headers.get("last-event-id") or last_param
    wait = min(container().settings.sse_wait_seconds, 25.0 if wait is None else wait)
    text, _ = container().videos.watch(video_id, routes.principal(), last, wait)
    return Response(
        body=text,
        status_code=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
    )


@routes.route(
    "/webhooks",
    methods=["POST"],
    access="admin",
    content_types=ANY_CONTENT,
    op=Op(
        "createWebhook",
        "Register a webhook endpoint",
        "webhooks",
        201,
        "WebhookWithSecret",
        body=NEW_WEBHOOK,
        errors=(400, 413, 415),
        links=HOOK_LINKS,
    ),
)
def create_webhook() -> Response:
    """A webhook endpoint of the token's workspace; its signing secret is shown only here."""
    return _json(201, container().webhooks.create(_body(), routes.principal()))


@routes.route(
    "/webhooks",
    methods=["GET"],
    access="admin",
    op=Op("listWebhooks", "List webhooks", "webhooks", 200, "WebhookList"),
)
def list_webhooks() -> Response:
    hooks = container().webhooks.list(routes.principal())
    return _json(200, {"webhooks": hooks, "count": len(hooks)})


@routes.route(
    "/webhooks/{hook_id}",
    methods=["GET"],
    access="admin",
    op=Op("getWebhook", "Get a webhook", "webhooks", 200, "Webhook", errors=(404,)),
)
def get_webhook(hook_id: str) -> Response:
    return _json(200, container().webhooks.get(hook_id, routes.principal()))


@routes.route(
    "/webhooks/{hook_id}",
    methods=["DELETE"],
    access="admin",
    op=Op("deleteWebhook", "Delete a webhook", "webhooks", 204, errors=(404,)),
)
def delete_webhook(hook_id: str) -> Response:
    container().webhooks.delete(hook_id, routes.principal())
    return Response(body="", status_code=204)


@routes.route(
    "/webhooks/{hook_id}/test",
    methods=["POST"],
    access="admin",
    content_types=ANY_CONTENT,
    op=Op(
        "testWebhook",
        "Queue a webhook.test event",
        "webhooks",
        202,
        "WebhookTestQueued",
        errors=(404,),
    ),
)
def test_webhook(hook_id: str) -> Response:
    return _json(202, container().webhooks.test(hook_id, routes.principal()))


@routes.route(
    "/webhooks/{hook_id}/rotate",
    methods=["POST"],
    access="admin",
    content_types=ANY_CONTENT,
    op=Op(
        "rotateWebhook",
        "A new signing secret (the old one also signs for 24 h)",
        "webhooks",
        200,
        "WebhookWithSecret",
        errors=(404,),
    ),
)
def rotate_webhook(hook_id: str) -> Response:
    return _json(200, container().webhooks.rotate(hook_id, routes.principal()))


@routes.route(
    "/webhooks/{hook_id}/deliveries",
    methods=["GET"],
    access="admin",
    op=Op(
        "webhookDeliveries",
        "Recent deliveries of a webhook",
        "webhooks",
        200,
        "DeliveryList",
        errors=(404,),
    ),
)
def webhook_deliveries(hook_id: str) -> Response:
    deliveries = container().webhooks.deliveries(hook_id, routes.principal())
    return _json(200, {"deliveries": deliveries, "count": len(deliveries)})


@routes.route(
    "/usage",
    methods=["GET"],
    access="admin",
    op=Op(
        "getUsage",
        "What the workspace's completed videos cost over a period",
        "service",
        200,
        "Usage",
        query=USAGE_PARAMS,
        errors=(400,),
    ),
)
def get_usage() -> Response:
    """What the workspace's completed videos cost: environment-seconds and dollars."""
    return _json(200, container().videos.usage(routes.request().query_params, routes.principal()))


@routes.route(
    "/capacity",
    methods=["GET"],
    access="admin",
    op=Op("getCapacity", "The processor's capacity", "service", 200, "Capacity", errors=(503,)),
)
def get_capacity() -> Response:
    """The processor's capacity: requested vs applied scaling, live leases (and, locally,
    the worker-process environments)."""
    return _json(200, container().capacity_view())


@routes.route(
    "/media/{video_id}/{run_id}/{name}",
    methods=["GET"],
    access="signed",
    cors=MEDIA_CORS,
    op=Op(
        "getMedia",
        "Local mode: a processed file (ranges supported)",
        "media",
        200,
        ok_content={t: {"type": "string", "format": "binary"} for t in MEDIA_TYPES},
        errors=(404,),
        path_patterns={"video_id": VIDEO_ID},
    ),
)
def get_media(video_id: str, run_id: str, name: str) -> Response:
    """A processed file, never read here: every spelling of the path that Chalice routes to
    this view (trailing slash, `//`, dot segments) gets the same answer, after the signature
    check. Local media: an empty answer naming the file (`X-Media-Handoff`, see
    chalicelib/api/local_media.py), which `make run`'s server replaces with the file streamed
    from disk (ranges, validators). Media in S3: a redirect to the object's presigned URL.
    """
    from chalicelib.media_store.base import content_type, is_valid_ids

    files = container().local_media()
    if files is None:  # in S3: the canonical signed URL of the object, never its bytes here
        if not is_valid_ids(video_id, run_id, name):
            raise NotFoundError("no such media file")
        location = container().media_store().url(video_id, run_id, name)
        return Response(
            body="", status_code=302, headers={"Location": location, "Cache-Control": "no-store"}
        )
    if files.resolve(video_id, run_id, name) is None:
        raise NotFoundError("no such media file")
    return Response(
        body=b"",  # (a str body with a binary type fails Chalice's base64 step)
        status_code=200,
        headers={
            **handoff_headers(video_id, run_id, name, content_type(name)),
            **_attachment(routes.request().query_params),  # downloads (issue 26)
        },
    )


def _attachment(query: Any) -> dict[str, str]:
    """`?dl=<file name>` (a download URL): the file as an attachment of that name."""
    from chalicelib.media_store.base import content_disposition

    name = (query or {}).get("dl")
    return {"Content-Disposition": content_disposition(name)} if name else {}


# --- Images: thumbnails, animated previews (issue 26 part A) -----------------------------------
# A read token, or the video's image signature (`images` on the item) for an <img>. Each answers
# a redirect to the render, a file of the completed run (rendered first when not cached).
_REDIRECT = "The render's URL (`Location`): a file of the run, rendered on first request."
_IMAGE_ERRORS = (400, 404, 409, 429, 503)


def _image_op(operation_id: str, summary: str, query: Any) -> Op:
    return Op(
        operation_id,
        summary,
        "media",
        302,
        query=query,
        errors=_IMAGE_ERRORS,
        path_patterns={"video_id": VIDEO_ID},
        description=_REDIRECT,
    )


def _image_redirect(url: str) -> Response:
    headers: dict[str, str | list[str]] = {"Location": url, "Cache-Control": CACHE_CONTROL}
    return Response(body="", status_code=302, headers=headers)


def _thumbnail(video_id: str, fmt: str) -> Response:
    query = routes.request().query_params
    return _image_redirect(container().images.thumbnail(video_id, fmt, query, _viewer()))


def _animated(video_id: str, fmt: str) -> Response:
    query = routes.request().query_params
    return _image_redirect(container().images.animated(video_id, fmt, query, _viewer()))


def _viewer() -> Any:
    """The caller's principal, or None when a signature let the request in."""
    from chalicelib.api.http import CURRENT_PRINCIPAL

    return CURRENT_PRINCIPAL.get()


_IMAGES = "/videos/{video_id}/images"


# (file name, kind, format, operationId, summary): one route each, all alike but for these.
_IMAGE_ROUTES = (
    ("thumbnail.jpg", "thumbnail", "jpg", "thumbnailJpg", "A frame as JPEG, scaled"),
    ("thumbnail.png", "thumbnail", "png", "thumbnailPng", "A frame as PNG, scaled"),
    ("thumbnail.webp", "thumbnail", "webp", "thumbnailWebp", "A frame as WebP, scaled"),
    (
        "animated.webp",
        "animated",
        "webp",
        "animatedWebp",
        "An animated WebP preview (at most 10 s)",
    ),
    ("animated.gif", "animated", "gif", "animatedGif", "An animated GIF preview (at most 10 s)"),
)


def _register_image_route(name: str, kind: str, fmt: str, operation_id: str, summary: str) -> None:
    render = _thumbnail if kind == "thumbnail" else _animated

    def view(video_id: str) -> Response:
        return render(video_id, fmt)

    view.__name__ = view.__qualname__ = f"{kind}_{fmt}"  # Chalice names a route by its view
    params = THUMBNAIL_PARAMS if kind == "thumbnail" else ANIMATED_PARAMS
    routes.route(
        f"/videos/{{video_id}}/{name}",
        methods=["GET"],
        access="read-or-signed",
        signed_as=_IMAGES,
        cors=True,
        op=_image_op(operation_id, summary, params),
    )(view)


for _image_route in _IMAGE_ROUTES:
    _register_image_route(*_image_route)


# --- Transcript, chapters, clips (issue 26 part B): chalicelib/api/media_text.py ------------------
@routes.route(
    "/videos/{video_id}/transcript",
    methods=["GET"],
    access="read",
    op=Op(
        "getTranscript",
        "The transcript as data (word times), as text, or searched",
        "videos",
        200,
        ok_content={
            JSON: {"type": "object"},
            "text/plain": TEXT,
            "text/vtt": TEXT,
            "application/x-subrip": TEXT,
        },
        query=TRANSCRIPT_PARAMS,
        errors=(400, 404, 409),
        path_patterns={"video_id": VIDEO_ID},
        description="`{language, segments: [{start, end, text, words: [{start, end, word}]}]}`; "
        "`?format=txt|vtt|srt` as text; `?q=` → `{matches: [{start, end, text}]}`. 409 while the "
        "video is not completed, 404 when it has no transcript (no speech to text).",
    ),
)
def get_transcript(video_id: str) -> Response:
    request = routes.request()
    body, ctype = container().media_text.transcript(
        video_id, routes.principal(), request.query_params
    )
    if isinstance(body, dict):
        return _json(200, body)
    return Response(body=body, status_code=200, headers={"Content-Type": ctype})


@routes.route(
    "/videos/{video_id}/clips",
    methods=["POST"],
    access="write",
    content_types=ANY_CONTENT,
    op=Op(
        "createClip",
        "A clip of a completed video: an instant playlist (200) or a new, exact video (201)",
        "videos",
        201,
        "Video",
        body=NEW_CLIP,
        other_ok={200: "InstantClip"},
        errors=(400, 404, 409, 413, 415, 429, 503),
        path_patterns={"video_id": VIDEO_ID},
        description="`mode: instant` answers 200 `{hlsUrl, start, end, segmentStart, "
        "segmentEnd}`: a signed playlist over the video's own segments that overlap the range "
        "(nothing encoded). `mode: exact` (the default) answers 201 with a new video "
        "(`clipOf: {videoId, start, end}`), queued for processing from the source's range, "
        "frame-accurate. 400 unless 0 <= start < end <= duration; 409 when the video is not "
        "completed.",
    ),
)
def create_clip(video_id: str) -> Response:
    status, body = container().media_text.clip(video_id, _body(), routes.principal())
    return _json(status, body)


@routes.route(
    "/videos/{video_id}/clip/{clip_range}/{name}",
    methods=["GET"],
    access="signed",
    cors=True,
    op=Op(
        "getClipDocument",
        "An instant clip's HLS playlist, references signed",
        "media",
        200,
        ok_content={"application/vnd.apple.mpegurl": TEXT},
        errors=(404,),
        path_patterns={"video_id": VIDEO_ID, "clip_range": "^[0-9]{1,10}-[0-9]{1,10}$"},
    ),
)
def get_clip_document(video_id: str, clip_range: str, name: str) -> Response:
    text, ctype = container().media_text.clip_document(video_id, clip_range, name)
    return Response(body=text, status_code=200, headers={"Content-Type": ctype})


# --- The web console (chalicelib/console): the page and its static assets, no token needed --------
@routes.route(
    "/",
    methods=["GET"],
    access="public",
    op=Op(
        "consolePage",
        "The web console (it signs in with a token)",
        "service",
        200,
        ok_content={"text/html": TEXT},
        revalidates=True,
    ),
)
def console_page() -> Response:
    """The web console's page; it signs in with a token kept in sessionStorage."""
    from chalicelib.console import assets

    request = routes.request()
    page = assets.index_page(container().settings)
    return assets.respond(page, container().settings, request.headers.get("if-none-match"))


@routes.route(
    "/console/{name}",
    methods=["GET"],
    access="public",
    op=Op(
        "consoleAsset",
        "The web console's scripts and styles",
        "service",
        200,
        ok_content=dict.fromkeys(("text/javascript", "text/css", "text/plain"), TEXT),
        errors=(404,),
        revalidates=True,
        path_patterns={"name": FILE_NAME},
    ),
)
def console_asset(name: str) -> Response:
    """The console's scripts, styles and the committed hls.js (chalicelib/console/static)."""
    from chalicelib.console import assets

    asset = assets.static_asset(name)
    if asset is None:
        raise NotFoundError("no such console file")
    request = routes.request()
    return assets.respond(asset, container().settings, request.headers.get("if-none-match"))


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


@app.lambda_function(name="dispatcher")
def dispatcher(event: dict[str, Any], context: Any) -> Any:
    """Webhooks in AWS: woken by the table's stream when an event is written, and once a
    minute for due retries. Either way: fan the outbox out, then attempt what is due."""
    d = container().dispatcher
    fanned = d.fan_out()
    return {"fannedOut": fanned, "attempted": d.deliver_due()}


@app.lambda_function(name="renderer")
def renderer(event: dict[str, Any], context: Any) -> Any:
    """Images on demand in AWS (the processor's image, an ordinary Lambda): one render."""
    return container().render_task.handle(event)
