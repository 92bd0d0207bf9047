"""The segmented flow end to end on the local product: plan -> Map over segments on the local
pool -> assemble, and its failure paths (a dying environment, a corrupt source, a restart)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import install_container, with_token
from tests.e2e.test_local_workflow import (
    assert_capacity_released,
    clip,
    container,
    create,
    get,
    wait_done,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def seg_env(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VIDEO_WHISPER_MODEL", "off")  # speech merging has its own media test
    monkeypatch.setenv("VIDEO_SEGMENT_SECONDS", "4")
    monkeypatch.setenv("VIDEO_SCALE_MIN", "2")
    monkeypatch.setenv("VIDEO_SCALE_MAX", "2")
    yield local_env


@pytest.fixture
def client(seg_env: Path) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as c:
        yield with_token(c)


def scratch_left(data_dir: Path) -> list[str]:
    root = data_dir / "work" / "scratch"
    if not root.is_dir():
        return []
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


def process(client: Any, vid: str) -> dict[str, Any]:
    resp = client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 202, resp.body
    return wait_done(client, json.loads(resp.body)["executionArn"], timeout=300)


def test_a_long_video_is_encoded_in_segments_and_assembled(client: Any, seg_env: Path) -> None:
    vid = create(client, clip(seg_env / "inbox" / "long.mp4", seconds=14, size="320x180"))
    ex = process(client, vid)
    item = get(client, f"/videos/{vid}")
    assert ex["status"] == "SUCCEEDED", ex
    assert item["status"] == "completed", item.get("error")
    assert item["progress"] == 100
    segs = item["segments"]
    assert segs["count"] == 4 and [s["start"] for s in segs["items"]] == [0.0, 4.0, 8.0, 12.0]
    assert all(s["encodeMs"] > 0 for s in segs["items"])
    fmt = item["transcoding"]["formats"][0]
    assert fmt["height"] == 180
    master = client.http.get(item["transcoding"]["hls"]["masterUrl"], headers={"accept": "*/*"})
    assert 'TYPE=AUDIO,GROUP-ID="audio"' in master.body.decode()
    media = container().media_store().resolve(vid, item["runId"], "video_180p.mp4")
    assert media is not None
    with av.open(str(media)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 14 * 25  # every frame once
    assert item["analysis"]["scenes"] and item["thumbnail"]["url"]
    assert item["storyboard"]["count"] == 14
    assert scratch_left(seg_env) == []
    assert container().pool.max_in_flight <= 2  # never more than the capacity asked for
    assert_capacity_released()


def test_a_short_video_takes_the_one_invocation_path(client: Any, seg_env: Path) -> None:
    vid = create(client, clip(seg_env / "inbox" / "short.mp4", seconds=2))
    assert process(client, vid)["status"] == "SUCCEEDED"
    item = get(client, f"/videos/{vid}")
    assert item["status"] == "completed" and "segments" not in item
    assert (
        "EXT-X-MEDIA"
        not in client.http.get(
            item["transcoding"]["hls"]["masterUrl"], headers={"accept": "*/*"}
        ).body.decode()
    )


def test_a_worker_killed_mid_segment_is_retried_on_another_environment(
    client: Any, seg_env: Path
) -> None:
    from chalicelib.capacity.local_pool import LocalCapacityPool
    from tests.e2e.workers import dying_worker

    install_container(pool=LocalCapacityPool(dying_worker, (container().settings,), threads=1))
    vid = create(client, clip(seg_env / "inbox" / "kill.mp4", seconds=14, size="320x180"))
    ex = process(client, vid)
    item = get(client, f"/videos/{vid}")
    assert (seg_env / "killed-once").exists()  # an environment did die mid-segment
    assert ex["status"] == "SUCCEEDED", ex
    assert item["status"] == "completed", item.get("error")
    assert item["segments"]["count"] == 4
    assert scratch_left(seg_env) == []
    assert_capacity_released()


def test_a_source_damaged_in_its_middle_is_concealed_as_on_the_one_pass_path(
    client: Any, seg_env: Path
) -> None:
    source = clip(seg_env / "inbox" / "bad.mp4", seconds=14, size="320x180")
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 40_000] = bytes((i * 7) % 256 for i in range(40_000))
    source.write_bytes(bytes(data))
    vid = create(client, source)
    ex = process(client, vid)
    item = get(client, f"/videos/{vid}")
    assert ex["status"] == "SUCCEEDED", ex
    assert item["status"] == "completed", item.get("error")  # the decoder conceals the damage
    assert item["segments"]["count"] == 4
    assert abs(item["media"]["duration"] - 14) < 0.2
    assert scratch_left(seg_env) == []
    assert_capacity_released()


def test_a_restart_mid_video_fails_it_as_interrupted_and_leaves_no_scratch(
    client: Any, seg_env: Path
) -> None:
    from chalicelib.factory import reset_container
    from devserver.startup import recover

    vid = create(client, clip(seg_env / "inbox" / "restart.mp4", seconds=30, size="640x360"))
    resp = client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 202
    deadline = time.monotonic() + 120
    while not scratch_left(seg_env):  # the plan is written: segments are under way
        assert time.monotonic() < deadline, "no segment work started"
        time.sleep(0.05)
    reset_container()  # the server stops mid-video ...
    assert recover(container().store, container().settings) == 1  # ... and starts again
    item = container().store.get(vid)
    assert item is not None and item["status"] == "failed"
    assert item["error"]["code"] == "Interrupted"
    assert scratch_left(seg_env) == []
    assert container().pool.snapshot()["environments"] == 0
