"""`make run`'s HTTP server: chalice local's gateway behind a server made for concurrent clients.

chalice local's own server is a development toy: a listen backlog of 5 (connections reset under
a few dozen clients), no timeouts (an abandoned connection holds a thread forever), bodies read
whole into memory, and responses built in memory by Chalice. This server keeps Chalice for the
API (routing, middleware, the route wrapper: `LocalGateway`, the same path `chalice local` and
`chalice.test.Client` take) and does the bulk I/O itself:

- one thread per connection (`ThreadingMixIn`), HTTP/1.1 keep-alive, a listen backlog of 1,024,
  a socket timeout on every read and write (`read_timeout`), and a cap on open connections
  (beyond it a `503` and close, never an unbounded pile of threads);
- `GET`/`HEAD /media/{videoId}/{runId}/{name}`: streamed from disk with sendfile, with ranges,
  validators and `304` (`chalicelib.api.local_media`), after `LocalMediaStore.resolve`'s path
  check; memory does not grow with file size or viewers. Any other spelling of the path that
  Chalice routes to the media view gets the view's answer: a handoff naming the file (the view
  never reads it), streamed here the same way;
- `PUT /uploads/{uploadId}/{name}` and `PUT /uploads/{uploadId}/parts/{n}`: the body streamed
  into the slot (`Uploads.receive_local_stream`), `Content-Length` checked before reading,
  chunked bodies counted as they arrive;

These fast paths are the app's own routes (`getMedia`, `putUpload`, `putUploadPart`), found in
its route table by operationId: their paths and methods are the table's, never repeated here.
- API bodies: `Content-Length` or chunked, at most `API_MAX_BODY_BYTES` (API Gateway's payload
  quota); the service's own 1 MiB rule still answers for what is under it;
- at most `api_concurrency` requests inside Chalice at once (4 by default), the others wait
  their turn: with the GIL more would not run faster, only contend (the p99 at 128 clients was
  3-4x worse without it); media and upload bytes move outside this limit.

A request whose body is left unread (refused upload, oversized body) is answered with
`Connection: close`, then the server stops writing and drains briefly before closing, so the
client reads the answer instead of a reset.

Request isolation is the app object's (`chalicelib.api.isolation`): each thread's request runs
in its own context.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import logging
import os
import re
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from chalice import local
from chalice.config import Config

from chalicelib.api.http import ApiRoutes
from chalicelib.api.local_media import (
    HANDOFF_HEADER,
    LocalMediaFiles,
    cors_headers,
    parse_handoff,
    plan_media,
)
from chalicelib.api.signing import UrlSigner
from chalicelib.api.uploads import LOCAL_MAX_UPLOAD_BYTES
from chalicelib.api.validation import MAX_SSE_WAIT
from chalicelib.errors import (
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServiceError,
)
from chalicelib.media_store.base import content_disposition, content_type

log = logging.getLogger(__name__)

API_MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota
READ_CHUNK = 256 * 1024
SERVER_NAME = "video-service"
DRAIN_SECONDS = 5.0  # how long an unread body is drained after the answer, before closing
# The routes this server answers itself, by operationId: the handler's name and the route's
# kind: "media" (CORS headers on its errors, needs local media files), "upload" (an upload
# target, needs the uploads service) or "events" (a long poll whose waiting happens here,
# outside the API slots).
_STREAMED = {
    "getMedia": ("_serve_media", "media"),
    "putUploadPart": ("_receive_part", "upload"),
    "putUpload": ("_receive_upload", "upload"),
    "videoEvents": ("_serve_events", "events"),
}


_SECRET_QUERY_RE = re.compile(
    r"(?i)\b(sig|exp|token|signature|x-amz-signature|x-amz-credential|x-amz-security-token)"
    r"=[^&\s\"]*"
)
# a multipart uploadId (a MAC-signed handle, 40+ characters); a slot id (22) stays readable
_UPLOAD_ID_RE = re.compile(r"(/uploads/[^/?\s\"]{6})[^/?\s\"]{34,}")


def redact(line: str) -> str:
    """An access-log line without URL secrets: signature and expiry values; multipart upload
    ids (capabilities with a write token) cut to a prefix."""
    return _UPLOAD_ID_RE.sub(r"\1…", _SECRET_QUERY_RE.sub(r"\1=…", line))


@dataclass(frozen=True)
class FastPath:
    pattern: re.Pattern[str]  # the route's path, its {parameters} captured in order
    methods: frozenset[str]
    handler: str
    kind: str

    @property
    def media(self) -> bool:
        return self.kind == "media"

    @property
    def signed(self) -> bool:
        """Media and upload URLs carry a signature; the events route takes a token (checked
        by the app, through Chalice)."""
        return self.kind != "events"


def path_pattern(path: str) -> re.Pattern[str]:
    """A Chalice route path (`/media/{video_id}/{name}`) as a regex capturing its parameters."""
    parts = [
        "([^/]+)" if part.startswith("{") and part.endswith("}") else re.escape(part)
        for part in path.split("/")
    ]
    return re.compile("/".join(parts))


def fast_paths(
    routes: ApiRoutes, *, media: bool, uploads: bool, events: bool = True
) -> list[FastPath]:
    """The streamed routes, with their paths and methods from the app's route table (a GET
    route also answers HEAD): media ones when local media files are served, upload targets
    when there is an uploads service."""
    wanted = {"media": media, "upload": uploads, "events": events}
    out = []
    for op_id, (handler, kind) in _STREAMED.items():
        if not wanted[kind]:
            continue
        path, method = routes.path_of(op_id)
        methods = {"GET", "HEAD"} if method == "GET" and kind == "media" else {method}
        out.append(FastPath(path_pattern(path), frozenset(methods), handler, kind))
    return out


class UploadTarget(Protocol):
    def receive_local_stream(
        self,
        upload_id: str,
        name: str,
        chunks: Iterator[bytes],
        length: int | None,
        max_bytes: int | None = ...,
    ) -> dict[str, Any]: ...

    def receive_local_part(
        self, upload_id: str, number: str, chunks: Iterator[bytes], length: int | None
    ) -> dict[str, Any]: ...


class Gateway(local.LocalGateway):
    """chalice local's gateway with two fixes: a request that matches no route gets a JSON 404 in
    the service's error shape (chalice local mimics API Gateway REST's 403 "Missing
    Authentication Token"), and a request without `Accept` accepts anything (RFC 9110)."""

    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        # Chalice's binary-response check (an API Gateway REST emulation) would answer a client
        # that sends no Accept 400 for binary bodies.
        if not any(k.lower() == "accept" for k in headers):
            headers = {**headers, "accept": "*/*"}
        try:
            return super().handle_request(method, path, headers, body)
        except local.ForbiddenError:
            try:
                self.event_converter._route_matcher.match_route(path)
            except ValueError:
                error = {"code": "NotFound", "message": f"no route for {method} {path}"}
                return {
                    "statusCode": 404,
                    "headers": {"Content-Type": "application/json"},
                    "multiValueHeaders": {},
                    "body": json.dumps({"error": error}).encode(),
                }
            raise


class BadFraming(Exception):
    """The request's body framing cannot be read (answered, then the connection is closed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ClientGone(Exception):
    """The client closed, or stalled past the timeout, before its body was complete."""


class RequestBody:
    """The body of one request as it arrives: `Content-Length` or chunked, in pieces."""

    def __init__(
        self, rfile: io.BufferedIOBase, headers: Message, before_first_read: Callable[[], None]
    ) -> None:
        self._rfile = rfile
        self._before_first_read = before_first_read
        encodings = headers.get_all("Transfer-Encoding") or []
        codings = [c.strip().lower() for v in encodings for c in v.split(",")]
        lengths = {v.strip() for v in headers.get_all("Content-Length") or []}
        self.chunked = bool(codings)
        self.length: int | None = 0
        if codings and lengths:  # request smuggling territory: refuse rather than guess
            raise BadFraming(400, "a request may not carry both Content-Length and chunking")
        if codings:
            if codings != ["chunked"]:
                raise BadFraming(501, f"unsupported Transfer-Encoding {', '.join(codings)}")
            self.length = None
        elif lengths:
            value = lengths.pop()
            if lengths or not value.isdigit():
                raise BadFraming(400, "invalid Content-Length")
            self.length = int(value)
        self.done = self.length == 0

    def _read(self, size: int) -> bytes:
        try:
            data = self._rfile.read1(size)
        except (TimeoutError, ConnectionError) as exc:
            raise ClientGone from exc
        if not data:
            raise ClientGone
        return bytes(data)

    def _line(self) -> bytes:
        try:
            line = self._rfile.readline(1024)
        except (TimeoutError, ConnectionError) as exc:
            raise ClientGone from exc
        if not line:
            raise ClientGone
        if not line.endswith(b"\n"):
            raise BadFraming(400, "malformed chunked body")
        return line

    def _exactly(self, size: int) -> Iterator[bytes]:
        while size:
            data = self._read(min(READ_CHUNK, size))
            size -= len(data)
            yield data

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes, as they arrive (at most READ_CHUNK at a time)."""
        if self.done:
            return
        self._before_first_read()
        if self.length is not None:
            yield from self._exactly(self.length)
        else:
            while True:
                size_text = self._line().split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BadFraming(400, "malformed chunk size") from None
                if size < 0:
                    raise BadFraming(400, "malformed chunk size")
                if size == 0:
                    while self._line().strip():  # trailer fields: read and ignored
                        pass
                    break
                yield from self._exactly(size)
                if self._line().strip():
                    raise BadFraming(400, "malformed chunked body")
        self.done = True

    def read(self, limit: int) -> bytes:
        """The whole body, refused (413) past `limit` bytes without reading further."""
        too_large = PayloadTooLargeError(f"request body exceeds {limit} bytes")
        if self.length is not None and self.length > limit:
            raise too_large
        parts, size = [], 0
        for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise too_large
            parts.append(chunk)
        return b"".join(parts)


@dataclass(frozen=True)
class Answer:
    """An answer to send: status, headers, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def unchanged(self) -> bool:
        """An event stream's "nothing new yet" (a keep-alive comment, no event)."""
        if self.status != 200:
            return False
        lines = self.body.splitlines()
        return not any(line.startswith((b"id:", b"event:")) for line in lines)


def _requested_wait(query: list[tuple[str, str]]) -> float | None:
    """The `wait` an events request asks for (25 s when not given); None when it is not a
    valid one (the app then answers, 400)."""
    values = [v for k, v in query if k == "wait"]
    if not values:
        return 25.0
    try:
        wait = float(values[-1])
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_SSE_WAIT else None


class StreamSlots:
    """Open event streams per token (by a hash of its Authorization header), at most `cap`."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def open(self, key: str) -> bool:
        with self._lock:
            count = self._open.get(key, 0)
            if count >= self.cap:
                return False
            self._open[key] = count + 1
            return True

    def close(self, key: str) -> None:
        with self._lock:
            count = self._open.pop(key, 1) - 1
            if count > 0:
                self._open[key] = count


class LocalServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True  # a stuck client never blocks shutdown
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024  # the listen backlog (socketserver's default is 5)

    def __init__(
        self,
        address: tuple[str, int],
        gateway: local.LocalGateway,
        *,
        routes: ApiRoutes,
        media: LocalMediaFiles | None = None,
        uploads: UploadTarget | None = None,
        signer: UrlSigner | None = None,
        read_timeout: float = 60.0,
        max_connections: int = 512,
        api_concurrency: int = 4,
        max_upload_bytes: int | None = LOCAL_MAX_UPLOAD_BYTES,
        events_wait: float = 25.0,
        events_poll: float = 1.0,
        max_streams_per_token: int = 10,
        trusted_proxies: tuple[str, ...] = (),
        quiet: bool = False,
    ) -> None:
        self.gateway = gateway
        self.signer = signer
        self.media = media
        self.uploads = uploads
        self.fast_paths = fast_paths(routes, media=media is not None, uploads=uploads is not None)
        self.media_route = routes.path_of("getMedia")[0] if media is not None else None
        self.read_timeout = read_timeout
        self.max_upload_bytes = max_upload_bytes
        self.quiet = quiet
        self._slots = threading.BoundedSemaphore(max_connections)
        # Admission to the API (Chalice): requests past it wait in line here. Python runs one
        # thread at a time anyway; more handlers at once only fight over the GIL and SQLite's
        # write lock (whose busy handler sleeps), which is what made the tail slow.
        self.api_slots = threading.BoundedSemaphore(api_concurrency)
        # Event streams wait on their own connection threads, never in an API slot.
        self.events_wait, self.events_poll = events_wait, events_poll
        self.streams = StreamSlots(max_streams_per_token)
        self.trusted_proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        super().__init__(address, LocalRequestHandler)

    def server_bind(self) -> None:
        # Not HTTPServer's: it asks DNS for the host's FQDN, a name nothing here uses.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """Over the connection cap: a 503 on a short-lived thread of its own (it drains what the
        client sent, so the close cannot reset the answer away), never a request thread."""
        threading.Thread(target=_refuse_connection, args=(request,), daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that leaves mid-answer is not a server error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _refuse_connection(sock: socket.socket) -> None:
    body = json.dumps(
        {"error": {"code": "ServerBusy", "message": "too many open connections; retry"}}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        sock.settimeout(1.0)
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(READ_CHUNK):  # until the client closes, or a second of silence
            pass
    except OSError:
        pass
    finally:
        sock.close()


class LocalRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    disable_nagle_algorithm = True  # keep-alive answers must not wait for delayed ACKs
    server: LocalServer
    _headers_buffer: list[bytes]
    _body: RequestBody | None = None
    _expect_continue = False

    def setup(self) -> None:
        self._drain = False
        super().setup()
        # Every read and write on the connection: an idle keep-alive, a half-sent request, a
        # stalled body or a reader that stopped reading all end after this long.
        self.connection.settimeout(self.server.read_timeout)

    # --- the request loop ------------------------------------------------------------------

    def handle_expect_100(self) -> bool:
        # `100 Continue` only once the body is really wanted: an upload refused before reading
        # (404, 409, 413 on its Content-Length) is answered without the client sending it.
        self._expect_continue = True
        return True

    def _send_continue(self) -> None:
        if self._expect_continue:
            self._expect_continue = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._drain:
                self._drain_and_close()

    def _drain_and_close(self) -> None:
        """Stop writing and read what the client still sends for a while, so that closing with
        unread data (which makes the kernel send a reset) cannot destroy our answer."""
        sock = self.connection
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + DRAIN_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(min(left, self.server.read_timeout))
                if not sock.recv(READ_CHUNK):
                    break
        except OSError:
            pass

    def _from_trusted_proxy(self) -> bool:
        if not self.server.trusted_proxies:
            return False
        try:
            peer = ipaddress.ip_address(str(self.client_address[0]))
        except ValueError:
            return False
        return any(peer in network for network in self.server.trusted_proxies)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(
                f"{self.address_string()} - - [{self.log_date_time_string()}] "
                f"{redact(format % args)}\n"
            )

    def version_string(self) -> str:
        return SERVER_NAME  # no Python or BaseHTTP version on the wire

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line or header block, an unknown
        HTTP version): a JSON answer with a status line, then close."""
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # else http.server writes no status line at all
        self.command = getattr(self, "command", "")
        self.close_connection = True
        self._body = None
        status = HTTPStatus(code)
        self._send_error(code, status.phrase.replace(" ", ""), message or status.phrase)

    def parse_request(self) -> bool:
        self._expect_continue = False
        self._body = None
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        if len(line.split()) == 2:  # HTTP/0.9 (`GET /`): refused before waiting for headers
            self.requestline = line
            self.send_error(400, "HTTP/0.9 requests are not served")
            return False
        return super().parse_request()  # on failure it has answered (send_error) and closes

    def _dispatch(self) -> None:
        try:
            self._body = RequestBody(self.rfile, self.headers, self._send_continue)
        except BadFraming as exc:
            self.close_connection = self._drain = True
            self._send_error(exc.status, "BadRequest", str(exc))
            return
        parts = urlsplit(self.path)
        path = parts.path
        try:
            for fast in self.server.fast_paths:
                match = fast.pattern.fullmatch(path)
                if match and self.command in fast.methods:
                    error_headers = cors_headers() if fast.media else []
                    if not fast.signed or self._signed(path, parts.query, error_headers):
                        getattr(self, fast.handler)(*match.groups())
                    break
            else:
                self._call_chalice()
        except ClientGone:
            self.close_connection = True
        except BadFraming as exc:
            self.close_connection = True
            self._send_error(exc.status, "BadRequest", str(exc))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, made-up ones) goes to Chalice too, which answers a
        # JSON 405 (or 404) in the service's shape, not http.server's HTML 501 (found by
        # fuzzing).
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._dispatch
        raise AttributeError(name)

    # --- writing answers -------------------------------------------------------------------
    def _send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        content_length: int | None = None,
    ) -> None:
        """Status line, headers and a small body in one write (none for HEAD)."""
        if self._body is not None and not self._body.done:
            self.close_connection = True  # the body was not read: the connection cannot go on
            self._drain = True
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status != 304:
            length = len(body) if content_length is None else content_length
            self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        out = b"".join(self._headers_buffer)
        self._headers_buffer = []
        if self.command != "HEAD":
            out += body
        self.wfile.write(out)

    def _send_json(
        self, status: int, document: Any, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self._send(
            status,
            [("Content-Type", "application/json"), *(headers or [])],
            json.dumps(document).encode(),
        )

    def _send_service_error(
        self, exc: ServiceError, headers: list[tuple[str, str]] | None = None
    ) -> None:
        request_id = uuid.uuid4().hex
        document = exc.to_body()
        document["error"]["requestId"] = request_id
        own = list(exc.headers.items())  # Retry-After, WWW-Authenticate
        self._send_json(
            exc.status, document, [("X-Request-Id", request_id), *own, *(headers or [])]
        )

    def _send_error(self, status: int, code: str, message: str) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}})

    # --- the API, through Chalice ----------------------------------------------------------
    def _call_chalice(self) -> None:
        assert self._body is not None
        try:
            data = self._body.read(API_MAX_BODY_BYTES)
        except PayloadTooLargeError as exc:
            self._send_service_error(exc)
            return
        # HEAD on the media view (any spelling) is asked as the GET it describes: its answer
        # is the handoff, never a body, and the file's headers are sent from here
        method = "GET" if self.command == "HEAD" and self._routes_to_media() else self.command
        answer = self._ask_chalice(self.path, data, method)
        handoff = self._media_handoff(answer)
        if handoff is not None:
            self._serve_media(*handoff)
            return
        self._send_answer(answer)

    def _media_handoff(self, answer: Answer) -> tuple[str, str, str] | None:
        """The file the media view named for this request, to stream in its place (any
        spelling of a media URL that Chalice routed to the view, signature checked there)."""
        if self.server.media is None or answer.status != 200 or self.command not in ("GET", "HEAD"):
            return None
        value = next((v for k, v in answer.headers if k.lower() == HANDOFF_HEADER.lower()), None)
        if value is None or not self._routes_to_media():  # only the media view hands off
            return None
        return parse_handoff(value)

    def _routes_to_media(self) -> bool:
        """Whether Chalice routes this request's path to the media view."""
        if self.server.media_route is None:
            return False
        try:
            path = urlsplit(self.path).path
            matched = self.server.gateway.event_converter._route_matcher.match_route(path)
        except ValueError:
            return False
        return bool(matched.route == self.server.media_route)

    def _ask_chalice(self, path: str, data: bytes = b"", method: str | None = None) -> Answer:
        """The app's answer to this request (at `path`), inside one of the API slots."""
        headers = dict(self.headers.items())
        if not self._from_trusted_proxy():  # X-Forwarded-* count only from trusted proxies
            headers = {
                k: v
                for k, v in headers.items()
                if not k.lower().startswith("x-forwarded-") and k.lower() != "forwarded"
            }
        try:
            with self.server.api_slots:
                response = self.server.gateway.handle_request(
                    method or self.command, path, headers, data or None
                )
        except local.LocalGatewayException as exc:
            return Answer(exc.CODE, list(exc.headers.items()), exc.body or b"")
        except Exception:
            request_id = uuid.uuid4().hex
            log.exception("request %s: the gateway failed", request_id)
            error = {"code": "InternalError", "message": "unexpected server error"}
            failed = json.dumps({"error": {**error, "requestId": request_id}}).encode()
            return Answer(500, [("Content-Type", "application/json")], failed)
        body = response.get("body")
        if response.get("isBase64Encoded") and body is not None:
            body = base64.b64decode(body)
        if isinstance(body, str):
            body = body.encode()
        headers_out = dict(response.get("headers") or {})
        headers_out.setdefault("Content-Type", "application/json")
        pairs = list(headers_out.items())
        for name, values in (response.get("multiValueHeaders") or {}).items():
            pairs.extend((name, v) for v in values)
        return Answer(int(response["statusCode"]), pairs, body or b"")

    def _send_answer(self, answer: Answer) -> None:
        self._send(answer.status, answer.headers, answer.body)

    # --- event streams: the wait happens here, outside the API slots ------------------------
    def _serve_events(self, video_id: str) -> None:
        """`GET /videos/{id}/events`: the app answers at once (`wait=0`: authentication,
        ownership, the current state), and while nothing changed this thread waits and asks
        again every `events_poll` seconds, each time holding an API slot only for the look.
        A token has at most `max_streams_per_token` such waits open (429 beyond)."""
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        wait = _requested_wait(query)
        if wait is None:  # no valid wait: the app answers (a 400, or at once with wait=0)
            self._send_answer(self._ask_chalice(self.path))
            return
        probe_query = urlencode([*((k, v) for k, v in query if k != "wait"), ("wait", "0")])
        probe = urlunsplit(("", "", parts.path, probe_query, ""))
        answer = self._ask_chalice(probe)
        wait = min(wait, self.server.events_wait)
        if not answer.unchanged or wait <= 0:
            self._send_answer(answer)
            return
        key = hashlib.sha256((self.headers.get("Authorization") or "").encode()).hexdigest()
        if not self.server.streams.open(key):
            error = RateLimitedError(
                f"this token already has {self.server.streams.cap} event streams open; "
                "close one or retry later",
                retry_after=wait,
                code="TooManyStreams",
            )
            self._send_service_error(error)
            return
        try:
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(self.server.events_poll, left))
                answer = self._ask_chalice(probe)
                if not answer.unchanged:
                    break
        finally:
            self.server.streams.close(key)
        self._send_answer(answer)

    def _signed(self, path: str, query: str, headers: list[tuple[str, str]]) -> bool:
        """Media and upload slots take no bearer token: their URLs carry a signature (as the
        Chalice routes check it, `access="signed"`). False (answered 403) when it is not valid."""
        if self.server.signer is None:
            return True
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            self.server.signer.verify(path, params)
        except ServiceError as exc:
            self.close_connection = self._drain = self.command == "PUT"  # body left unread
            self._send_service_error(exc, headers)
            return False
        return True

    # --- media, from disk ------------------------------------------------------------------
    def _serve_media(self, video_id: str, run_id: str, name: str) -> None:
        assert self.server.media is not None
        path = self.server.media.resolve(video_id, run_id, name)
        try:
            handle = path.open("rb") if path is not None else None
        except OSError:
            handle = None
        if handle is None:
            self._send_service_error(NotFoundError("no such media file"), cors_headers())
            return
        with handle:
            stat = os.fstat(handle.fileno())
            request_headers = {k.lower(): v for k, v in self.headers.items()}
            plan = plan_media(
                self.command,
                request_headers,
                stat.st_size,
                stat.st_mtime,
                stat.st_mtime_ns,
                content_type(name),
            )
            download = parse_qs(urlsplit(self.path).query).get("dl")  # issue 26: downloads
            if download and plan.status in (200, 206):
                plan.headers.append(("Content-Disposition", content_disposition(download[0])))
            if plan.body or plan.status == 304:
                self._send(plan.status, plan.headers, plan.body)
                return
            self._send(plan.status, plan.headers, content_length=plan.length)
            if self.command == "GET" and plan.length:
                # sendfile: the kernel copies file pages to the socket; nothing is buffered
                # here, whatever the file's size or the number of viewers.
                self.connection.sendfile(handle, plan.offset, plan.length)

    # --- uploads, to disk ------------------------------------------------------------------
    def _receive_upload(self, upload_id: str, name: str) -> None:
        assert self.server.uploads is not None and self._body is not None
        try:
            result = self.server.uploads.receive_local_stream(
                upload_id,
                name,
                self._body.chunks(),
                self._body.length,
                self.server.max_upload_bytes,
            )
        except ServiceError as exc:
            self._send_service_error(exc)
            return
        self._send_json(201, result)

    def _receive_part(self, upload_id: str, number: str) -> None:
        """A part of a local multipart upload, streamed into the slot's `.parts/`."""
        assert self.server.uploads is not None and self._body is not None
        try:
            result = self.server.uploads.receive_local_part(
                upload_id, number, self._body.chunks(), self._body.length
            )
        except ServiceError as exc:
            self._send_service_error(exc)
            return
        self._send_json(200, result)


def make_server(routes: ApiRoutes, host: str, port: int, **options: Any) -> LocalServer:
    """`make run`'s server around the app of `routes`; `options` are LocalServer's keyword
    arguments."""
    app = routes.app
    config = Config.create(chalice_stage="local", app_name=app.app_name, chalice_app=app)
    return LocalServer((host, port), Gateway(app, config), routes=routes, **options)
