"""The client alone: retries on 429/503 honouring Retry-After, errors, SSE parsing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from videocli.client import ApiError, Client, Unreachable, parse_events


class Scripted(BaseHTTPRequestHandler):
    """Answers the queued (status, headers, body) in order; records what it was sent."""

    answers: list[tuple[int, dict[str, str], Any]] = []
    seen: list[tuple[str, str, dict[str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        type(self).seen.append((self.command, self.path, dict(self.headers)))
        status, headers, body = type(self).answers.pop(0)
        raw = json.dumps(body).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[Client, list[float]]]:
    Scripted.answers, Scripted.seen = [], []
    server = HTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    slept: list[float] = []
    client = Client(f"http://127.0.0.1:{server.server_address[1]}", "tok", sleep=slept.append)
    yield client, slept
    server.shutdown()
    server.server_close()


def test_429_and_503_are_retried_after_what_retry_after_says(scripted) -> None:
    client, slept = scripted
    Scripted.answers = [
        (429, {"Retry-After": "2"}, {"error": {"code": "TooManyRequests", "message": "slow"}}),
        (503, {"Retry-After": "1"}, {"error": {"code": "DependencyUnavailable", "message": ""}}),
        (503, {}, {"error": {"code": "DependencyUnavailable", "message": ""}}),
        (200, {}, {"videos": [], "count": 0}),
    ]
    assert list(client.list_videos()) == []
    assert slept[:2] == [2.0, 1.0] and len(slept) == 3 and 0 < slept[2] <= 8
    assert all(h["Authorization"] == "Bearer tok" for _, _, h in Scripted.seen)


def test_retry_after_is_capped_and_retries_end(scripted) -> None:
    client, slept = scripted
    busy = (429, {"Retry-After": "86400"}, {"error": {"code": "TooManyRequests", "message": "x"}})
    Scripted.answers = [busy] * (client.retries + 1)
    with pytest.raises(ApiError) as caught:
        client.get_video("v")
    assert caught.value.status == 429 and caught.value.code == "TooManyRequests"
    assert slept == [60.0] * client.retries


def test_other_errors_raise_with_code_message_and_request_id(scripted) -> None:
    client, slept = scripted
    Scripted.answers = [
        (404, {}, {"error": {"code": "NotFound", "message": "no", "requestId": "r1"}})
    ]
    with pytest.raises(ApiError) as caught:
        client.get_video("v")
    error = caught.value
    assert (error.status, error.code, error.message, error.request_id) == (
        404, "NotFound", "no", "r1"
    )  # fmt: skip
    assert slept == []


def test_nothing_listening_is_unreachable() -> None:
    from tests.conftest import free_port

    with pytest.raises(Unreachable) as caught:
        Client(f"http://127.0.0.1:{free_port()}").health()
    assert caught.value.reason == "ConnectionRefusedError"


def test_server_sent_events_are_parsed() -> None:
    text = (
        "retry: 1000\nid: 3.40.processing\nevent: state\n"
        'data: {"status":"processing","progress":40,"eventSequence":3}\n\n'
        ": keep-alive\n\nevent: end\ndata: {}\n\n"
    )
    events = parse_events(text)
    assert [(e.event, e.id) for e in events] == [
        ("state", "3.40.processing"),
        ("end", "3.40.processing"),
    ]
    assert events[0].data["progress"] == 40


def test_the_client_imports_on_its_own() -> None:
    """`from videocli.client import Client` needs neither rich nor the service's code."""
    import subprocess
    import sys

    code = (
        "import sys; import videocli.client; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('rich', 'chalicelib', 'chalice', "
        "'boto3', 'botocore', 'urllib3', 'requests')]; print(bad)"
    )
    from tests.conftest import ROOT

    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
