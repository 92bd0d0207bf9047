"""The processor task: one video from queued to completed or failed, owned by one execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.errors import ValidationError
from chalicelib.media.errors import MediaError
from chalicelib.store.sqlite import SqliteVideoStore
from chalicelib.tasks.processor import Processor, VideoNotQueued
from tests.scaling.test_finalizer import put

EXEC = "arn:aws:states:us-east-1:1:execution:videos:exec-a"
RUN = "20260101T000000Z-abcdef01"


class RecordingMediaStore:
    def __init__(self) -> None:
        self.deleted: list[tuple[str, str]] = []

    def delete_other_runs(self, video_id: str, keep_run_id: str) -> list[str]:
        self.deleted.append((video_id, keep_run_id))
        return []


@pytest.fixture
def store(tmp_path: Path) -> SqliteVideoStore:
    return SqliteVideoStore(tmp_path / "v.sqlite3")


def processor(
    store: SqliteVideoStore, media: RecordingMediaStore, monkeypatch: pytest.MonkeyPatch, run: Any
) -> Processor:
    from chalicelib.processing import one_pass as job

    monkeypatch.setattr(job, "run_processing", run)
    return Processor(store, Settings(), lambda: media)  # type: ignore[arg-type,return-value]


def test_a_queued_video_is_processed_and_old_runs_dropped(
    store: SqliteVideoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = RecordingMediaStore()
    seen: list[str] = []

    def run(video_id: str, source: str, settings: Any, ms: Any, progress: Any, **kw: Any) -> Any:
        seen.append(store.get(video_id)["status"])  # type: ignore[index]
        progress(40)
        assert store.get(video_id)["progress"] == 40  # type: ignore[index]
        return {"runId": RUN, "outputPrefix": f"videos/{video_id}/{RUN}", "media": {"width": 2}}

    vid = put(store, "queued")
    out = processor(store, media, monkeypatch, run).handle({"videoId": vid, "executionId": EXEC})
    assert out == {"videoId": vid, "status": "completed", "segmented": False}
    assert seen == ["processing"]
    item = store.get(vid)
    assert item is not None
    assert (item["status"], item["progress"], item["runId"]) == ("completed", 100, RUN)
    assert item["media"] == {"width": 2} and item["completedAt"]
    assert media.deleted == [(vid, RUN)]


@pytest.mark.parametrize("status", ["uploaded", "processing", "completed", "failed"])
def test_a_video_no_longer_queued_is_left_alone(
    store: SqliteVideoStore, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    def run(*a: Any, **kw: Any) -> Any:
        raise AssertionError("must not process a video that is not queued")

    vid = put(store, status)
    before = store.get(vid)
    with pytest.raises(VideoNotQueued, match=status):
        processor(store, RecordingMediaStore(), monkeypatch, run).handle(
            {"videoId": vid, "executionId": EXEC}
        )
    assert store.get(vid) == before


def test_a_video_queued_by_another_execution_is_left_alone(
    store: SqliteVideoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = put(store, "queued", execution="exec-b")
    with pytest.raises(VideoNotQueued):
        processor(store, RecordingMediaStore(), monkeypatch, None).handle(
            {"videoId": vid, "executionId": EXEC}
        )
    assert store.get(vid)["status"] == "queued"  # type: ignore[index]


def test_a_bad_source_fails_the_video_with_its_reason_and_returns(
    store: SqliteVideoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(*a: Any, **kw: Any) -> Any:
        raise MediaError("NotAVideo", "the source is not a video")

    vid = put(store, "queued")
    out = processor(store, RecordingMediaStore(), monkeypatch, run).handle(
        {"videoId": vid, "executionId": EXEC}
    )
    assert out == {"videoId": vid, "status": "failed", "error": "NotAVideo", "segmented": False}
    item = store.get(vid)
    assert item is not None and item["status"] == "failed"
    assert item["error"] == {"code": "NotAVideo", "message": "the source is not a video"}


def test_a_crash_fails_the_video_and_is_raised_for_the_workflow(
    store: SqliteVideoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("disk full")

    vid = put(store, "queued")
    with pytest.raises(RuntimeError):
        processor(store, RecordingMediaStore(), monkeypatch, run).handle(
            {"videoId": vid, "executionId": EXEC}
        )
    item = store.get(vid)
    assert item is not None and item["status"] == "failed"
    assert item["error"]["code"] == "ProcessorError"


@pytest.mark.parametrize(
    "event",
    [{}, {"videoId": "short", "executionId": EXEC}, {"videoId": "A" * 22}, {"videoId": 5}],
)
def test_malformed_events_are_rejected(
    store: SqliteVideoStore, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        processor(store, RecordingMediaStore(), monkeypatch, None).handle(event)
