"""The finalizer leaves no video of an ended execution queued or processing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain import new_video_id, utc_now
from chalicelib.errors import ValidationError
from chalicelib.store.sqlite import SqliteVideoStore
from chalicelib.tasks.finalizer import Finalizer, error_from_catch

EXEC = "arn:aws:states:us-east-1:1:execution:videos:exec-a"


@pytest.fixture
def store(tmp_path: Path) -> SqliteVideoStore:
    return SqliteVideoStore(tmp_path / "v.sqlite3")


def put(store: SqliteVideoStore, status: str, execution: str = "exec-a") -> str:
    vid = new_video_id()
    now = utc_now()
    store.create(
        {
            "id": vid,
            "title": "t",
            "status": status,
            "createdAt": now,
            "updatedAt": now,
            "sourceUrl": "s3://b/k",
            "description": "",
            "executionName": execution,
        }
    )
    return vid


def test_sweep_fails_only_active_videos_of_this_execution(store: SqliteVideoStore) -> None:
    queued, running, done = put(store, "queued"), put(store, "processing"), put(store, "completed")
    other = put(store, "queued", execution="exec-b")  # re-queued by a later execution
    error = {"Error": "States.Timeout", "Cause": "the execution timed out"}
    out = Finalizer(store).handle(
        {"executionId": EXEC, "videoIds": [queued, running, done, other], "error": error}
    )
    assert sorted(out["failed"]) == sorted([queued, running])
    for vid in (queued, running):
        item = store.get(vid)
        assert item is not None
        assert item["status"] == "failed"
        assert item["error"] == {"code": "States.Timeout", "message": "the execution timed out"}
    assert store.get(done)["status"] == "completed"  # type: ignore[index]
    assert store.get(other)["status"] == "queued"  # type: ignore[index]


def test_single_video_with_lambda_error_cause(store: SqliteVideoStore) -> None:
    vid = put(store, "processing")
    cause = json.dumps({"errorMessage": "ffmpeg died", "errorType": "RuntimeError"})
    Finalizer(store).handle(
        {
            "executionId": EXEC,
            "videoIds": [vid],
            "videoId": vid,
            "error": {"Error": "RuntimeError", "Cause": cause},
        }
    )
    assert store.get(vid)["error"] == {"code": "RuntimeError", "message": "ffmpeg died"}  # type: ignore[index]


def test_sweep_without_error_says_the_execution_ended(store: SqliteVideoStore) -> None:
    vid = put(store, "queued")
    Finalizer(store).handle({"executionId": EXEC, "videoIds": [vid]})
    assert store.get(vid)["error"]["code"] == "ExecutionEnded"  # type: ignore[index]


def test_garbage_ids_are_ignored(store: SqliteVideoStore) -> None:
    assert Finalizer(store).handle({"executionId": EXEC, "videoIds": ["../x", 5, None]}) == {
        "failed": []
    }


@pytest.mark.parametrize("event", [{}, {"executionId": ""}, {"executionId": EXEC, "videoIds": 3}])
def test_bad_events(store: SqliteVideoStore, event: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Finalizer(store).handle(event)


def test_error_from_catch_keeps_plain_causes() -> None:
    assert error_from_catch({"Error": "States.TaskFailed", "Cause": "boom"}) == {
        "code": "States.TaskFailed",
        "message": "boom",
    }
    assert error_from_catch({"Error": "X"}) == {"code": "X", "message": "X"}


def test_execution_status_change_event_sweeps_the_batch(store: SqliteVideoStore) -> None:
    """A state-machine timeout skips every Catch; EventBridge's event still cleans up."""
    vid = put(store, "processing")
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": EXEC,
            "status": "TIMED_OUT",
            "input": json.dumps({"videoIds": [vid]}),
            "cause": None,
        },
    }
    assert Finalizer(store).handle(event) == {"failed": [vid]}
    assert store.get(vid)["error"]["code"] == "Execution.TIMED_OUT"  # type: ignore[index]
