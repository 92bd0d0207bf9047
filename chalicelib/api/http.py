"""HTTP plumbing shared by every route: one error mapping, applied by construction.

`ApiRoutes.route` registers a view with Chalice already wrapped, so no route can forget the
mapping (a test walks the route table): typed `ServiceError`s become their status with a stable
code, a `DependencyError` raised by an adapter becomes a 503, and anything else is a bug: a 500
with a request id to quote, the details only in the log.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.api.render import REQUEST_BASE_URL
from chalicelib.errors import ServiceError

log = logging.getLogger(__name__)

ANY_CONTENT = ["*/*"]  # content types are checked by the service, to answer in its error shape
WRAPPED_MARK = "__video_api_route__"

View = Callable[..., Response]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(exc: ServiceError, request_id: str) -> Response:
    body = exc.to_body()
    body["error"]["requestId"] = request_id
    return json_response(exc.status, body, {"X-Request-Id": request_id})


def request_id_of(request: Request | None) -> str:
    context = request.context if request is not None else None
    rid = context.get("requestId") if isinstance(context, dict) else None
    return str(rid) if rid else uuid.uuid4().hex


def base_url_of(request: Request | None) -> str:
    """The origin the client used (Host, X-Forwarded-Proto), for links in responses."""
    host = request.headers.get("host") if request is not None else None
    if not host:
        return ""
    proto = request.headers.get("x-forwarded-proto", "http") if request is not None else "http"
    return f"{proto}://{host}"


class ApiRoutes:
    """`@routes.route(path, ...)`: `app.route` with the error mapping always applied."""

    def __init__(self, app: Chalice) -> None:
        self.app = app

    def request(self) -> Request:
        request = self.app.current_request
        if request is None:
            raise RuntimeError("no current request")
        return request

    def route(self, path: str, **kwargs: Any) -> Callable[[View], View]:
        def register(view: View) -> View:
            wrapped = self._wrap(view)
            self.app.route(path, **kwargs)(wrapped)
            return wrapped

        return register

    def _wrap(self, view: View) -> View:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Response:
            request = self.app.current_request
            request_id = request_id_of(request)
            REQUEST_BASE_URL.set(base_url_of(request))
            try:
                return view(*args, **kwargs)
            except ServiceError as exc:
                if exc.status >= 500:
                    log.warning("request %s: %s (%r)", request_id, exc.code, exc.__cause__)
                return error_response(exc, request_id)
            except Exception:
                log.exception("request %s: unhandled error", request_id)
                error = {
                    "code": "InternalError",
                    "message": "unexpected server error",
                    "requestId": request_id,
                }
                return json_response(500, {"error": error}, {"X-Request-Id": request_id})

        setattr(wrapped, WRAPPED_MARK, True)
        return wrapped


def is_wrapped(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, WRAPPED_MARK, False))
