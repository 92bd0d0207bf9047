"""The finalizer: no video of an execution's batch outlives it in `queued` or `processing`.

The workflow calls it per item when processing that video failed, and once over the whole
batch when the execution ends (successfully or not). It only touches videos that are still
active *for this execution*: a video re-queued by a later execution is left alone.

The batch call also settles what the batch's capacity cost: the environment-seconds the
processor's capacity was up from the batch's scale-up (its lease's first acquire) until now
(the workflow scales down right after), every environment counted, starting, busy or idle.
Locally the pool's real environment lifetimes give it; in AWS it is the scaler's minimum
environments over that window (what Lambda MI keeps running), or the busy time if that is more.
It is apportioned over the batch's completed videos by media duration as `cost.capacitySeconds`,
and their dollars are recomputed from it (`environmentSeconds` stays the busy time).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain import ACTIVE, VideoStatus, is_video_id, utc_now
from chalicelib.errors import TransitionRejected, ValidationError
from chalicelib.orchestrator.base import execution_name_of
from chalicelib.store.base import Leases, Videos

POOL = "processor"  # the scaler's lease pool (tasks/scaler.py)
COMPLETED = VideoStatus.COMPLETED.value

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


def apportion(total: float, weights: Mapping[str, float]) -> dict[str, float]:
    """`total` split in proportion to `weights` (equal parts when they are all zero)."""
    whole = sum(max(0.0, w) for w in weights.values())
    if whole <= 0:
        return {k: total / len(weights) for k in weights} if weights else {}
    return {k: total * max(0.0, w) / whole for k, w in weights.items()}


def with_capacity(cost: Mapping[str, Any], capacity_seconds: float) -> dict[str, Any]:
    """A cost block charged with its share of the batch's capacity: the dollars follow it."""
    price = float(cost.get("pricePerEnvironmentHour") or 0)
    minutes = float(cost.get("mediaMinutes") or 0)
    usd = capacity_seconds / 3600 * price
    return {
        **cost,
        "capacitySeconds": round(capacity_seconds, 3),
        "capacitySecondsPerMinute": round(capacity_seconds / minutes, 3) if minutes else None,
        "costUsd": round(usd, 6),
        "costPerMinute": round(usd / minutes, 6) if minutes else None,
    }


class Finalizer:
    def __init__(
        self,
        store: Videos,
        leases: Leases | None = None,
        *,
        capacity_seconds: Callable[[float, float], float] | None = None,
        min_environments: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`capacity_seconds(since, until)`: measured environment-seconds (the local pool);
        without it, `min_environments` x the window (Lambda MI's kept capacity)."""
        self._store = store
        self._leases = leases
        self._capacity_seconds = capacity_seconds
        self._min_environments = min_environments
        self._clock = clock

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
        charged = None if single is not None else self._charge_capacity(execution_id, ids)
        return (
            {"failed": failed}
            if charged is None
            else {"failed": failed, "capacitySeconds": charged}
        )

    def _charge_capacity(self, execution_id: str, ids: list[Any]) -> float | None:
        """Apportion the batch's capacity over its completed videos (see the module doc)."""
        if self._leases is None:
            return None
        start = self._leases.lease_acquired_at(POOL, execution_id)
        if start is None:
            return None
        now = self._clock()
        if self._capacity_seconds is not None:
            measured = self._capacity_seconds(start, now)
        else:
            measured = self._min_environments * max(0.0, now - start)
        name = execution_name_of(execution_id)
        costs: dict[str, dict[str, Any]] = {}
        seconds: dict[str, float] = {}
        for video_id in dict.fromkeys(ids):
            if not isinstance(video_id, str) or not is_video_id(video_id):
                continue
            item = self._store.get(video_id)
            if (
                item is not None
                and item.get("status") == COMPLETED
                and item.get("executionName") == name
                and isinstance(item.get("cost"), dict)
            ):
                costs[video_id] = item["cost"]
                media = item.get("media") if isinstance(item.get("media"), dict) else {}
                duration = media.get("duration") if media else None
                seconds[video_id] = float(
                    duration or float(item["cost"].get("mediaMinutes") or 0) * 60
                )
        busy = sum(float(c.get("environmentSeconds") or 0) for c in costs.values())
        total = max(measured, busy)
        shares = apportion(total, seconds)
        for video_id, share in shares.items():
            self._store.update_fields(
                video_id, {"cost": with_capacity(costs[video_id], share)}, {COMPLETED}
            )
        return round(total, 3)
