"""Every route and every error of the API contract, through chalice.test.Client."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import DependencyError
from chalicelib.orchestrator.base import Orchestrator
from tests.conftest import install_container

JSON = {"content-type": "application/json"}


class RecordingOrchestrator(Orchestrator):
    """Test double: records starts instead of running a workflow."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.started: list[tuple[str, list[str]]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def start(self, name: str, video_ids: list[str]) -> str:
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.started.append((name, video_ids))
        return f"arn:aws:states:us-east-1:000000000000:execution:videos:{name}"

    def describe(self, name: str) -> dict[str, Any] | None:
        return None


@pytest.fixture
def orchestrator(client: Any) -> RecordingOrchestrator:
    fake = RecordingOrchestrator()
    install_container(orchestrator=fake)
    return fake


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def source(data_dir: Path, name: str = "clip.mp4") -> str:
    path = data_dir / "inbox" / name
    path.write_bytes(b"not really a video, the API does not read it")
    return f"file://{path}"


def create(client: Any, data_dir: Path, **fields: Any) -> dict[str, Any]:
    payload = {"title": "Intro", "sourceUrl": source(data_dir), **fields}
    resp = client.http.post("/videos", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 201, resp.body
    return body(resp)


def error_code(resp: Any) -> str:
    return str(body(resp)["error"]["code"])


# --- health --------------------------------------------------------------------------------
def test_health_reports_backend(client: Any) -> None:
    resp = client.http.get("/health")
    assert resp.status_code == 200
    assert body(resp)["status"] == "healthy"
    assert body(resp)["backend"] == "sqlite"
    assert body(resp)["timestamp"].endswith("Z")


def test_health_is_503_when_store_unreachable(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from chalicelib.factory import container

    def broken() -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(container().store, "ping", broken)
    resp = client.http.get("/health")
    assert resp.status_code == 503
    assert body(resp)["status"] == "unhealthy"


# --- create --------------------------------------------------------------------------------
def test_create_returns_full_item(client: Any, local_env: Path) -> None:
    item = create(client, local_env)
    assert item["status"] == "uploaded"
    assert item["description"] == ""
    assert item["title"] == "Intro"
    assert len(item["id"]) == 22
    assert item["createdAt"] == item["updatedAt"]
    assert (item["workspace"], item["createdBy"]) == ("default", "operator")
    assert set(item) == {
        "id",
        "workspace",
        "createdBy",
        "title",
        "sourceUrl",
        "description",
        "status",
        "createdAt",
        "updatedAt",
    }


def test_ids_are_unique_and_url_safe(client: Any, local_env: Path) -> None:
    ids = {create(client, local_env)["id"] for _ in range(20)}
    assert len(ids) == 20
    assert all(i.replace("-", "").replace("_", "").isalnum() for i in ids)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sourceUrl": "X"}, "title"),
        ({"title": "   ", "sourceUrl": "X"}, "title"),
        ({"title": 5, "sourceUrl": "X"}, "title"),
        ({"title": "x" * 201, "sourceUrl": "X"}, "title"),
        ({"title": "t", "sourceUrl": "X", "description": 3}, "description"),
        ({"title": "t", "sourceUrl": "X", "description": "d" * 5001}, "description"),
        ({"title": "t"}, "sourceUrl"),
        ({"title": "t", "sourceUrl": 7}, "sourceUrl"),
        ({"title": "t", "sourceUrl": "http://example.com/a.mp4"}, "sourceUrl"),
        ({"title": "t", "sourceUrl": "file:///etc/passwd"}, "sourceUrl"),
        ({"title": "t", "sourceUrl": "file://evil.host/x.mp4"}, "sourceUrl"),
        ({"title": "t", "sourceUrl": "s3://bucket/key.mp4"}, "sourceUrl"),  # no S3 locally
        ({"title": "t", "sourceUrl": "file:///" + "a" * 2100}, "sourceUrl"),
        ({"title": "t", "sourceUrl": "javascript:alert(1)"}, "sourceUrl"),
    ],
)
def test_create_validation_errors(client: Any, payload: dict[str, Any], field: str) -> None:
    resp = client.http.post("/videos", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 400, resp.body
    err = body(resp)["error"]
    assert err["code"] == "ValidationError"
    assert err["details"]["field"] == field


def test_create_rejects_unknown_fields(client: Any, local_env: Path) -> None:
    payload = {"title": "t", "sourceUrl": source(local_env), "status": "completed"}
    resp = client.http.post("/videos", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 400
    assert body(resp)["error"]["details"] == {"unknownFields": ["status"]}


def test_symlink_out_of_source_roots_is_rejected(client: Any, local_env: Path) -> None:
    outside = local_env / "secret.mp4"
    outside.write_bytes(b"x")
    link = local_env / "inbox" / "innocent.mp4"
    link.symlink_to(outside)
    resp = client.http.post(
        "/videos", headers=JSON, body=json.dumps({"title": "t", "sourceUrl": f"file://{link}"})
    )
    assert resp.status_code == 400
    assert "outside" in body(resp)["error"]["message"]


def test_traversal_out_of_source_roots_is_rejected(client: Any, local_env: Path) -> None:
    (local_env / "x.mp4").write_bytes(b"x")
    url = f"file://{local_env}/inbox/../x.mp4"
    resp = client.http.post(
        "/videos", headers=JSON, body=json.dumps({"title": "t", "sourceUrl": url})
    )
    assert resp.status_code == 400


@pytest.mark.parametrize(
    ("raw", "headers", "status", "code"),
    [
        (b"{not json", JSON, 400, "ValidationError"),
        (b"[1, 2]", JSON, 400, "ValidationError"),
        (b'"a string"', JSON, 400, "ValidationError"),
        (b"", JSON, 400, "ValidationError"),
        (b"\xff\xfe", JSON, 400, "ValidationError"),
        (b'{"title": "t"}', {"content-type": "text/plain"}, 415, "UnsupportedMediaType"),
        (
            b'{"title": "t"}',
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "UnsupportedMediaType",
        ),
        (b'{"a": "' + b"x" * (1024 * 1024 + 10) + b'"}', JSON, 413, "PayloadTooLarge"),
    ],
)
def test_malformed_bodies(
    client: Any, raw: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    resp = client.http.post("/videos", headers=headers, body=raw)
    assert resp.status_code == status, resp.body
    assert error_code(resp) == code


def test_json_with_charset_is_accepted(client: Any, local_env: Path) -> None:
    payload = {"title": "t", "sourceUrl": source(local_env)}
    resp = client.http.post(
        "/videos",
        headers={"content-type": "application/json; charset=utf-8"},
        body=json.dumps(payload),
    )
    assert resp.status_code == 201


# --- list ----------------------------------------------------------------------------------
def test_list_newest_first_with_pagination(client: Any, local_env: Path) -> None:
    made = [create(client, local_env, title=f"v{i}")["id"] for i in range(5)]
    first = body(client.http.get("/videos?limit=2"))
    assert first["count"] == 2
    assert [v["id"] for v in first["videos"]] == made[::-1][:2]
    token = first["nextToken"]
    rest: list[str] = []
    while token:
        page = body(client.http.get(f"/videos?limit=2&nextToken={token}"))
        rest += [v["id"] for v in page["videos"]]
        token = page.get("nextToken")
    assert rest == made[::-1][2:]


def test_list_default_limit_is_50(client: Any, local_env: Path) -> None:
    for i in range(52):
        create(client, local_env, title=f"v{i}")
    page = body(client.http.get("/videos"))
    assert page["count"] == 50
    assert "nextToken" in page


def test_list_filters_by_status(client: Any, local_env: Path, orchestrator: Any) -> None:
    a = create(client, local_env)["id"]
    create(client, local_env)
    client.http.post(f"/videos/{a}/process")
    queued = body(client.http.get("/videos?status=queued"))
    assert [v["id"] for v in queued["videos"]] == [a]
    assert body(client.http.get("/videos?status=uploaded"))["count"] == 1
    assert body(client.http.get("/videos?status=completed")) == {"videos": [], "count": 0}


@pytest.mark.parametrize(
    "query",
    [
        "status=done",
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "nextToken=",
        "nextToken=garbage",
        "nextToken=a.b",
        "nextToken=" + "x" * 2000,
        "colour=red",
    ],
)
def test_list_rejects_bad_parameters(client: Any, query: str) -> None:
    resp = client.http.get(f"/videos?{query}")
    assert resp.status_code == 400, resp.body
    assert "error" in body(resp)


def test_forged_token_is_rejected(client: Any, local_env: Path) -> None:
    import base64

    for _ in range(3):
        create(client, local_env)
    token = body(client.http.get("/videos?limit=1"))["nextToken"]
    payload_b64, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    payload["c"] = "9999-01-01T00:00:00.000000Z"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    resp = client.http.get(f"/videos?limit=1&nextToken={forged}.{sig}")
    assert resp.status_code == 400
    assert error_code(resp) == "InvalidToken"


def test_token_from_another_filter_is_rejected(client: Any, local_env: Path) -> None:
    for _ in range(3):
        create(client, local_env)
    token = body(client.http.get("/videos?limit=1"))["nextToken"]
    resp = client.http.get(f"/videos?status=uploaded&limit=1&nextToken={token}")
    assert resp.status_code == 400


def test_expired_token_is_rejected(client: Any, local_env: Path) -> None:
    import time

    from chalicelib.factory import container

    for _ in range(3):
        create(client, local_env)
    token = body(client.http.get("/videos?limit=1"))["nextToken"]
    from chalicelib.api.cursor import CursorCodec
    from chalicelib.factory import cursor_secret

    settings = container().settings
    later = CursorCodec(
        cursor_secret(settings), settings.cursor_ttl_seconds, lambda: time.time() + 2 * 24 * 3600
    )
    install_container(cursors=later)
    resp = client.http.get(f"/videos?limit=1&nextToken={token}")
    assert resp.status_code == 400
    assert error_code(resp) == "ExpiredToken"


# --- get -----------------------------------------------------------------------------------
def test_get_returns_item(client: Any, local_env: Path) -> None:
    item = create(client, local_env)
    resp = client.http.get(f"/videos/{item['id']}")
    assert resp.status_code == 200
    assert body(resp) == item


@pytest.mark.parametrize(
    "vid", ["AAAAAAAAAAAAAAAAAAAAAA", "short", "lease%23processor", "x" * 300, "%00"]
)
def test_get_unknown_or_malformed_is_404(client: Any, vid: str) -> None:
    resp = client.http.get(f"/videos/{vid}")
    assert resp.status_code == 404
    assert error_code(resp) == "NotFound"


def test_unsupported_method_is_405_json(client: Any) -> None:
    resp = client.http.delete("/videos")
    assert resp.status_code == 405
    assert error_code(resp) == "MethodNotAllowedError"


# --- process -------------------------------------------------------------------------------
def test_process_queues_and_starts_one_execution(
    client: Any, local_env: Path, orchestrator: RecordingOrchestrator
) -> None:
    vid = create(client, local_env)["id"]
    resp = client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 202
    out = body(resp)
    assert out["videoId"] == vid
    assert out["executionArn"].endswith(orchestrator.started[0][0])
    assert orchestrator.started[0][1] == [vid]
    item = body(client.http.get(f"/videos/{vid}"))
    assert item["status"] == "queued"
    assert item["executionName"] == orchestrator.started[0][0]


def test_process_twice_is_409(client: Any, local_env: Path, orchestrator: Any) -> None:
    vid = create(client, local_env)["id"]
    assert client.http.post(f"/videos/{vid}/process").status_code == 202
    resp = client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 409
    assert body(resp)["error"]["details"]["currentStatus"] == "queued"
    assert len(orchestrator.started) == 1


def test_process_unknown_is_404(client: Any, orchestrator: Any) -> None:
    assert client.http.post("/videos/AAAAAAAAAAAAAAAAAAAAAA/process").status_code == 404
    assert client.http.post("/videos/nope/process").status_code == 404
    assert orchestrator.started == []


def test_process_rejects_a_body_with_fields(
    client: Any, local_env: Path, orchestrator: Any
) -> None:
    vid = create(client, local_env)["id"]
    resp = client.http.post(f"/videos/{vid}/process", headers=JSON, body=b'{"force": true}')
    assert resp.status_code == 400
    assert client.http.post(f"/videos/{vid}/process", headers=JSON, body=b"{}").status_code == 202


def test_completed_and_failed_videos_can_be_processed_again(
    client: Any, local_env: Path, orchestrator: Any
) -> None:
    from chalicelib.factory import container

    store = container().store
    for final in ("completed", "failed"):
        vid = create(client, local_env)["id"]
        store.transition(vid, {"uploaded"}, final, {"error": {"code": "x", "message": "y"}})
        assert client.http.post(f"/videos/{vid}/process").status_code == 202
        item = body(client.http.get(f"/videos/{vid}"))
        assert item["status"] == "queued"
        assert "error" not in item  # the old run's results are cleared


def test_fifty_concurrent_triggers_start_exactly_one_execution(
    client: Any, local_env: Path, orchestrator: RecordingOrchestrator
) -> None:
    vid = create(client, local_env)["id"]
    barrier = threading.Barrier(50)

    def trigger(_: int) -> int:
        barrier.wait()
        return int(client.http.post(f"/videos/{vid}/process").status_code)

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(trigger, range(50)))
    assert sorted(set(codes)) == [202, 409]
    assert codes.count(202) == 1
    assert len(orchestrator.started) == 1


def test_orchestrator_failure_is_503_and_video_not_stuck(client: Any, local_env: Path) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:secret-name"
    down = DependencyError(f"could not reach {arn}")  # what the adapters raise
    install_container(orchestrator=RecordingOrchestrator(fail=down))
    vid = create(client, local_env)["id"]
    resp = client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 503
    assert error_code(resp) == "OrchestratorUnavailable"
    assert "secret-name" not in resp.body.decode()  # internals stay in the log
    assert body(resp)["error"]["requestId"]
    item = body(client.http.get(f"/videos/{vid}"))
    assert item["status"] == "failed"
    assert item["error"]["code"] == "OrchestratorUnavailable"
    assert "secret-name" not in json.dumps(item)


def test_a_bug_while_starting_is_a_500_not_a_503_and_the_video_is_not_stuck(
    client: Any, local_env: Path
) -> None:
    install_container(orchestrator=RecordingOrchestrator(fail=TypeError("a programming error")))
    vid = create(client, local_env)["id"]
    resp = client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 500
    assert error_code(resp) == "InternalError"
    assert "programming error" not in resp.body.decode()
    assert body(client.http.get(f"/videos/{vid}"))["status"] == "failed"


def test_every_route_applies_the_error_mapping() -> None:
    from app import app
    from chalicelib.api.http import is_wrapped

    views = {
        (path, method): entry.view_function
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    }
    assert len(views) >= 12
    assert [key for key, view in views.items() if not is_wrapped(view)] == []


def test_batch_reports_per_video_outcomes(
    client: Any, local_env: Path, orchestrator: RecordingOrchestrator
) -> None:
    a, b = create(client, local_env)["id"], create(client, local_env)["id"]
    client.http.post(f"/videos/{b}/process")
    missing = "AAAAAAAAAAAAAAAAAAAAAA"
    resp = client.http.post(
        "/videos/process", headers=JSON, body=json.dumps({"videoIds": [a, b, missing]})
    )
    assert resp.status_code == 202
    out = body(resp)
    assert [(r["videoId"], r["outcome"]) for r in out["results"]] == [
        (a, "queued"),
        (b, "conflict"),
        (missing, "notFound"),
    ]
    assert orchestrator.started[-1][1] == [a]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"videoIds": []},
        {"videoIds": "abc"},
        {"videoIds": [1]},
        {"videoIds": ["a", "a"]},
        {"videoIds": [f"v{i}" for i in range(101)]},
        {"videoIds": ["a"], "extra": 1},
    ],
)
def test_batch_validation(client: Any, payload: Any, orchestrator: Any) -> None:
    resp = client.http.post("/videos/process", headers=JSON, body=json.dumps(payload))
    assert resp.status_code == 400


def test_batch_with_nothing_to_do_is_409(client: Any, local_env: Path, orchestrator: Any) -> None:
    a = create(client, local_env)["id"]
    client.http.post(f"/videos/{a}/process")
    resp = client.http.post("/videos/process", headers=JSON, body=json.dumps({"videoIds": [a]}))
    assert resp.status_code == 409


def test_unknown_execution_is_404(client: Any, orchestrator: Any) -> None:
    assert client.http.get("/executions/exec-" + "0" * 32).status_code == 404
    assert client.http.get("/executions/whatever").status_code == 404


def test_capacity_is_zero_at_rest(client: Any) -> None:
    resp = client.http.get("/capacity")
    assert resp.status_code == 200
    assert body(resp) == {
        "requested": {"min": 0, "max": 0},
        "applied": {"min": 0, "max": 0},
        "leases": 0,
        "environments": 0,
        "inFlight": 0,
    }


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("s3://media-bucket/uploads/clip.mp4", 201),
        ("s3://media-bucket/videos/x/y/video_720p.mp4", 400),  # outputs are not sources
        ("s3://someone-elses-bucket/uploads/clip.mp4", 400),
        ("s3://media-bucket/", 400),
        ("s3://Bad_Bucket/uploads/x.mp4", 400),
        ("file:///etc/passwd", 400),  # no file:// in AWS mode
    ],
)
def test_aws_mode_sources_must_be_uploads_in_the_media_bucket(url: str, status: int) -> None:
    from chalicelib.api.validation import validate_new_video
    from chalicelib.config import Settings

    settings = Settings(backend="aws", bucket="media-bucket")
    body = {"title": "t", "sourceUrl": url}
    if status == 201:
        assert validate_new_video(body, settings)["sourceUrl"] == url
    else:
        from chalicelib.errors import ValidationError

        with pytest.raises(ValidationError):
            validate_new_video(body, settings)
