"""The committed definition running on the local engine (moto), with plain Python functions."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.orchestrator.engine import FunctionError, LocalWorkflowEngine
from tests.workflow.workflow_fakes import FakeFunctions

TIMEOUT = 20.0


def run(engine: LocalWorkflowEngine, payload: dict[str, Any]) -> dict[str, Any]:
    result = engine.wait(engine.start(payload), TIMEOUT)
    assert result["status"] != "RUNNING", "execution did not finish in time"
    return result


def output(result: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result["output"])
    return parsed


def test_a_batch_succeeds(fakes: FakeFunctions, make_engine: Callable[..., Any]) -> None:
    engine = make_engine(fakes)
    result = run(engine, fakes.batch("v1", "v2", "v3"))

    assert result["status"] == "SUCCEEDED"
    assert fakes.videos == {"v1": "completed", "v2": "completed", "v3": "completed"}
    actions = [event["action"] for event in fakes.calls_to("scaler")]
    assert actions == ["acquire", "status", "release"]
    execution_ids = {event["executionId"] for _, event in fakes.calls}
    assert execution_ids == {result["executionArn"]}
    assert sorted(r["videoId"] for r in output(result)["results"]) == ["v1", "v2", "v3"]
    (sweep,) = fakes.calls_to("finalizer")
    assert sweep["videoIds"] == ["v1", "v2", "v3"] and "videoId" not in sweep
    assert output(result)["release"] == {"leases": 0, "scaledToZero": True}


def test_one_bad_video_fails_alone(fakes: FakeFunctions, make_engine: Callable[..., Any]) -> None:
    fakes.processor_failures["bad"] = FunctionError("VideoCorrupt", "moov atom not found")
    engine = make_engine(fakes)
    result = run(engine, fakes.batch("v1", "bad", "v3"))

    assert result["status"] == "SUCCEEDED"
    assert fakes.videos == {"v1": "completed", "bad": "failed", "v3": "completed"}
    per_item = [event for event in fakes.calls_to("finalizer") if "videoId" in event]
    assert [event["videoIds"] for event in per_item] == [["bad"]]
    assert per_item[0]["error"]["Error"] == "VideoCorrupt"
    assert "moov atom not found" in per_item[0]["error"]["Cause"]
    assert fakes.reasons["bad"]["Error"] == "VideoCorrupt"
    failed_items = [r for r in output(result)["results"] if r["status"] == "failed"]
    assert failed_items == [{"videoId": "bad", "status": "failed", "error": "VideoCorrupt"}]
    assert [event["action"] for event in fakes.calls_to("scaler")][-1] == "release"


def test_a_plain_exception_fails_the_task_with_its_class_name(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.processor_failures["bad"] = ValueError("no video stream")
    run(make_engine(fakes), fakes.batch("bad"))
    assert fakes.reasons["bad"]["Error"] == "ValueError"


def test_acquire_failure_sweeps_releases_then_fails(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.scaler_failures["acquire"] = lambda: RuntimeError("PutFunctionScalingConfig denied")
    result = run(make_engine(fakes), fakes.batch("v1", "v2"))

    assert result["status"] == "FAILED"
    assert result["error"] == "BatchFailed"
    assert fakes.calls_to("processor") == []
    assert [event["action"] for event in fakes.calls_to("scaler")] == ["acquire", "release"]
    (sweep,) = fakes.calls_to("finalizer")
    assert sweep["error"]["Error"] == "RuntimeError"
    assert fakes.videos == {"v1": "failed", "v2": "failed"}
    assert "denied" in fakes.reasons["v1"]["Cause"]


def test_a_failing_release_fails_the_execution_loudly(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.scaler_failures["release"] = lambda: RuntimeError("scaling API unavailable")
    result = run(make_engine(fakes), fakes.batch("v1"))

    assert result["status"] == "FAILED"
    assert result["error"] == "CapacityReleaseFailed"
    releases = [e for e in fakes.calls_to("scaler") if e["action"] == "release"]
    assert len(releases) == 4  # the first try and the three retries of States.ALL
    assert fakes.videos == {"v1": "completed"}


def test_release_failing_on_the_failure_path_still_fails_loudly(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.scaler_failures["acquire"] = lambda: RuntimeError("no")
    fakes.scaler_failures["release"] = lambda: RuntimeError("also no")
    result = run(make_engine(fakes), fakes.batch("v1"))
    assert result["error"] == "CapacityReleaseFailed"
    assert fakes.videos == {"v1": "failed"}


def test_throttling_is_retried_until_capacity_serves(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.throttles.update({"v1": 3, "v2": 1})
    result = run(make_engine(fakes), fakes.batch("v1", "v2"))

    assert result["status"] == "SUCCEEDED"
    assert fakes.videos == {"v1": "completed", "v2": "completed"}
    attempts = [event["videoId"] for event in fakes.calls_to("processor")]
    assert attempts.count("v1") == 4 and attempts.count("v2") == 2


def test_throttled_invocations_are_retried_never_failed(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    # Nested Maps (videos x segments) may ask for more invocations than the capacity serves:
    # a throttle means "wait your turn", so it is retried far beyond the other Lambda errors.
    fakes.throttles.update({"v1": 40})
    result = run(make_engine(fakes), fakes.batch("v1", "v2"))

    assert result["status"] == "SUCCEEDED"
    assert fakes.videos == {"v1": "completed", "v2": "completed"}
    assert [e["videoId"] for e in fakes.calls_to("processor")].count("v1") == 41


def test_status_is_polled_until_ready(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.ready_after = 3
    started = time.monotonic()
    # The definition waits 5 s between polls; the engine's wait_seconds=0 makes that instant.
    result = run(make_engine(fakes), fakes.batch("v1"))

    assert result["status"] == "SUCCEEDED"
    polls = [e["attempt"] for e in fakes.calls_to("scaler") if e["action"] == "status"]
    assert polls == [0, 1, 2, 3]
    assert time.monotonic() - started < 5


def test_transient_scaler_errors_are_retried(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.scaler_transient.update({"acquire": 2, "status": 1, "release": 1})
    result = run(make_engine(fakes), fakes.batch("v1"))
    assert result["status"] == "SUCCEEDED"
    actions = [event["action"] for event in fakes.calls_to("scaler")]
    assert actions == ["acquire"] * 3 + ["status"] * 2 + ["release"] * 2


def test_exhausted_polls_release_and_fail(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.ready_after = 1000
    fakes.exhausted_after = 3
    result = run(make_engine(fakes), fakes.batch("v1", "v2"))

    assert result["status"] == "FAILED"
    assert result["error"] == "CapacityUnavailable"
    assert fakes.calls_to("processor") == []
    actions = [event["action"] for event in fakes.calls_to("scaler")]
    assert actions == ["acquire", "status", "status", "status", "release"]
    assert fakes.videos == {"v1": "failed", "v2": "failed"}
    assert fakes.reasons["v1"]["Error"] == "Capacity.NotReady"


def test_describe_reports_the_current_state_while_running(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    gate = threading.Event()
    entered = threading.Event()
    processor = fakes.processor

    def slow_processor(event: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        gate.wait(TIMEOUT)
        return processor(event)

    fakes.processor = slow_processor  # type: ignore[method-assign]
    engine = make_engine(fakes)
    arn = engine.start(fakes.batch("v1"), name="named-run")
    try:
        assert entered.wait(TIMEOUT)
        running = engine.describe(arn)
        assert running["status"] == "RUNNING"
        assert running["currentState"] == "ProcessVideo"
        assert arn.endswith(":named-run")
        assert engine.wait(arn, 0.05)["status"] == "RUNNING"  # a timed-out wait says so
    finally:
        gate.set()
    finished = engine.wait(arn, TIMEOUT)
    assert finished["status"] == "SUCCEEDED"
    assert "currentState" not in finished
    assert finished["stopDate"] >= finished["startDate"]


def test_two_engines_keep_their_own_functions(make_engine: Callable[..., Any]) -> None:
    first, second = FakeFunctions(), FakeFunctions()
    second.processor_failures["v1"] = FunctionError("Broken", "second engine")
    engine_a, engine_b = make_engine(first), make_engine(second)
    arn_a = engine_a.start(first.batch("v1"))
    arn_b = engine_b.start(second.batch("v1"))
    assert engine_a.wait(arn_a, TIMEOUT)["status"] == "SUCCEEDED"
    assert engine_b.wait(arn_b, TIMEOUT)["status"] == "SUCCEEDED"
    assert first.videos == {"v1": "completed"}
    assert second.videos == {"v1": "failed"}


def test_a_closed_engine_refuses_work(fakes: FakeFunctions, definition_text: str) -> None:
    engine = LocalWorkflowEngine(definition_text, fakes.invokers())
    engine.close()
    engine.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        engine.start(fakes.batch("v1"))


def test_closing_stops_running_executions(fakes: FakeFunctions, definition_text: str) -> None:
    gate = threading.Event()
    entered = threading.Event()

    def stuck_processor(event: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        gate.wait(TIMEOUT)
        return {"videoId": event["videoId"], "status": "completed"}

    fakes.processor = stuck_processor  # type: ignore[method-assign]
    engine = LocalWorkflowEngine(definition_text, fakes.invokers(), retry_scale=0.0)
    arn = engine.start(fakes.batch("v1"))
    assert entered.wait(TIMEOUT)
    assert engine.describe(arn)["status"] == "RUNNING"
    started = time.monotonic()
    engine.close()  # must not wait for the stuck function
    gate.set()
    assert time.monotonic() - started < 5
    with pytest.raises(RuntimeError, match="closed"):
        engine.describe(arn)


def test_unknown_invoker_names_are_rejected(definition_text: str) -> None:
    with pytest.raises(ValueError, match="unknown invoker"):
        LocalWorkflowEngine(definition_text, {"transcoder": lambda event: event})


# --- living next to real boto3 clients -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moto server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_a_dynamodb_client_on_a_moto_server_is_not_intercepted(
    fakes: FakeFunctions, make_engine: Callable[..., Any], moto_server: str
) -> None:
    import boto3

    engine = make_engine(fakes)  # mock_aws is active from here on
    client = boto3.client(
        "dynamodb",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_table(
        TableName="passthrough",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="passthrough", Item={"id": {"S": "v1"}})
    assert run(engine, fakes.batch("v1"))["status"] == "SUCCEEDED"

    # The table lives in the server process, not in the in-process mock.
    from moto.dynamodb.models import dynamodb_backends

    assert "passthrough" not in dynamodb_backends["123456789012"]["us-east-1"].tables
    engine.close()
    reopened = boto3.client(
        "dynamodb",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    assert reopened.get_item(TableName="passthrough", Key={"id": {"S": "v1"}})["Item"]


# --- segmented videos: plan -> Map over segments -> assemble ---------------------------------


def test_a_long_video_is_planned_mapped_and_assembled(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.segmented["long"] = 12
    result = run(make_engine(fakes), fakes.batch("long", "short"))

    assert result["status"] == "SUCCEEDED"
    assert fakes.videos == {"long": "completed", "short": "completed"}
    calls = fakes.calls_to("processor")
    jobs = sorted(e["job"] for e in calls if e.get("action") == "segment")
    assert jobs == list(range(-1, 12))  # the audio and every segment, once each
    assert [e["videoId"] for e in calls if e.get("action") == "assemble"] == ["long"]
    assert {e["runId"] for e in calls if "runId" in e} == {"run-1"}
    # Never more invocations at once than the Map's concurrency (the capacity asked for).
    assert 1 < fakes.max_in_flight <= 5 * 2  # outer x inner Map; the capacity throttles beyond
    assert fakes.segment_max_in_flight["long"] <= fakes.concurrency

    assert sorted(output(result)["results"], key=lambda r: r["videoId"]) == [
        {"videoId": "long", "status": "completed"},
        {"videoId": "short", "status": "completed"},
    ]
    assert output(result)["release"]["scaledToZero"] is True


def test_a_videos_jobs_start_in_the_plans_order_within_its_concurrency(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    """The Map's MaxConcurrencyPath is the plan's `concurrency` (the environments the capacity
    scales to): the jobs start in the plan's order, the first segment first, and never more
    at once than that — not all at once, throttled items retrying in no set order."""
    fakes.segmented["long"] = 8
    fakes.concurrency = 2
    result = run(make_engine(fakes), fakes.batch("long"))

    assert result["status"] == "SUCCEEDED"
    assert fakes.segment_max_in_flight["long"] == 2
    started = [job for _, job in fakes.started_jobs]
    assert set(started[:2]) == {0, -1}  # the first segment and the audio: the playable prefix
    assert sorted(started) == list(range(-1, 8))
    # handed out in order: two items whose slots free together may start in either order
    assert all(abs(started.index(job) - i) <= 1 for i, job in enumerate([0, -1, *range(1, 8)]))


def test_a_failing_segment_is_retried_then_the_video_fails_naming_it(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    fakes.segmented["long"] = 6
    fakes.failing_job["long"] = 3
    result = run(make_engine(fakes), fakes.batch("long", "other"))

    assert result["status"] == "SUCCEEDED"  # the batch goes on
    assert fakes.videos == {"long": "failed", "other": "completed"}
    calls = fakes.calls_to("processor")
    assert [e["job"] for e in calls if e.get("job") == 3] == [3, 3, 3]  # 1 + 2 retries
    assert not [e for e in calls if e.get("action") == "assemble"]  # nothing published
    (discard,) = [e for e in calls if e.get("action") == "discard"]
    assert discard["runId"] == "run-1" and discard["error"]["Error"] == "SegmentFailed"
    # The finalizer records the discard's error (which names the segment), not a generic one.
    assert fakes.reasons["long"]["Error"] == "SegmentFailed"
    assert "segment 4: damaged" in fakes.reasons["long"]["Cause"]
    assert fakes.reasons["long"]["Cause"].startswith("discarded:")
    assert output(result)["release"]["scaledToZero"] is True


@pytest.mark.slow
def test_state_stays_small_for_a_3_hour_video(
    fakes: FakeFunctions, make_engine: Callable[..., Any]
) -> None:
    """180 segments of 60 s: the plan stays in scratch, the state holds job numbers only."""
    fakes.segmented.update({"a": 180, "b": 180})
    engine = make_engine(fakes)
    arn = engine.start(fakes.batch("a", "b"))
    result = engine.wait(arn, 120)
    assert result["status"] == "SUCCEEDED", result
    sizes = []
    for event in engine.history(arn):
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                for field in ("input", "output"):
                    if isinstance(details.get(field), str):
                        sizes.append(len(details[field].encode()))
    # The largest state of one video is about 1 KB of job numbers plus its ids; 100 videos'
    # results in the batch's output stay far below Step Functions' 256 KB.
    assert max(sizes) < 4096
    assert len(result["output"].encode()) < 2048
