"""A batch's capacity time (scale-up to scale-down, every environment) apportioned over its
completed videos by media duration, on both backends: the lease's first acquire is the
scale-up, the finalizer's batch sweep (just before the scale-down) charges it."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.media.cost import cost_block
from chalicelib.store.base import VideoStore
from chalicelib.tasks.finalizer import POOL, Finalizer
from tests.store.conftest import make

EXEC = "arn:aws:states:us-east-1:1:execution:videos:exec-a"
PRICE = 0.0938


def completed(
    store: VideoStore, media_seconds: float, busy: float, execution: str = "exec-a"
) -> str:
    item = make("processing", executionName=execution)
    store.create(item)
    cost = cost_block(busy, busy, media_seconds, PRICE)
    store.transition(item["id"], {"processing"}, "completed", {"cost": cost})
    return str(item["id"])


def cost_of(store: VideoStore, video_id: str) -> dict[str, Any]:
    item = store.get(video_id)
    assert item is not None
    return dict(item["cost"])


def test_local_capacity_is_apportioned_by_media_duration(store: VideoStore) -> None:
    short, long = completed(store, 30, busy=15), completed(store, 90, busy=40)
    failed = make("failed", executionName="exec-a")
    store.create(failed)
    other = completed(store, 60, busy=30, execution="exec-b")  # another batch's video
    store.acquire_lease(POOL, EXEC, expires_at=10_000, now=1000)
    windows: list[tuple[float, float]] = []

    def measured(since: float, until: float) -> float:
        windows.append((since, until))
        return 200.0  # two environments for 100 s, say

    finalizer = Finalizer(store, store, capacity_seconds=measured, clock=lambda: 1100.0)
    out = finalizer.handle({"executionId": EXEC, "videoIds": [short, long, failed["id"], other]})
    assert windows == [(1000.0, 1100.0)]  # from the batch's scale-up until now
    assert out["capacitySeconds"] == 200.0
    a, b = cost_of(store, short), cost_of(store, long)
    assert (a["capacitySeconds"], b["capacitySeconds"]) == (50.0, 150.0)  # 30 : 90 media seconds
    assert (a["environmentSeconds"], b["environmentSeconds"]) == (15.0, 40.0)  # busy time stays
    assert a["costUsd"] == pytest.approx(50 / 3600 * PRICE, abs=1e-6)
    assert b["costPerMinute"] == pytest.approx(100 / 3600 * PRICE, abs=1e-6)  # 1.5 minutes
    assert cost_of(store, other)["capacitySeconds"] is None  # untouched
    assert store.get(failed["id"])["status"] == "failed"  # type: ignore[index]


def test_aws_capacity_is_the_kept_minimum_over_the_window_or_the_busy_time(
    store: VideoStore,
) -> None:
    """Without measured lifetimes (AWS), the scaler's minimum environments over the window;
    never less than the busy time (environments beyond the minimum were busy)."""
    one = completed(store, 30, busy=20)
    store.acquire_lease(POOL, EXEC, expires_at=10_000, now=1000)
    Finalizer(store, store, min_environments=2, clock=lambda: 1030.0).handle(
        {"executionId": EXEC, "videoIds": [one]}
    )
    assert cost_of(store, one)["capacitySeconds"] == 60.0

    busy = completed(store, 30, busy=500, execution="exec-b")
    exec_b = EXEC.replace("exec-a", "exec-b")
    store.acquire_lease(POOL, exec_b, expires_at=10_000, now=1000)
    Finalizer(store, store, min_environments=2, clock=lambda: 1030.0).handle(
        {"executionId": exec_b, "videoIds": [busy]}
    )
    assert cost_of(store, busy)["capacitySeconds"] == 500.0


def test_no_lease_no_charge_and_single_video_calls_charge_nothing(store: VideoStore) -> None:
    one = completed(store, 30, busy=20)
    finalizer = Finalizer(store, store, min_environments=2, clock=lambda: 1030.0)
    assert finalizer.handle({"executionId": EXEC, "videoIds": [one]}) == {"failed": []}
    store.acquire_lease(POOL, EXEC, expires_at=10_000, now=1000)
    out = finalizer.handle({"executionId": EXEC, "videoId": one, "videoIds": [one]})
    assert "capacitySeconds" not in out  # a per-item failure call, not the batch's end
    assert cost_of(store, one)["capacitySeconds"] is None
