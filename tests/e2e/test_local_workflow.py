"""The local product end to end: API -> committed ASL on the in-process engine -> scaler ->
local capacity pool -> processor (real ffmpeg) -> store, and back to zero capacity."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chalicelib.tasks.scaler import POOL
from tests.conftest import install_container, with_token
from videocli.clips import make_clip

pytestmark = pytest.mark.slow
JSON = {"content-type": "application/json"}


@pytest.fixture
def app_env(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VIDEO_WHISPER_MODEL", "off")  # speech has its own tests in tests/media
    yield local_env


@pytest.fixture
def client(app_env: Path) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as c:
        yield with_token(c)


def container() -> Any:
    from chalicelib.factory import container as c

    return c()


def clip(path: Path, seconds: float = 2, size: str = "320x180", audio: bool = True) -> Path:
    return make_clip(path, seconds, size, audio=audio)


def create(client: Any, source: Path, title: str = "clip") -> str:
    resp = client.http.post(
        "/videos", headers=JSON, body=json.dumps({"title": title, "sourceUrl": f"file://{source}"})
    )
    assert resp.status_code == 201, resp.body
    return str(json.loads(resp.body)["id"])


def get(client: Any, path: str) -> Any:
    return json.loads(client.http.get(path).body)


def wait_done(client: Any, execution_arn: str, timeout: float = 180) -> dict[str, Any]:
    name = execution_arn.rsplit(":", 1)[-1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ex = get(client, f"/executions/{name}")
        if ex["status"] != "RUNNING":
            return dict(ex)
        time.sleep(0.2)
    raise AssertionError(f"execution {name} still running after {timeout} s")


def assert_capacity_released() -> None:
    pool = container().pool
    snap = pool.snapshot()
    assert snap["requested"] == {"min": 0, "max": 0}
    deadline = time.monotonic() + 10
    while pool.snapshot()["environments"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pool.snapshot()["environments"] == 0
    assert container().store.live_leases(POOL, time.time()) == 0


def media_file(client: Any, url: str, data_dir: Path) -> Path:
    """The file a signed media URL serves: the view checks the signature and hands the file
    off by name (`X-Media-Handoff`) to the streaming server, never reading it."""
    resp = client.http.get(url, headers={"accept": "*/*"})
    assert resp.status_code == 200 and resp.body == b""
    video_id, run_id, name = resp.headers["X-Media-Handoff"].split("/")
    return data_dir / "media" / "videos" / video_id / run_id / name


def test_video_is_processed_and_capacity_returns_to_zero(client: Any, app_env: Path) -> None:
    vid = create(client, clip(app_env / "inbox" / "demo.mp4", seconds=3, size="640x360"))
    resp = client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 202
    seen = set()
    arn = json.loads(resp.body)["executionArn"]
    name = arn.rsplit(":", 1)[-1]
    while get(client, f"/executions/{name}")["status"] == "RUNNING":
        seen.add(get(client, f"/videos/{vid}")["status"])
        time.sleep(0.05)
    ex = wait_done(client, arn)
    item = get(client, f"/videos/{vid}")
    assert ex["status"] == "SUCCEEDED", ex
    assert item["status"] == "completed", item.get("error")
    assert seen <= {"queued", "processing", "completed"}
    assert "processing" in seen
    assert item["progress"] == 100
    assert item["media"]["height"] == 360
    assert [f["height"] for f in item["transcoding"]["formats"]] == [360]  # never upscaled
    assert item["subtitles"]["status"] == "skipped"
    # the batch's capacity (every environment, scale-up to scale-down) charged to its one video
    cost = item["cost"]
    assert cost["capacitySeconds"] >= cost["environmentSeconds"] > 0
    assert cost["costUsd"] == pytest.approx(
        cost["capacitySeconds"] / 3600 * cost["pricePerEnvironmentHour"], abs=1e-6
    )
    poster = media_file(client, item["thumbnail"]["url"], app_env)
    assert poster.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    master = client.http.get(item["transcoding"]["hls"]["masterUrl"])
    assert master.body.decode().startswith("#EXTM3U")
    variant_name = master.body.decode().splitlines()[-1]
    variant = client.http.get(f"/videos/{vid}/stream/{variant_name}").body.decode()
    segment = next(line for line in variant.splitlines() if ".ts?exp=" in line)
    assert media_file(client, segment, app_env).stat().st_size > 0
    assert_capacity_released()
    capacity = get(client, "/capacity")
    assert (capacity["environments"], capacity["leases"]) == (0, 0)


def test_reprocessing_replaces_outputs(client: Any, app_env: Path) -> None:
    vid = create(client, clip(app_env / "inbox" / "a.mp4"))
    runs = []
    for _ in range(2):
        ex = wait_done(
            client, json.loads(client.http.post(f"/videos/{vid}/process").body)["executionArn"]
        )
        assert ex["status"] == "SUCCEEDED"
        runs.append(get(client, f"/videos/{vid}")["runId"])
    assert runs[0] != runs[1]
    video_dir = app_env / "media" / "videos" / vid
    assert sorted(p.name for p in video_dir.iterdir()) == [runs[1]]  # the old run is gone


def test_corrupt_video_fails_with_a_reason(client: Any, app_env: Path) -> None:
    bad = app_env / "inbox" / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    vid = create(client, bad)
    ex = wait_done(
        client, json.loads(client.http.post(f"/videos/{vid}/process").body)["executionArn"]
    )
    item = get(client, f"/videos/{vid}")
    assert ex["status"] == "SUCCEEDED"  # one bad video is the video's failure, not the batch's
    assert item["status"] == "failed"
    assert item["error"]["code"] in {"NotAVideo", "Unreadable", "NoVideoStream"}
    assert item["error"]["message"]
    assert_capacity_released()


def test_batch_with_one_bad_video(client: Any, app_env: Path) -> None:
    good = [create(client, clip(app_env / "inbox" / f"g{i}.mp4", seconds=1)) for i in range(2)]
    bad_file = app_env / "inbox" / "notes.mp4"
    bad_file.write_text("these are my notes, not a video")
    bad = create(client, bad_file)
    resp = client.http.post(
        "/videos/process", headers=JSON, body=json.dumps({"videoIds": [good[0], bad, good[1]]})
    )
    assert resp.status_code == 202
    ex = wait_done(client, json.loads(resp.body)["executionArn"])
    assert ex["status"] == "SUCCEEDED"
    assert [get(client, f"/videos/{v}")["status"] for v in good] == ["completed", "completed"]
    failed = get(client, f"/videos/{bad}")
    assert failed["status"] == "failed"
    assert failed["error"]["code"]
    assert_capacity_released()


def test_processor_timeout_marks_the_video_failed(client: Any, app_env: Path) -> None:
    from chalicelib.capacity.local_pool import LocalCapacityPool
    from chalicelib.factory import run_processor_in_worker

    settings = container().settings
    # The invocation dies as a Lambda timeout would.
    pool = LocalCapacityPool(run_processor_in_worker, (settings,), invocation_timeout=0.01)
    install_container(pool=pool)
    vid = create(client, clip(app_env / "inbox" / "slow.mp4"))
    ex = wait_done(
        client, json.loads(client.http.post(f"/videos/{vid}/process").body)["executionArn"]
    )
    item = get(client, f"/videos/{vid}")
    assert ex["status"] == "SUCCEEDED"
    assert item["status"] == "failed"
    assert item["error"]["code"] == "Runtime.ExitError"
    assert "timed out" in item["error"]["message"]
    assert_capacity_released()


def test_scaler_failure_at_acquire(
    client: Any, app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = container().pool
    real = pool.set_scaling

    def refuse_scale_up(lo: int, hi: int) -> None:
        if hi > 0:
            raise RuntimeError("capacity provider refused the scaling config")
        real(lo, hi)

    monkeypatch.setattr(pool, "set_scaling", refuse_scale_up)
    vids = [create(client, clip(app_env / "inbox" / "x.mp4", seconds=1)) for _ in range(2)]
    resp = client.http.post("/videos/process", headers=JSON, body=json.dumps({"videoIds": vids}))
    ex = wait_done(client, json.loads(resp.body)["executionArn"])
    assert ex["status"] == "FAILED"
    assert ex["error"] == "BatchFailed"
    for vid in vids:
        item = get(client, f"/videos/{vid}")
        assert item["status"] == "failed"
        assert item["error"]["code"] == "RuntimeError"
        assert "refused" in item["error"]["message"]
    assert_capacity_released()


def test_capacity_that_never_arrives_fails_the_batch(
    client: Any, app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.capacity.base import ScalingState

    monkeypatch.setattr(container().pool, "get_scaling", lambda: ScalingState(2, 5, None, None))
    vid = create(client, clip(app_env / "inbox" / "x.mp4", seconds=1))
    ex = wait_done(
        client, json.loads(client.http.post(f"/videos/{vid}/process").body)["executionArn"]
    )
    assert ex["status"] == "FAILED"
    assert ex["error"] == "CapacityUnavailable"
    assert get(client, f"/videos/{vid}")["status"] == "failed"
    assert container().store.live_leases(POOL, time.time()) == 0


def test_scaler_failure_at_release_fails_loudly(
    client: Any, app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = container().pool
    real = pool.set_scaling

    def refuse_scale_down(lo: int, hi: int) -> None:
        if hi == 0:
            raise RuntimeError("throttled by the control plane")
        real(lo, hi)

    monkeypatch.setattr(pool, "set_scaling", refuse_scale_down)
    vid = create(client, clip(app_env / "inbox" / "x.mp4", seconds=1))
    ex = wait_done(
        client, json.loads(client.http.post(f"/videos/{vid}/process").body)["executionArn"]
    )
    assert ex["status"] == "FAILED"
    assert ex["error"] == "CapacityReleaseFailed"
    assert get(client, f"/videos/{vid}")["status"] == "completed"  # the work itself is kept


def test_fifty_concurrent_triggers_start_one_execution(client: Any, app_env: Path) -> None:
    vid = create(client, clip(app_env / "inbox" / "x.mp4", seconds=1))
    barrier = threading.Barrier(50)

    def trigger(_: int) -> tuple[int, Any]:
        barrier.wait()
        resp = client.http.post(f"/videos/{vid}/process")
        return resp.status_code, json.loads(resp.body)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(trigger, range(50)))
    started = [b for code, b in results if code == 202]
    assert len(started) == 1
    assert {code for code, _ in results} == {202, 409}
    assert len(container().orchestrator()._arns) == 1
    assert wait_done(client, started[0]["executionArn"])["status"] == "SUCCEEDED"
    assert get(client, f"/videos/{vid}")["status"] == "completed"


def test_overlapping_executions_never_scale_to_zero_under_work(client: Any, app_env: Path) -> None:
    from chalicelib.capacity.local_pool import LocalCapacityPool
    from tests.e2e.workers import busy_worker

    pool = LocalCapacityPool(busy_worker, (container().settings,), concurrency=2)
    install_container(pool=pool)  # the orchestrator and the scaler share it
    source = app_env / "inbox" / "unused.mp4"
    source.write_bytes(b"x")
    arns: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        durations = [50, 400, 150, 900][i % 4]  # mixed, so executions end while others run
        vids = [create(client, source, title=f"busy:{durations + 37 * j}") for j in range(2)]
        time.sleep(0.05 * (i % 5))  # staggered arrivals
        resp = client.http.post(
            "/videos/process", headers=JSON, body=json.dumps({"videoIds": vids})
        )
        assert resp.status_code == 202, resp.body
        with lock:
            arns.append(json.loads(resp.body)["executionArn"])

    with ThreadPoolExecutor(20) as ex:
        list(ex.map(run, range(20)))
    results = [wait_done(client, arn, timeout=300) for arn in arns]
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 20
    assert pool.zero_while_busy == 0  # never scaled to zero with an invocation in flight
    assert pool.max_in_flight > 1  # the executions really overlapped
    videos = get(client, "/videos?limit=100")["videos"]
    assert len(videos) == 40
    assert {v["status"] for v in videos} == {"completed"}
    assert_capacity_released()


def test_restart_marks_interrupted_work_failed(app_env: Path) -> None:
    from chalicelib.factory import reset_container

    c = container()
    c.store.create(
        {
            "id": "A" * 22,
            "title": "t",
            "description": "",
            "sourceUrl": "s3://b/k",
            "status": "processing",
            "createdAt": "2026-01-01T00:00:00.000000Z",
            "updatedAt": "2026-01-01T00:00:00.000000Z",
        }
    )
    c.store.acquire_lease(POOL, "old-execution", time.time() + 3600, time.time())
    leftover = app_env / "work" / "run-dead"
    leftover.mkdir(parents=True)
    (leftover / "source").write_bytes(b"half a download")
    reset_container()  # the server stops ...
    from devserver.startup import recover

    assert recover(container().store, container().settings) == 1  # ... and starts again
    item = container().store.get("A" * 22)
    assert item is not None
    assert item["status"] == "failed"
    assert item["error"]["code"] == "Interrupted"
    assert container().store.live_leases(POOL, time.time()) == 0
    assert not leftover.exists()  # the dead run's scratch space is reclaimed
