"""A typed Python client of the video service's API (standard library only).

    from videocli.client import Client
    api = Client.from_env()                     # VIDEO_API_URL, VIDEO_TOKEN
    source = api.upload_file("clip.mp4")        # single PUT, or multipart above a threshold
    video = api.create_video("Clip", source)
    api.process(video["id"])
    for event in api.watch(video["id"]): ...    # the SSE stream until a final state

Requests answered 429 or 503 are retried, waiting what `Retry-After` says (capped), with
backoff; any other error raises `ApiError` (its `status`, `code`, `message`, `request_id`).
Large files go up in parts (`POST /uploads {multipart}`), each part retried on its own, and an
interrupted upload resumes from the parts the server already has: the upload's id is kept in
a small state file per source file (`state_dir`), removed once the upload completes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import mimetypes
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

DEFAULT_URL = "http://127.0.0.1:8000"
MULTIPART_THRESHOLD = 64 * 1024 * 1024  # files above it go up in parts
CHUNK = 256 * 1024
MAX_RETRY_WAIT = 60.0
RETRY_STATUSES = (429, 503)
Progress = Callable[[int], None]  # called with the number of bytes just moved


class ApiError(Exception):
    """The API answered an error (or could not be reached: status 0)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str = "",
        details: Any = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}" if status else message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details


class Unreachable(ApiError):
    """Nothing answered at the API's address (connection refused, DNS, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(0, "Unreachable", f"cannot reach {url} ({reason})")
        self.url = url
        self.reason = reason


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Event:
    """One Server-Sent Event of `GET /videos/{id}/events`."""

    event: str
    id: str
    data: dict[str, Any]


def parse_events(text: str) -> list[Event]:
    events: list[Event] = []
    kind, event_id, data = "message", "", list[str]()
    for line in [*text.splitlines(), ""]:
        if not line:
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    payload = {"raw": "\n".join(data)}
                events.append(Event(kind, event_id, payload if isinstance(payload, dict) else {}))
            kind, data = "message", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)
    return events


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(0, "BadUrl", f"not an http(s) URL: {url}")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname, parts.port, timeout=timeout), target


def _retry_after(headers: Mapping[str, str], attempt: int) -> float:
    raw = headers.get("Retry-After") or headers.get("retry-after") or ""
    try:
        wait = float(raw)
    except ValueError:
        wait = min(2.0**attempt * 0.5, 8.0)
    return max(0.0, min(wait, MAX_RETRY_WAIT))


@dataclass
class Client:
    base_url: str = DEFAULT_URL
    token: str | None = None
    timeout: float = 60.0
    retries: int = 5  # for 429/503 and for a part or a file that fails to arrive
    state_dir: Path = field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "video-cli"
        )
    )
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_env(cls, **overrides: Any) -> Client:
        url = os.environ.get("VIDEO_API_URL", "").strip() or DEFAULT_URL
        token = os.environ.get("VIDEO_TOKEN", "").strip() or None
        return cls(**{"base_url": url.rstrip("/"), "token": token, **overrides})

    # --- HTTP ----------------------------------------------------------------------------------
    def _send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Response:
        conn, target = _connection(url, self.timeout)
        try:
            conn.request(method, target, body=body, headers=dict(headers))
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        except (ConnectionRefusedError, socket.gaierror, TimeoutError) as exc:
            raise Unreachable(self.base_url, type(exc).__name__) from exc
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise Unreachable(self.base_url, f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """One API call; 429/503 are retried (Retry-After honoured), other errors raise."""
        url = f"{self.base_url}{path}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urlencode(query)
        sent = {"Accept": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        for attempt in range(self.retries + 1):
            resp = self._send(method, url, data, sent)
            if resp.status in RETRY_STATUSES and attempt < self.retries:
                self.sleep(_retry_after(resp.headers, attempt))
                continue
            if resp.status >= 400:
                raise self._error(resp)
            return resp
        raise AssertionError("unreachable")

    @staticmethod
    def _error(resp: Response) -> ApiError:
        try:
            error = (resp.json() or {}).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        return ApiError(
            resp.status,
            str(error.get("code") or f"HTTP{resp.status}"),
            str(error.get("message") or resp.body[:200].decode("utf-8", "replace")),
            str(error.get("requestId") or resp.headers.get("X-Request-Id", "")),
            error.get("details"),
        )

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.request(method, path, body, params).json()

    # --- the API -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return dict(self.call("GET", "/health"))

    def create_video(self, title: str, source_url: str, description: str = "") -> dict[str, Any]:
        body = {"title": title, "sourceUrl": source_url, "description": description}
        return dict(self.call("POST", "/videos", body))

    def list_videos(
        self, status: str | None = None, limit: int | None = None, search: str | None = None
    ) -> Iterator[dict]:
        """Every video (newest first; with `search`, those whose title matches), page after
        page; at most `limit` of them."""
        token, given = None, 0
        while True:
            page = self.call("GET", "/videos", status=status, q=search, nextToken=token)
            for video in page["videos"]:
                if limit is not None and given >= limit:
                    return
                given += 1
                yield video
            token = page.get("nextToken")
            if not token:
                return

    def get_video(self, video_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/videos/{video_id}"))

    def process(self, video_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/videos/{video_id}/process"))

    def process_batch(self, video_ids: list[str]) -> dict[str, Any]:
        return dict(self.call("POST", "/videos/process", {"videoIds": video_ids}))

    def execution(self, name: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/executions/{name}"))

    def events(self, video_id: str, last_event_id: str = "", wait: float = 25.0) -> list[Event]:
        """One answer of the SSE route: the state if it differs from `last_event_id`."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        resp = self.request("GET", f"/videos/{video_id}/events", None, {"wait": wait}, headers)
        return parse_events(resp.body.decode("utf-8", "replace"))

    def watch(self, video_id: str, wait: float = 25.0) -> Iterator[dict[str, Any]]:
        """The video's states ({status, progress, ...}) as they change, until it completes or
        fails (reconnecting as an EventSource does)."""
        last = ""
        while True:
            for event in self.events(video_id, last, wait):
                if event.event == "end":
                    return
                if event.event == "state":
                    last = event.id
                    yield event.data

    # issue 26 part B: transcripts and clips
    def transcript(self, video_id: str, fmt: str = "json") -> Any:
        """The transcript: a dict (`json`), else its text (`txt`, `vtt`, `srt`)."""
        resp = self.request("GET", f"/videos/{video_id}/transcript", params={"format": fmt})
        return resp.json() if fmt == "json" else resp.body.decode("utf-8")

    def search_transcript(self, video_id: str, query: str) -> list[dict[str, Any]]:
        found = self.call("GET", f"/videos/{video_id}/transcript", q=query)
        return list(found["matches"])

    def clip(
        self, video_id: str, start: float, end: float, mode: str = "exact", title: str | None = None
    ) -> dict[str, Any]:
        """`instant`: {hlsUrl, start, end, ...}; `exact`: the new video (with `clipOf`)."""
        body: dict[str, Any] = {"start": start, "end": end, "mode": mode}
        if title:
            body["title"] = title
        return dict(self.call("POST", f"/videos/{video_id}/clips", body))

    def capacity(self) -> dict[str, Any]:
        return dict(self.call("GET", "/capacity"))

    def create_token(
        self,
        name: str,
        scope: str,
        workspace: str | None = None,
        expires_in: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "scope": scope}
        if workspace:
            body["workspace"] = workspace
        if expires_in:
            body["expiresIn"] = expires_in
        return dict(self.call("POST", "/tokens", body))

    def list_tokens(self, workspace: str | None = None) -> list[dict[str, Any]]:
        return list(self.call("GET", "/tokens", workspace=workspace)["tokens"])

    def revoke_token(self, token_id: str) -> None:
        self.request("DELETE", f"/tokens/{token_id}")

    def create_webhook(
        self, url: str, events: list[str] | None = None, description: str = ""
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url, "description": description}
        if events:
            body["events"] = events
        return dict(self.call("POST", "/webhooks", body))

    def list_webhooks(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/webhooks")["webhooks"])

    def get_webhook(self, hook_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/webhooks/{hook_id}"))

    def delete_webhook(self, hook_id: str) -> None:
        self.request("DELETE", f"/webhooks/{hook_id}")

    def test_webhook(self, hook_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/webhooks/{hook_id}/test"))

    def rotate_webhook(self, hook_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/webhooks/{hook_id}/rotate"))

    def webhook_deliveries(self, hook_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/webhooks/{hook_id}/deliveries")["deliveries"])

    # --- uploads -------------------------------------------------------------------------------
    def create_upload(
        self,
        filename: str,
        content_type: str,
        size: int | None = None,
        part_size: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"filename": filename, "contentType": content_type}
        if size is not None:
            body["multipart"] = {"size": size}
            if part_size:
                body["multipart"]["partSize"] = part_size
        return dict(self.call("POST", "/uploads", body))

    def upload_state(self, upload_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/uploads/{upload_id}"))

    def part_urls(self, upload_id: str, numbers: list[int]) -> list[dict[str, Any]]:
        answer = self.call("POST", f"/uploads/{upload_id}/parts", {"partNumbers": numbers})
        return list(answer["parts"])

    def complete_upload(self, upload_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/uploads/{upload_id}/complete"))

    def abort_upload(self, upload_id: str) -> None:
        self.request("DELETE", f"/uploads/{upload_id}")

    def put(
        self,
        url: str,
        source: BinaryIO,
        length: int,
        headers: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        limit_rate: float | None = None,
    ) -> Response:
        """PUT `length` bytes from `source` to a signed or presigned URL (no token: the URL is
        the credential), streamed in chunks; `limit_rate` in bytes per second."""
        conn, target = _connection(url, self.timeout)
        started, sent = time.monotonic(), 0
        try:
            conn.putrequest("PUT", target, skip_accept_encoding=True)
            for name, value in {**(headers or {}), "Content-Length": str(length)}.items():
                conn.putheader(name, value)
            conn.endheaders()
            while sent < length:
                chunk = source.read(min(CHUNK, length - sent))
                if not chunk:
                    raise ApiError(0, "ShortRead", "the file ended early (did it change?)")
                conn.send(chunk)
                sent += len(chunk)
                if progress is not None:
                    progress(len(chunk))
                if limit_rate:
                    ahead = sent / limit_rate - (time.monotonic() - started)
                    if ahead > 0:
                        self.sleep(ahead)
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise Unreachable(url.partition("?")[0], f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    def _state_file(self, path: Path, size: int) -> Path:
        stat = path.stat()
        key = f"{self.base_url}|{path.resolve()}|{size}|{stat.st_mtime_ns}"
        return self.state_dir / f"upload-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def upload_file(
        self,
        path: str | Path,
        content_type: str | None = None,
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int | None = None,
        progress: Progress | None = None,
        limit_rate: float | None = None,
        on_resume: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Upload a source file; returns `{"sourceUrl", "size", "resumedBytes", ...}`.

        Above `multipart_threshold` it goes in parts; when an earlier run of this upload was
        interrupted, the parts the server already has are not sent again (`on_resume(parts
        stored, bytes stored)` is told), and `progress` starts from what is stored."""
        path = Path(path)
        size = path.stat().st_size
        ctype = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if size <= multipart_threshold:
            target = self.create_upload(path.name, ctype)
            for attempt in range(self.retries + 1):
                with path.open("rb") as source:
                    resp = self.put(
                        target["uploadUrl"], source, size, target["headers"], progress, limit_rate
                    )
                if resp.status < 300:
                    return {"sourceUrl": target["sourceUrl"], "size": size, "resumedBytes": 0}
                if resp.status < 500 or attempt == self.retries:
                    raise self._error(resp)
                self.sleep(min(2.0**attempt, 8.0))
        return self._upload_parts(path, size, ctype, part_size, progress, limit_rate, on_resume)

    def _upload_parts(
        self,
        path: Path,
        size: int,
        ctype: str,
        part_size: int | None,
        progress: Progress | None,
        limit_rate: float | None,
        on_resume: Callable[[int, int], None] | None,
    ) -> dict[str, Any]:
        state_file = self._state_file(path, size)
        upload, stored = self._resume(state_file)
        if upload is not None and upload.get("status") == "completed":
            state_file.unlink(missing_ok=True)
            return {"sourceUrl": upload["sourceUrl"], "size": size, "resumedBytes": size}
        if upload is None:
            upload = self.create_upload(path.name, ctype, size, part_size)
            state_file.parent.mkdir(parents=True, exist_ok=True)
            kept = {k: upload[k] for k in ("uploadId", "sourceUrl", "partSize")}
            state_file.write_text(json.dumps(kept))
        upload_id, psize = upload["uploadId"], int(upload["partSize"])
        count = max(1, -(-size // psize))
        resumed = sum(stored.values())
        if stored and on_resume is not None:
            on_resume(len(stored), resumed)
        if progress is not None and resumed:
            progress(resumed)
        missing = [n for n in range(1, count + 1) if n not in stored]
        for start in range(0, len(missing), 100):
            batch = missing[start : start + 100]
            for part in self.part_urls(upload_id, batch):
                self._put_part(path, upload_id, part, psize, progress, limit_rate)
        done = self.complete_upload(upload_id)
        state_file.unlink(missing_ok=True)
        return {**done, "resumedBytes": resumed, "uploadId": upload_id}

    def _resume(self, state_file: Path) -> tuple[dict[str, Any] | None, dict[int, int]]:
        """The upload an earlier run left (and its stored parts: number -> size), if any."""
        try:
            upload = json.loads(state_file.read_text())
        except (OSError, ValueError):
            return None, {}
        try:
            state = self.upload_state(upload["uploadId"])
        except ApiError as exc:
            if exc.status == 404:  # expired, aborted or swept: start again
                return None, {}
            raise
        return {**upload, **state}, {p["partNumber"]: p["size"] for p in state["parts"]}

    def _put_part(
        self,
        path: Path,
        upload_id: str,
        part: dict[str, Any],
        part_size: int,
        progress: Progress | None,
        limit_rate: float | None,
    ) -> None:
        """One part, retried on its own: a broken connection or a 5xx sends it again, an
        expired URL (403) asks for a fresh one."""
        number, length = int(part["partNumber"]), int(part["size"])
        url = part["url"]
        for attempt in range(self.retries + 1):
            moved = 0

            def counted(n: int) -> None:
                nonlocal moved
                moved += n
                if progress is not None:
                    progress(n)

            try:
                with path.open("rb") as source:
                    source.seek((number - 1) * part_size)
                    resp = self.put(url, source, length, None, counted, limit_rate)
            except Unreachable:
                if attempt == self.retries:
                    raise
                resp = None
            if resp is not None and resp.status < 300:
                return
            if progress is not None and moved:
                progress(-moved)  # those bytes go again
            if resp is not None and resp.status == 403:
                url = self.part_urls(upload_id, [number])[0]["url"]
            elif resp is not None and (resp.status < 500 or attempt == self.retries):
                raise self._error(resp)
            self.sleep(min(2.0**attempt * 0.5, 8.0))

    def image_url(self, video_id: str, name: str, **params: Any) -> str:
        """The URL of a rendered image (`thumbnail.jpg`, `animated.gif`, ...): the API
        answers a redirect to it, rendering it first when it is not cached."""
        resp = self.request("GET", f"/videos/{video_id}/{name}", params=params)
        location = resp.headers.get("Location") or resp.headers.get("location") or ""
        if resp.status != 302 or not location:
            raise ApiError(resp.status, "NoRedirect", "the API did not answer a redirect", "")
        return urljoin(f"{self.base_url}/", location)

    def download(
        self,
        url: str,
        dest: Path,
        progress: Progress | None = None,
        on_length: Callable[[int], None] | None = None,
    ) -> int:
        """GET a (signed or presigned) file URL into `dest`, streamed; returns its size."""
        conn, target = _connection(url, self.timeout)
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            conn.request("GET", target)
            resp = conn.getresponse()
            if resp.status >= 400:
                raise self._error(Response(resp.status, dict(resp.getheaders()), resp.read()))
            if on_length is not None:
                on_length(int(resp.getheader("Content-Length") or 0))
            size = 0
            with tmp.open("wb") as out:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    size += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
            tmp.replace(dest)
            return size
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise Unreachable(url.partition("?")[0], f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
