"""The processor function's logic: one video, from `queued` to `completed` or `failed`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain import VideoStatus, is_video_id, utc_now
from chalicelib.errors import TransitionRejected, ValidationError
from chalicelib.media_store.base import MASTER, MediaRef, MediaStore
from chalicelib.orchestrator.base import execution_name_of
from chalicelib.processing.context import PROGRESS_STARTED, media_progress
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
        scratch: Callable[[], Any] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._media_store = media_store  # built on first use
        self._s3_client = s3_client
        self._scratch_store = scratch

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        video_id = event.get("videoId")
        execution_id = event.get("executionId")
        if not isinstance(video_id, str) or not is_video_id(video_id):
            raise ValidationError(f"invalid videoId {video_id!r}")
        if not isinstance(execution_id, str) or not execution_id:
            raise ValidationError("executionId is required")
        owner = {"executionName": execution_name_of(execution_id)}
        action = event.get("action", "process")
        if action == "process":
            return self._process(video_id, owner)
        run_id = event.get("runId")
        if not isinstance(run_id, str) or not run_id:
            raise ValidationError("runId is required")
        if action == "discard":
            return self._discard(video_id, run_id, event.get("error"))
        self._check_owner(video_id, owner)
        if action == "segment":
            job = event.get("job")
            if not isinstance(job, int) or isinstance(job, bool):
                raise ValidationError("job must be an integer")
            return self._segment(video_id, run_id, job, owner)
        if action == "assemble":
            return self._assemble(video_id, run_id, owner)
        raise ValidationError(f"unknown processor action {action!r}")

    def _process(self, video_id: str, owner: dict[str, str]) -> dict[str, Any]:
        """The video's first invocation: short videos are processed right here (the
        one-invocation path); long ones are planned into segments for the workflow's Map."""
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
        from chalicelib.processing import segmented
        from chalicelib.processing.context import new_run_id
        from chalicelib.processing.one_pass import run_processing

        media_store = self._media_store()
        clip = item.get("clipOf")
        trim = None
        if isinstance(clip, dict):  # a clip: its range of the source (of the original source)
            a, b = clip.get("sourceRange") or (clip["start"], clip["end"])
            trim = (float(a), float(b))
        try:
            prepared = segmented.Prepared(None)
            # Without scratch, every video is one segment. A clip is cut from its source first
            # (the one-pass job after its fetch; prepare into scratch when it is segmented).
            if self._scratch_store is not None:
                prepared = segmented.prepare(
                    video_id,
                    new_run_id(),
                    item["sourceUrl"],
                    self._settings,
                    self._scratch(),
                    s3_client=self._s3_client() if self._s3_client else None,
                    trim=trim,
                )
            planned = prepared.planned
            if planned is not None:
                record = {"count": planned["segments"], "done": 0, "published": 0}
                self._store.update_fields(
                    video_id, {"progress": PROGRESS_STARTED, "segments": record}, {PROCESSING}
                )
                return {"videoId": video_id, "status": PROCESSING, "segmented": True, **planned}
            result = run_processing(
                video_id,
                item["sourceUrl"],
                self._settings,
                media_store,
                self._progress_writer(video_id),
                s3_client=self._s3_client() if self._s3_client else None,
                info=prepared.info,  # probed by prepare: not probed again
                probe_ms=prepared.probe_ms,
                trim=trim,
            )
        except MediaError as exc:
            # The video itself is the problem: record why, and let its siblings go on.
            self._fail(video_id, owner, {"code": exc.code, "message": exc.message})
            return {
                "videoId": video_id,
                "status": VideoStatus.FAILED.value,
                "error": exc.code,
                "segmented": False,
            }
        except Exception as exc:
            log.exception("processing %s crashed", video_id)
            # The item is public: the exception's text (an SDK message with ARNs, account ids,
            # bucket names) stays in the log, the item says only what kind of failure it was.
            message = f"processing failed unexpectedly ({type(exc).__name__}); see the logs"
            self._fail(video_id, owner, {"code": "ProcessorError", "message": message})
            raise
        self._complete(video_id, owner, result, media_store)
        return {"videoId": video_id, "status": VideoStatus.COMPLETED.value, "segmented": False}

    def _complete(
        self, video_id: str, owner: dict[str, str], result: dict[str, Any], media_store: Any
    ) -> None:
        run_id = result.get("runId")
        now = utc_now()
        playback: dict[str, Any] = {}
        if run_id:
            master = str(MediaRef(video_id, run_id, MASTER))
            playback = {"playback": {"hlsUrl": master, "state": "complete"}}
            if "playback" not in (self._store.get(video_id) or {}):
                # Not playable before (one pass): it is from now, and this completion
                # announces it (`video.playable` when playableAt == completedAt).
                playback["playableAt"] = now
        self._store.transition(
            video_id,
            {PROCESSING},
            VideoStatus.COMPLETED.value,
            set_fields={**result, **playback, "progress": 100, "completedAt": now},
            only_if=owner,
        )
        if run_id:  # the item now points at the new run: older runs can go
            try:
                media_store.delete_other_runs(video_id, run_id)
            except Exception:  # a leftover old run wastes space but breaks nothing
                log.warning("could not delete old runs of %s", video_id, exc_info=True)

    def _scratch(self) -> Any:
        if self._scratch_store is None:
            raise RuntimeError("segmented processing needs a scratch store")
        return self._scratch_store()

    def _check_owner(self, video_id: str, owner: dict[str, str]) -> None:
        """Segment work only for a video this execution is processing (never a stale one)."""
        item = self._store.get(video_id)
        if (
            item is None
            or item.get("status") != PROCESSING
            or item.get("executionName") != owner["executionName"]
        ):
            raise VideoNotQueued(f"video {video_id} is not processing for this execution")

    def _segment(
        self, video_id: str, run_id: str, job: int, owner: dict[str, str]
    ) -> dict[str, Any]:
        """One segment (or the audio, job -1) into the run's scratch; in a playable run its files
        then go into the run, and the item shows how far the run can be watched."""
        from chalicelib.processing import segmented

        scratch = self._scratch()
        done = segmented.run_job(
            video_id,
            run_id,
            job,
            self._settings,
            scratch,
            s3_client=self._s3_client() if self._s3_client else None,
        )
        self._published(video_id, run_id, job, owner)
        return done

    def _published(self, video_id: str, run_id: str, job: int, owner: dict[str, str]) -> None:
        """After a job: publish it (a playable run) and record progress and what can be
        watched on the item."""
        from chalicelib.processing import segmented

        scratch = self._scratch()
        item = self._store.get(video_id) or {}
        seen = item.get("segments") or {}
        live = segmented.publish_job(
            video_id, run_id, job, scratch, self._media_store(), int(seen.get("published") or 0)
        )
        finished, total = segmented.progress(scratch, video_id, run_id)
        if not total:
            return
        # The plan, then the segments, then the assembly, as the one-pass bar reads (the
        # segments drive the media part). Jobs finish in any order: only higher values are
        # written.
        percent = media_progress(finished / total)
        published = max(int(seen.get("published") or 0), live.segments if live else 0)
        record = {
            "count": total,
            "done": max(int(seen.get("done") or 0), finished),
            "published": published,
        }
        if live is not None and "playback" not in item:
            self._playable(video_id, owner, live.master, "partial", {"segments": record})
        elif int(item.get("progress") or 0) < percent or live is not None:
            fields: dict[str, Any] = {"segments": record}
            if int(item.get("progress") or 0) < percent:
                fields["progress"] = percent
            self._store.update_fields(video_id, fields, {PROCESSING})

    def _playable(
        self,
        video_id: str,
        owner: dict[str, str],
        master: str,
        state: str,
        fields: dict[str, Any] | None = None,
    ) -> bool:
        """The run can be watched: `playback` on the item and the `video.playable` event, in
        one conditional write that requires `playback` absent (once per run, whichever job gets
        there first). False when it was there already or the video left processing."""
        try:
            self._store.transition(
                video_id,
                {PROCESSING},
                PROCESSING,
                set_fields={
                    **(fields or {}),
                    "playback": {"hlsUrl": master, "state": state},
                    "playableAt": utc_now(),
                },
                only_if={**owner, "playback": None},
            )
        except TransitionRejected:
            return False
        return True

    def _assemble(self, video_id: str, run_id: str, owner: dict[str, str]) -> dict[str, Any]:
        from chalicelib.processing import segmented

        media_store = self._media_store()
        result = segmented.assemble(
            video_id, run_id, self._settings, self._scratch(), media_store,
            s3_client=self._s3_client() if self._s3_client else None,
        )  # fmt: skip
        self._complete(video_id, owner, result, media_store)
        return {"videoId": video_id, "status": VideoStatus.COMPLETED.value}

    def _discard(self, video_id: str, run_id: str, error: Any) -> dict[str, str]:
        """A segmented run failed: drop its scratch and name the failed segment in the error
        (shaped like the caught error, which it replaces on the way to the finalizer)."""
        from chalicelib.processing import segmented

        try:
            return segmented.failure(
                self._scratch(), video_id, run_id, error if isinstance(error, dict) else None
            )
        finally:
            # What a playable run published so far: nothing half-finished stays watchable
            # (the finalizer then removes `playback` with the failure).
            self._media_store().discard(video_id, run_id)

    def _fail(self, video_id: str, owner: dict[str, str], error: dict[str, str]) -> None:
        try:
            self._store.transition(
                video_id,
                {PROCESSING},
                VideoStatus.FAILED.value,
                set_fields={"error": error, "failedAt": utc_now()},
                # as the finalizer does: a failed item has no progress and nothing to play
                remove_fields=("progress", "playback"),
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
