"""Cost per video and per workspace: environment-seconds, CPU seconds, dollars per minute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.usage import usage
from chalicelib.media.cost import CostMeter, cost_block


def test_cost_block_turns_environment_time_into_dollars_per_media_minute() -> None:
    block = cost_block(90.0, 120.5, 30.0, 0.0938, {"transcode": 80.0})
    assert block["environmentSeconds"] == 90.0 and block["cpuSeconds"] == 120.5
    assert block["mediaMinutes"] == 0.5 and block["environmentSecondsPerMinute"] == 180.0
    assert block["costUsd"] == pytest.approx(90 / 3600 * 0.0938, abs=1e-6)
    assert block["costPerMinute"] == pytest.approx(2 * 90 / 3600 * 0.0938, abs=1e-6)
    assert cost_block(1.0, None, 0.0, 0.1)["costPerMinute"] is None  # no media: no per-minute


def test_the_meter_counts_this_process_and_its_children() -> None:
    import subprocess
    import sys

    meter = CostMeter(0.0938)
    # the child spins until it has used 0.2 s of CPU itself, however fast the machine
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)
    block = meter.block(60.0, {"transcode": {"ms": 1500}})
    assert block["cpuSeconds"] >= 0.2  # the child's CPU counted once it ended
    assert block["environmentSeconds"] > 0 and block["stageSeconds"] == {"transcode": 1.5}


def test_usage_sums_what_carries_a_cost() -> None:
    items: list[dict[str, Any]] = [
        {"cost": cost_block(60, 90, 60, 0.1)},
        {"cost": cost_block(30, 40, 120, 0.1)},
        {"status": "completed"},  # processed before costs were recorded
    ]
    total = usage(items, 0.1)
    assert (total["videos"], total["mediaMinutes"], total["environmentSeconds"]) == (2, 3.0, 90.0)
    assert total["costPerMinute"] == pytest.approx(90 / 3600 * 0.1 / 3, abs=1e-6)


def _completed(store: Any, workspace: str, at: str, env: float) -> None:
    from chalicelib.domain import new_video_id

    vid = new_video_id()
    store.create({"id": vid, "title": "t", "description": "", "sourceUrl": "s3://b/k",
                  "status": "processing", "createdAt": at, "updatedAt": at,
                  "workspace": workspace})  # fmt: skip
    store.transition(vid, {"processing"}, "completed",
                     {"completedAt": at, "cost": cost_block(env, env, 60, 0.0938)})  # fmt: skip


def test_usage_route_sums_the_workspace_over_a_period(client: Any, local_env: Path) -> None:
    from chalicelib.factory import container

    store = container().store
    _completed(store, "default", "2026-10-15T00:00:00.000000Z", 100)
    _completed(store, "default", "2026-11-02T00:00:00.000000Z", 50)
    _completed(store, "acme", "2026-11-03T00:00:00.000000Z", 999)  # another workspace
    body = json.loads(client.http.get("/usage?from=2026-11-01T00:00:00Z").body)
    assert (body["videos"], body["environmentSeconds"], body["mediaMinutes"]) == (1, 50.0, 1.0)
    everything = json.loads(client.http.get("/usage").body)
    assert everything["videos"] == 2 and everything["environmentSeconds"] == 150.0
    assert client.http.get("/usage?from=yesterday").status_code == 400
    assert client.http.get("/usage?since=2026").status_code == 400


def test_usage_bills_the_capacity_share_once_the_batch_ended() -> None:
    from chalicelib.tasks.finalizer import with_capacity

    charged = with_capacity(cost_block(60, 90, 60, 0.1), 150.0)  # its batch's share
    pending = cost_block(30, 40, 120, 0.1)  # batch still running: its busy time
    total = usage([{"cost": charged}, {"cost": pending}], 0.1)
    assert (total["environmentSeconds"], total["capacitySeconds"]) == (90.0, 180.0)
    assert total["costUsd"] == pytest.approx((150 + 30) / 3600 * 0.1, abs=1e-6)
    assert charged["capacitySecondsPerMinute"] == 150.0
