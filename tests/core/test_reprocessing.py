"""Processing a video again: a re-queued item shows nothing of its previous run.

Decision (README, `POST /videos/{id}/process`): the queue write removes every field of the
earlier run (results, error, progress, runId/outputPrefix, startedAt/completedAt/failedAt)
and sets the new run's executionName and queuedAt. A queued or processing item therefore
shows no results and `GET /videos/{id}/stream/...` answers 404 until the new run completes;
the old run's files are deleted when it does.

The processor is the real one (`Processor.handle`, the store's conditional writes, publishing
and deleting runs in the media store); only the media work (`run_processing`) is a stand-in
that publishes a playlist and a storyboard index. On both backends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain import RUN_FIELDS
from chalicelib.media.errors import MediaError
from chalicelib.media_store.base import MediaRef
from chalicelib.processing.one_pass import new_run_id
from tests.core.backends import Backend, open_backend

OLD_RUN_FIELDS = ("runId", "outputPrefix", "startedAt", "completedAt", "failedAt", "progress")
RESULTS = ("media", "transcoding", "storyboard", "stages", "processingTimeMs", "error")
DOCUMENTS = ("hls_master.m3u8", "hls_720p.m3u8", "storyboard.vtt")


@pytest.fixture(params=["local", "aws"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend(request.param, request, tmp_path, monkeypatch)


def item_of(api: Backend, vid: str) -> dict[str, Any]:
    resp = api.get(f"/videos/{vid}")
    assert resp.status_code == 200, resp.body
    item: dict[str, Any] = json.loads(resp.body)
    return item


def stream(api: Backend, vid: str, name: str = "hls_720p.m3u8") -> Any:
    path = f"/videos/{vid}/stream/{name}"
    return api.get(api.container.signer.sign(path, path))  # as a rendered item carries it


class FakeMedia:
    """Stands in for `run_processing`: publishes a run whose documents name it, reports
    progress, and calls `during` while the run is in flight (or raises `fail`)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.runs: list[str] = []
        self.during: Callable[[], None] = lambda: None
        self.fail: MediaError | None = None

    def __call__(
        self,
        video_id: str,
        source_url: str,
        settings: Any,
        media_store: Any,
        on_progress: Callable[[int], None],
        **_: Any,
    ) -> dict[str, Any]:
        on_progress(40)
        self.during()
        if self.fail is not None:
            raise self.fail
        run = new_run_id()
        self.runs.append(run)
        work = self.tmp / run
        work.mkdir()
        (work / "hls_master.m3u8").write_text(f"#EXTM3U\n# {run}\nhls_720p.m3u8\n")
        (work / "hls_720p.m3u8").write_text(f"#EXTM3U\n# {run}\nhls_720p_00000.ts\n")
        (work / "hls_720p_00000.ts").write_bytes(b"ts")
        (work / "storyboard.vtt").write_text(f"WEBVTT\n\nNOTE {run}\n")
        prefix = media_store.publish(video_id, run, sorted(work.iterdir()))
        ref = lambda name: str(MediaRef(video_id, run, name))  # noqa: E731
        return {
            "media": {"duration": 1.0},
            "transcoding": {
                "formats": [{"quality": "720p", "hlsUrl": ref("hls_720p.m3u8")}],
                "hls": {"masterUrl": ref("hls_master.m3u8")},
            },
            "storyboard": {"vttUrl": ref("storyboard.vtt")},
            "stages": {"fetch": {"status": "completed", "ms": 1}},
            "processingTimeMs": 5,
            "outputPrefix": prefix,
            "runId": run,
        }


@pytest.fixture
def media(api: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMedia]:
    import chalicelib.processing.one_pass
    import chalicelib.processing.segmented

    fake = FakeMedia(tmp_path)
    monkeypatch.setattr(chalicelib.processing.one_pass, "run_processing", fake)
    # one-invocation runs: the stand-in sources are no real videos to plan segments from
    monkeypatch.setattr(
        chalicelib.processing.segmented,
        "prepare",
        lambda *a, **k: chalicelib.processing.segmented.Prepared(None),
    )
    yield fake


def queue(api: Backend, vid: str) -> str:
    """POST /videos/{id}/process; the execution name the (recording) orchestrator got."""
    resp = api.client.http.post(f"/videos/{vid}/process")
    assert resp.status_code == 202, resp.body
    assert api.orchestrator is not None
    name, ids = api.orchestrator.started[-1]
    assert ids == [vid]
    return name


def process(api: Backend, vid: str, execution: str) -> dict[str, Any]:
    """What the workflow's ProcessVideo task does for this video."""
    out: dict[str, Any] = api.container.processor.handle(
        {"videoId": vid, "executionId": f"arn:aws:states:us-east-1:1:execution:m:{execution}"}
    )
    return out


def completed_once(api: Backend, media: FakeMedia) -> tuple[str, str]:
    vid = api.create()["id"]
    assert process(api, vid, queue(api, vid))["status"] == "completed"
    item = item_of(api, vid)
    assert item["status"] == "completed" and item["runId"] == media.runs[-1]
    assert stream(api, vid).status_code == 200
    return vid, media.runs[-1]


def assert_nothing_of_an_earlier_run(item: dict[str, Any]) -> None:
    left = sorted(set(item) & set(OLD_RUN_FIELDS + RESULTS))
    assert left == [] or (item["status"] == "processing" and left == ["progress", "startedAt"])


def test_a_requeued_completed_video_shows_nothing_of_the_old_run(
    api: Backend, media: FakeMedia
) -> None:
    vid, old_run = completed_once(api, media)
    old = item_of(api, vid)
    assert f"/videos/{vid}/stream/hls_master.m3u8?exp=" in old["transcoding"]["hls"]["masterUrl"]
    assert {"startedAt", "completedAt", "executionName", "queuedAt"} <= set(old)

    execution = queue(api, vid)
    item = item_of(api, vid)
    assert item["status"] == "queued"
    assert_nothing_of_an_earlier_run(item)
    assert item["executionName"] == execution != old["executionName"]
    assert item["queuedAt"] > old["completedAt"]
    listed = json.loads(api.get("/videos?status=queued").body)["videos"]
    assert listed == [item]  # the list shows the same item as GET
    for name in DOCUMENTS:  # the old run's playlists are not served while re-queued
        assert stream(api, vid, name).status_code == 404
    assert old_run in api.container.media_store().list_runs(vid)  # its files still exist


def test_while_the_new_run_processes_and_after_it_completes(api: Backend, media: FakeMedia) -> None:
    vid, old_run = completed_once(api, media)
    execution = queue(api, vid)
    queued_at = item_of(api, vid)["queuedAt"]
    seen: dict[str, Any] = {}

    def during() -> None:
        seen["item"] = item_of(api, vid)
        seen["streams"] = [stream(api, vid, n).status_code for n in DOCUMENTS]

    media.during = during
    process(api, vid, execution)
    mid = seen["item"]
    assert mid["status"] == "processing"
    assert mid["progress"] == 40 and mid["startedAt"] > queued_at  # this run's, not the old
    assert_nothing_of_an_earlier_run(mid)
    assert seen["streams"] == [404, 404, 404]

    new_run = media.runs[-1]
    done = item_of(api, vid)
    assert done["status"] == "completed" and done["runId"] == new_run != old_run
    assert done["completedAt"] > done["startedAt"] > queued_at
    assert "failedAt" not in done and "error" not in done
    for name in DOCUMENTS:
        resp = stream(api, vid, name)
        assert resp.status_code == 200
        assert new_run in resp.body.decode() and old_run not in resp.body.decode()
    assert api.container.media_store().list_runs(vid) == [new_run]  # old files deleted


def test_a_failed_rerun_shows_only_its_own_failure(api: Backend, media: FakeMedia) -> None:
    vid, _ = completed_once(api, media)
    execution = queue(api, vid)
    media.fail = MediaError("NotAVideo", "the source is not a video")
    assert process(api, vid, execution)["status"] == "failed"
    item = item_of(api, vid)
    assert item["status"] == "failed"
    assert item["error"]["code"] == "NotAVideo"
    assert {"failedAt", "startedAt", "executionName", "queuedAt"} <= set(item)
    for name in (
        "runId",
        "outputPrefix",
        "completedAt",
        "transcoding",
        "media",
        "storyboard",
        "progress",  # a failed item has no progress, whichever path failed it
    ):
        assert name not in item
    assert stream(api, vid).status_code == 404

    # and queueing it once more removes that failure too
    queue(api, vid)
    again = item_of(api, vid)
    assert again["status"] == "queued"
    assert_nothing_of_an_earlier_run(again)


def test_a_legacy_item_with_segments_is_cleared_too(api: Backend, media: FakeMedia) -> None:
    vid = api.create()["id"]
    api.store.transition(
        vid,
        {"uploaded"},
        "completed",
        {"segments": [{"url": "x"}], "runId": "20250101T000000Z-00000000", "completedAt": "z"},
    )
    queue(api, vid)
    item = item_of(api, vid)
    assert {"segments", "runId", "completedAt"} & set(item) == set()


def test_run_fields_cover_everything_the_processor_writes(api: Backend, media: FakeMedia) -> None:
    """Guard for later fields: whatever a completed or failed run leaves on the item (beyond
    what creation wrote) must be in RUN_FIELDS, or a re-queue would keep it."""
    vid = api.create()["id"]
    created = set(item_of(api, vid))
    process(api, vid, queue(api, vid))
    completed = set(item_of(api, vid))
    execution = queue(api, vid)
    media.fail = MediaError("NotAVideo", "no")
    process(api, vid, execution)
    failed = set(item_of(api, vid))
    run_written = (completed | failed) - created
    rendered_per_read = {"images"}  # signed image URLs, made when the item is read, not stored
    assert run_written - set(RUN_FIELDS) - rendered_per_read == set()


def test_only_a_completed_item_serves_its_run(api: Backend, media: FakeMedia) -> None:
    """Items re-queued before this rule kept their runId: the route still serves nothing for
    them until they complete."""
    vid, run = completed_once(api, media)
    execution = queue(api, vid)
    api.store.update_fields(vid, {"runId": run}, {"queued"})  # as such an item looks
    assert stream(api, vid).status_code == 404
    process(api, vid, execution)
    assert stream(api, vid).status_code == 200


def test_every_path_to_failed_leaves_no_progress(api: Backend, media: FakeMedia) -> None:
    """The processor (a bad video), the finalizer (a Catch) and local start-up recovery (an
    interrupted run) all fail an item the same way: error and failedAt, no progress."""
    from devserver.startup import recover_interrupted

    bad, caught, interrupted = (api.create()["id"] for _ in range(3))
    media.fail = MediaError("NotAVideo", "no")
    process(api, bad, queue(api, bad))

    execution = queue(api, caught)
    api.store.transition(caught, {"queued"}, "processing", {"progress": 30})
    api.container.finalizer.handle({"executionId": execution, "videoId": caught})

    queue(api, interrupted)
    api.store.transition(interrupted, {"queued"}, "processing", {"progress": 60})
    assert recover_interrupted(api.store) == 1

    for vid in (bad, caught, interrupted):
        item = item_of(api, vid)
        assert item["status"] == "failed" and {"error", "failedAt"} <= set(item)
        assert "progress" not in item, item
