"""HTTP plumbing shared by every route: access control and one error mapping, by construction.

`ApiRoutes.route(path, access=..., op=...)` registers a view with Chalice already wrapped, so no
route can forget either (a test walks the route table). `access` is required: `public`, `signed`
(an `exp`/`sig` URL signature, for players that cannot send headers), or the token scope the
route needs (`read`, `write`, `admin`). `op` is the route's OpenAPI operation
(`chalicelib.api.operation`), kept in the route table beside the access decision.

Typed `ServiceError`s become their status with a stable code, a `DependencyError` raised by an
adapter becomes a 503, and anything else is a bug: a 500 with a request id to quote, the
details only in the log. Every error response carries the request id (`error.requestId` and
`X-Request-Id`), and every 5xx is logged with it and with the internal detail (the driver's
error, names, ARNs) that the body never shows.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.api.isolation import IsolatedChalice
from chalicelib.api.operation import Op
from chalicelib.api.render import REQUEST_BASE_URL
from chalicelib.api.request_context import REQUEST_ID
from chalicelib.domain.access import SCOPES, Principal
from chalicelib.errors import ForbiddenError, ServiceError

log = logging.getLogger(__name__)

ANY_CONTENT = ["*/*"]  # content types are checked by the service, to answer in its error shape
WRAPPED_MARK = "__video_api_route__"
# `read-or-signed`: a read token, or (for an `<img>`, which cannot send a header) an `exp`/`sig`
# signature of the route's `signed_as` path, one signature for a family of URLs.
READ_OR_SIGNED = "read-or-signed"
ACCESS = ("public", "signed", *SCOPES, READ_OR_SIGNED)
CURRENT_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "principal", default=None
)

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
    return json_response(exc.status, body, {**exc.headers, "X-Request-Id": request_id})


def with_request_id(response: Response, request_id: str) -> Response:
    """An error response that quotes the request id (body and header), whatever made it."""
    response.headers["X-Request-Id"] = request_id
    body = response.body
    if isinstance(body, dict):
        target = body["error"] if isinstance(body.get("error"), dict) else body
        target.setdefault("requestId", request_id)
    return response


def request_id_of(request: Request | None) -> str:
    context = request.context if request is not None else None
    rid = context.get("requestId") if isinstance(context, dict) else None
    return str(rid) if rid else uuid.uuid4().hex


_FORWARDED_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?")


def base_url_of(
    request: Request | None, public_url: str = "", trust_forwarded: bool = False
) -> str:
    """The origin for absolute links in responses: the configured public URL
    (`VIDEO_PUBLIC_URL`), never the request's `Host`. Behind a trusted proxy
    (`VIDEO_TRUSTED_PROXIES` set) a well-formed `X-Forwarded-Host` with an `http`/`https`
    `X-Forwarded-Proto` wins; anything else in them is ignored. "" (relative links) when
    nothing is configured."""
    if trust_forwarded and request is not None:
        host = (request.headers.get("x-forwarded-host") or "").split(",")[0].strip()
        proto = (request.headers.get("x-forwarded-proto") or "https").split(",")[0].strip()
        if _FORWARDED_HOST_RE.fullmatch(host) and proto.lower() in ("http", "https"):
            return f"{proto.lower()}://{host}"
    return public_url.rstrip("/")


def client_address(request: Request | None) -> str:
    """The caller's address as the gateway saw it (API Gateway's `identity.sourceIp`)."""
    context = (request.context if request is not None else None) or {}
    return str((context.get("identity") or {}).get("sourceIp") or "")


class ApiRoutes:
    """`@routes.route(path, access=..., ...)`: `app.route` with access control and the error
    mapping always applied."""

    def __init__(
        self,
        app: Chalice,
        authenticate: Callable[[str | None, str], Principal],
        verify_signature: Callable[[str, dict[str, str]], None],
        origin: Callable[[], tuple[str, bool]] = lambda: ("", False),
    ) -> None:
        # request() is only trustworthy when each request sees its own current_request.
        if not isinstance(app, IsolatedChalice):
            raise TypeError("ApiRoutes needs an IsolatedChalice app (per-request current_request)")
        self.app = app
        self._authenticate = authenticate
        self._verify_signature = verify_signature
        self._origin = origin  # (public URL, trust X-Forwarded-*), read per request
        self.access: dict[tuple[str, str], str] = {}  # (path, method) -> access, for tests/docs
        self.operations: dict[tuple[str, str], Op] = {}  # (path, method) -> its OpenAPI operation
        self.signed_as: dict[str, str] = {}  # path -> what its `read-or-signed` signature covers

    def request(self) -> Request:
        request = self.app.current_request
        if request is None:
            raise RuntimeError("no current request")
        return request

    def base_url(self, request: Request | None = None) -> str:
        """The origin for absolute links in the current request's response (`base_url_of`)."""
        public_url, trust_forwarded = self._origin()
        return base_url_of(request or self.app.current_request, public_url, trust_forwarded)

    def principal(self) -> Principal:
        """The caller of the current request (token-scoped routes only)."""
        principal = CURRENT_PRINCIPAL.get()
        if principal is None:
            raise RuntimeError("this route is not token-scoped")
        return principal

    def route(
        self,
        path: str,
        *,
        access: str,
        op: Op | None = None,
        signed_as: str | None = None,
        **kwargs: Any,
    ) -> Callable[[View], View]:
        """`app.route(path, **kwargs)`, wrapped; `op` describes the route in the OpenAPI
        document (which refuses a route without one). `signed_as` (with `read-or-signed`): the
        path, in the route's parameters, whose signature also grants access."""
        if access not in ACCESS:
            raise ValueError(f"access must be one of {ACCESS}, not {access!r}")
        if (access == READ_OR_SIGNED) != (signed_as is not None):
            raise ValueError("signed_as goes with access='read-or-signed', and only with it")
        if signed_as is not None:
            self.signed_as[path] = signed_as

        def register(view: View) -> View:
            wrapped = self._wrap(view, path, access)
            self.app.route(path, **kwargs)(wrapped)
            for method in kwargs.get("methods", ["GET"]):
                self.access[(path, method)] = access
                if op is not None:
                    self.operations[(path, method)] = op
            return wrapped

        return register

    def path_of(self, operation_id: str) -> tuple[str, str]:
        """The (path, method) of the route whose operation is `operation_id`."""
        for key, op in self.operations.items():
            if op.operation_id == operation_id:
                return key
        raise KeyError(f"no route with operationId {operation_id!r}")

    def _check_access(self, request: Request | None, path: str, access: str, params: Any) -> None:
        if access == "public":
            return
        if access == "signed":
            canonical = path.format(**params)  # the route's own path, whatever the stage prefix
            self._verify_signature(canonical, dict(request.query_params or {}) if request else {})
            return
        headers = request.headers if request is not None else {}
        query = dict(request.query_params or {}) if request is not None else {}
        if access == READ_OR_SIGNED:
            if "authorization" not in headers and ("sig" in query or "exp" in query):
                self._verify_signature(self.signed_as[path].format(**params), query)
                return  # no principal: the signature names what it grants
            access = "read"
        principal = self._authenticate(headers.get("authorization"), client_address(request))
        if not principal.allows(access):
            raise ForbiddenError(
                f"this token's scope is {principal.scope}; this operation needs {access}",
                details={"needed": access, "scope": principal.scope},
            )
        CURRENT_PRINCIPAL.set(principal)

    def _wrap(self, view: View, path: str, access: str) -> View:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Response:
            request = self.app.current_request
            request_id = request_id_of(request)
            REQUEST_BASE_URL.set(self.base_url(request))
            REQUEST_ID.set(request_id)
            CURRENT_PRINCIPAL.set(None)
            try:
                self._check_access(request, path, access, kwargs)
                response = view(*args, **kwargs)
            except ServiceError as exc:
                if exc.status >= 500:  # with the chained causes: the detail the body leaves out
                    log.warning("request %s: %s: %s", request_id, exc.code, exc, exc_info=exc)
                return error_response(exc, request_id)
            except Exception:
                log.exception("request %s: unhandled error", request_id)
                error = {
                    "code": "InternalError",
                    "message": "unexpected server error",
                    "requestId": request_id,
                }
                return json_response(500, {"error": error}, {"X-Request-Id": request_id})
            if response.status_code >= 400:  # e.g. /health's 503 in its own shape
                return with_request_id(response, request_id)
            return response

        setattr(wrapped, WRAPPED_MARK, True)
        return wrapped


def is_wrapped(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, WRAPPED_MARK, False))
