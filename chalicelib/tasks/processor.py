"""The processor function's logic: one video, from `queued` to `completed` or `failed`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain import VideoStatus, is_video_id, utc_now
from chalicelib.errors import TransitionRejected, ValidationError
from chalicelib.media_store.base import MediaStore
from chalicelib.orchestrator.base import execution_name_of
from chalicelib.store.base import VideoStore

log = logging.getLogger(__name__)

PROCESSING = VideoStatus.PROCESSING.value


class VideoNotQueued(Exception):
    """The video is not queued for this execution (already taken, or re-queued elsewhere)."""


class Processor:
    def __init__(
        self,
        store: VideoStore,
        settings: Settings,
        media_store: Callable[[], MediaStore],
        s3_client: Callable[[], Any] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._media_store = media_store  # built on first use
        self._s3_client = s3_client

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        video_id = event.get("videoId")
        execution_id = event.get("executionId")
        if not isinstance(video_id, str) or not is_video_id(video_id):
            raise ValidationError(f"invalid videoId {video_id!r}")
        if not isinstance(execution_id, str) or not execution_id:
            raise ValidationError("executionId is required")
        owner = {"executionName": execution_name_of(execution_id)}
        try:
            item = self._store.transition(
                video_id,
                {VideoStatus.QUEUED.value},
                PROCESSING,
                set_fields={"progress": 0, "startedAt": utc_now()},
                only_if=owner,
            )
        except TransitionRejected as exc:
            raise VideoNotQueued(
                f"video {video_id} is {exc.current or 'missing'}, not queued for this execution"
            ) from None

        from chalicelib.media.errors import MediaError
        from chalicelib.media.job import run_processing

        media_store = self._media_store()
        try:
            result = run_processing(
                video_id,
                item["sourceUrl"],
                self._settings,
                media_store,
                self._progress_writer(video_id),
                s3_client=self._s3_client() if self._s3_client else None,
            )
        except MediaError as exc:
            # The video itself is the problem: record why, and let its siblings go on.
            self._fail(video_id, owner, {"code": exc.code, "message": exc.message})
            return {"videoId": video_id, "status": VideoStatus.FAILED.value, "error": exc.code}
        except Exception as exc:
            log.exception("processing %s crashed", video_id)
            self._fail(video_id, owner, {"code": "ProcessorError", "message": str(exc)[:2000]})
            raise
        self._store.transition(
            video_id,
            {PROCESSING},
            VideoStatus.COMPLETED.value,
            set_fields={**result, "progress": 100, "completedAt": utc_now()},
            only_if=owner,
        )
        run_id = result.get("runId")
        if run_id:  # the item now points at the new run: older runs can go
            try:
                media_store.delete_other_runs(video_id, run_id)
            except Exception:  # a leftover old run wastes space but breaks nothing
                log.warning("could not delete old runs of %s", video_id, exc_info=True)
        return {"videoId": video_id, "status": VideoStatus.COMPLETED.value}

    def _fail(self, video_id: str, owner: dict[str, str], error: dict[str, str]) -> None:
        try:
            self._store.transition(
                video_id,
                {PROCESSING},
                VideoStatus.FAILED.value,
                set_fields={"error": error, "failedAt": utc_now()},
                only_if=owner,
            )
        except TransitionRejected:
            log.warning("video %s left processing before its failure was recorded", video_id)

    def _progress_writer(self, video_id: str) -> Callable[[int], None]:
        """Writes progress while the video is processing (run_processing's ProgressReporter
        already sends only rising values, at most one every 2 s)."""

        def write(percent: int) -> None:
            self._store.update_fields(video_id, {"progress": percent}, {PROCESSING})

        return write
