"""Error responses carry a request id and no internals; the log carries both, together.

Internal identifiers (table, bucket and state-machine names, ARNs, the AWS SDK's messages)
must never reach a 4xx/5xx body. Every error response quotes its request id (body and
`X-Request-Id`), including Chalice's own 405/415, and every 5xx is logged with that id and
the detail the body leaves out.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import install_container
from tests.core.backends import JSON, Backend, open_backend

SECRET_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:secret-machine"


@pytest.fixture
def local(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend("local", request, tmp_path, monkeypatch)


@pytest.fixture
def aws(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend("aws", request, tmp_path, monkeypatch)


def request_id(resp: Any) -> str:
    """The id an error response quotes, the same in the body and the header."""
    body = json.loads(resp.body)
    error = body.get("error")
    quoted = error["requestId"] if isinstance(error, dict) else body["requestId"]
    assert quoted and resp.headers["X-Request-Id"] == quoted
    return str(quoted)


def assert_no_internals(resp: Any, *names: str) -> None:
    text = resp.body.decode()
    for secret in (*names, "arn:", "An error occurred", "botocore", "Traceback"):
        assert secret not in text, (secret, text)


def logged_with(caplog: pytest.LogCaptureFixture, rid: str) -> str:
    """Everything logged (with tracebacks) by records that quote `rid`."""
    fmt = logging.Formatter()
    text = "\n".join(fmt.format(r) for r in caplog.records if rid in r.getMessage())
    assert text, f"nothing logged for request {rid}"
    return text


# --- every error response quotes its request id ----------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "headers", "raw", "status"),
    [
        ("POST", "/videos", JSON, b"{nope", 400),
        ("POST", "/videos", JSON, b'{"title": "t"}', 400),
        ("GET", "/videos?limit=0", {}, b"", 400),
        ("GET", "/videos/AAAAAAAAAAAAAAAAAAAAAA", {}, b"", 404),
        ("GET", "/videos/AAAAAAAAAAAAAAAAAAAAAA/stream/hls_master.m3u8", {}, b"", 403),  # unsigned
        ("GET", "/executions/nope", {}, b"", 404),
        ("DELETE", "/videos", {}, b"", 405),  # Chalice's own, rewritten by the middleware
        ("PUT", "/health", {}, b"", 405),
        ("POST", "/videos", {"content-type": "text/plain"}, b"x", 415),  # ours
        ("GET", "/videos", {"content-type": "text/plain"}, b"x", 415),  # Chalice's own
        ("POST", "/videos", JSON, b'{"a": "' + b"x" * (1024 * 1024) + b'"}', 413),
    ],
)
def test_every_error_response_quotes_its_request_id(
    local: Backend, method: str, path: str, headers: dict[str, str], raw: bytes, status: int
) -> None:
    resp = local.client.http.request(method, path, headers=headers, body=raw)
    assert resp.status_code == status, resp.body
    assert json.loads(resp.body)["error"]["code"]
    request_id(resp)


def test_a_conflict_quotes_its_request_id(local: Backend) -> None:
    vid = local.create()["id"]
    assert local.client.http.post(f"/videos/{vid}/process").status_code == 202
    resp = local.client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 409
    request_id(resp)


def test_ids_differ_per_request(local: Backend) -> None:
    ids = {request_id(local.get("/videos/AAAAAAAAAAAAAAAAAAAAAA")) for _ in range(3)}
    assert len(ids) == 3


def test_a_bug_is_a_500_logged_with_its_request_id(
    local: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("internal-detail-42")

    monkeypatch.setattr(local.store, "list", broken)
    resp = local.get("/videos")
    assert resp.status_code == 500
    assert_no_internals(resp, "internal-detail-42", "KeyError")
    assert "internal-detail-42" in logged_with(caplog, request_id(resp))


# --- AWS mode: a failing dependency shows no names, and the log has them with the id ----------
def test_a_missing_table_is_a_503_without_its_name(
    aws: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    vid = aws.create()["id"]
    missing = f"secret-table-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("VIDEO_TABLE", missing)
    install_container(orchestrator=aws.orchestrator)
    calls = [
        ("GET", "/videos", b""),
        ("GET", f"/videos/{vid}", b""),
        ("POST", f"/videos/{vid}/process", b""),
        ("POST", "/videos/process", json.dumps({"videoIds": [vid]}).encode()),
        ("POST", "/videos", json.dumps({"title": "t", "sourceUrl": aws.source()}).encode()),
    ]
    for method, path, raw in calls:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            resp = aws.client.http.request(method, path, headers=JSON, body=raw)
        assert resp.status_code == 503, (path, resp.body)
        assert json.loads(resp.body)["error"]["code"] == "DependencyUnavailable"
        assert_no_internals(resp, missing, aws.table, aws.bucket)
        assert "ResourceNotFoundException" in logged_with(caplog, request_id(resp))

    with caplog.at_level(logging.WARNING):
        health = aws.get("/health")
    assert health.status_code == 503
    assert json.loads(health.body)["status"] == "unhealthy"
    assert_no_internals(health, missing)
    assert "ResourceNotFoundException" in logged_with(caplog, request_id(health))


def test_an_unknown_state_machine_is_a_503_without_its_arn(
    aws: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VIDEO_STATE_MACHINE_ARN", SECRET_MACHINE)
    built = install_container()  # the real Step Functions adapter, on moto through the env
    vid = aws.create()["id"]
    with caplog.at_level(logging.WARNING):
        resp = aws.client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 503, resp.body
    assert json.loads(resp.body)["error"]["code"] == "OrchestratorUnavailable"
    assert_no_internals(resp, "secret-machine", "123456789012")
    logged = logged_with(caplog, request_id(resp))
    assert "secret-machine" in logged  # the operator sees which machine
    item = built.store.get(vid)
    assert item["status"] == "failed"
    assert "secret-machine" not in json.dumps(item)


def test_an_s3_failure_at_creation_is_logged_with_the_request_id(
    aws: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    from botocore.stub import Stubber

    stubber = Stubber(aws.container.s3_client())
    stubber.add_client_error(
        "head_object",
        service_error_code="AccessDenied",
        service_message=f"not authorized on arn:aws:s3:::{aws.bucket}/uploads/default/x",
        http_status_code=403,
    )
    with stubber, caplog.at_level(logging.WARNING):
        resp = aws.post(
            "/videos", {"title": "t", "sourceUrl": f"s3://{aws.bucket}/uploads/default/x"}
        )
    assert resp.status_code == 503
    assert_no_internals(resp, aws.bucket)
    assert f"arn:aws:s3:::{aws.bucket}" in logged_with(caplog, request_id(resp))


# --- a failed video's error is public too --------------------------------------------------
def test_a_processor_crash_shows_no_sdk_message_on_the_item(
    aws: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash's text (here an S3 AccessDenied naming the role and the bucket) goes to the
    processor's log; GET /videos/{id} says only that processing failed, and what kind."""
    from botocore.exceptions import ClientError

    import chalicelib.processing.one_pass

    secret = f"arn:aws:sts::123456789012:assumed-role/processor on {aws.bucket}"

    def crash(*_: Any, **__: Any) -> Any:
        error = {"Error": {"Code": "AccessDenied", "Message": secret}}
        raise ClientError(error, "GetObject")  # type: ignore[arg-type]

    import chalicelib.processing.segmented

    monkeypatch.setattr(chalicelib.processing.one_pass, "run_processing", crash)
    # a one-invocation run (the stand-in source is no real video to plan segments from)
    monkeypatch.setattr(
        chalicelib.processing.segmented,
        "prepare",
        lambda *a, **k: chalicelib.processing.segmented.Prepared(None),
    )
    vid = aws.create()["id"]
    assert aws.client.http.post(f"/videos/{vid}/process").status_code == 202
    assert aws.orchestrator is not None
    name = aws.orchestrator.started[-1][0]
    with pytest.raises(ClientError), caplog.at_level(logging.ERROR):
        aws.container.processor.handle({"videoId": vid, "executionId": name})
    resp = aws.get(f"/videos/{vid}")
    item = json.loads(resp.body)
    assert item["status"] == "failed"
    assert item["error"]["code"] == "ProcessorError"
    assert "ClientError" in item["error"]["message"]
    shown = json.dumps(item["error"])
    for internal in ("123456789012", "assumed-role", "arn:", "AccessDenied"):
        assert internal not in shown
    assert secret in caplog.text  # the operator still has it
