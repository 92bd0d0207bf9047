"""The finalizer: no video of an execution's batch outlives it in `queued` or `processing`.

The workflow calls it per item when processing that video failed, and once over the whole
batch when the execution ends (successfully or not). It only touches videos that are still
active *for this execution*: a video re-queued by a later execution is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib.domain import ACTIVE, VideoStatus, is_video_id, utc_now
from chalicelib.errors import TransitionRejected, ValidationError
from chalicelib.orchestrator.base import execution_name_of
from chalicelib.store.base import Videos

_MAX_MESSAGE = 2000


def error_from_catch(error: Mapping[str, Any] | None) -> dict[str, str]:
    """Turn a Step Functions Catch result ({Error, Cause}) into the video's error field."""
    if not error:
        return {
            "code": "ExecutionEnded",
            "message": "the processing execution ended before this video finished",
        }
    code = str(error.get("Error") or "ProcessingFailed")
    cause = error.get("Cause") or ""
    message = str(cause)
    try:  # Lambda function errors carry a JSON cause with the real message.
        parsed = json.loads(message)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            message = str(parsed["errorMessage"])
            code = str(parsed.get("errorType") or code)
    except ValueError:
        pass
    return {"code": code, "message": (message or code)[:_MAX_MESSAGE]}


STATUS_CHANGE = "Step Functions Execution Status Change"


def from_status_change(event: Mapping[str, Any]) -> dict[str, Any]:
    """An EventBridge status-change event (TIMED_OUT, ABORTED, FAILED) as a sweep request.

    A state-machine timeout or a manual stop skips every Catch, so the workflow's own sweep
    never runs; this event is the safety net that still leaves no video active.
    """
    detail = event.get("detail") or {}
    try:
        ids = json.loads(detail.get("input") or "{}").get("videoIds", [])
    except (ValueError, AttributeError):
        ids = []
    status = str(detail.get("status") or "ENDED")
    return {
        "executionId": detail.get("executionArn"),
        "videoIds": ids if isinstance(ids, list) else [],
        "error": {
            "Error": f"Execution.{status}",
            "Cause": detail.get("cause") or f"the processing execution ended as {status}",
        },
    }


class Finalizer:
    def __init__(self, store: Videos) -> None:
        self._store = store

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if event.get("detail-type") == STATUS_CHANGE:
            event = from_status_change(event)
        execution_id = event.get("executionId")
        if not isinstance(execution_id, str) or not execution_id:
            raise ValidationError("executionId is required")
        single = event.get("videoId")
        ids = [single] if single is not None else event.get("videoIds") or []
        if not isinstance(ids, list):
            raise ValidationError("videoIds must be a list")
        error = error_from_catch(event.get("error"))
        failed = []
        for video_id in ids:
            if not isinstance(video_id, str) or not is_video_id(video_id):
                continue
            try:
                self._store.transition(
                    video_id,
                    ACTIVE,
                    VideoStatus.FAILED.value,
                    set_fields={"error": error, "failedAt": utc_now()},
                    remove_fields=("progress", "playback"),
                    only_if={"executionName": execution_name_of(execution_id)},
                )
            except TransitionRejected:
                continue
            failed.append(video_id)
        return {"failed": failed}
