"""The video service: what the API's routes call. No HTTP and no boto3 in here."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.api.cursor import CursorCodec
from chalicelib.api.render import MediaRenderer
from chalicelib.api.streaming import is_stream_document, rewrite_references
from chalicelib.api.validation import validate_list_params, validate_new_video
from chalicelib.config import Settings
from chalicelib.domain import (
    QUEUEABLE,
    RESULT_FIELDS,
    VideoStatus,
    is_video_id,
    new_video_id,
    utc_now,
)
from chalicelib.errors import (
    ConflictError,
    DependencyError,
    NotFoundError,
    TransitionRejected,
)
from chalicelib.media_store.base import MediaStore, content_type
from chalicelib.orchestrator.base import Orchestrator, is_execution_name, new_execution_name
from chalicelib.store.base import Item, VideoStore

QUEUED = VideoStatus.QUEUED.value
log = logging.getLogger(__name__)


class VideoService:
    def __init__(
        self,
        store: VideoStore,
        settings: Settings,
        cursors: CursorCodec,
        orchestrator: Callable[[], Orchestrator],
        renderer: MediaRenderer,
        media_store: Callable[[], MediaStore],
    ) -> None:
        self._store = store
        self._settings = settings
        self._cursors = cursors
        self._orchestrator = orchestrator  # built on first use: keeps the cold path light
        self._render = renderer.item
        self._renderer = renderer
        self._media_store = media_store

    def health(self) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"timestamp": utc_now(), "backend": self._store.backend_name}
        try:
            self._store.ping()
        except Exception as exc:  # any failure to reach the store means unhealthy
            return False, {"status": "unhealthy", **body, "error": type(exc).__name__}
        return True, {"status": "healthy", **body}

    def create(self, body: Any) -> Item:
        fields = validate_new_video(body, self._settings)
        now = utc_now()
        item: Item = {
            "id": new_video_id(),
            **fields,
            "status": VideoStatus.UPLOADED.value,
            "createdAt": now,
            "updatedAt": now,
        }
        self._store.create(item)
        return self._render(item)

    def list_videos(self, params: Mapping[str, str] | None) -> dict[str, Any]:
        status, limit, token = validate_list_params(params)
        cursor = self._cursors.decode(token, status) if token else None
        page = self._store.list(status, limit, cursor)
        out: dict[str, Any] = {
            "videos": [self._render(i) for i in page.items],
            "count": len(page.items),
        }
        if page.cursor is not None:
            out["nextToken"] = self._cursors.encode(page.cursor, status)
        return out

    def get(self, video_id: str) -> Item:
        item = self._store.get(video_id) if is_video_id(video_id) else None
        if item is None:
            raise NotFoundError(f"video {video_id!r} not found")
        return self._render(item)

    def stream_document(self, video_id: str, name: str) -> tuple[str, str]:
        """An HLS playlist or the storyboard index of the video's current run, with every
        file reference turned into a URL the client may fetch (presigned in AWS)."""
        item = self._store.get(video_id) if is_video_id(video_id) else None
        run_id = item.get("runId") if item else None
        if not run_id or not is_stream_document(name):
            raise NotFoundError("no such stream document")
        media = self._media_store()
        text = media.read_text(video_id, run_id, name)
        if text is None:
            raise NotFoundError("no such stream document")
        body = rewrite_references(text, lambda ref: str(media.url(video_id, run_id, ref)))
        return body, content_type(name)

    def process(self, video_ids: list[str]) -> dict[str, Any]:
        """Queue each video (one conditional write each) and start one execution for them."""
        name = new_execution_name()
        accepted: list[str] = []
        outcomes: list[dict[str, Any]] = []
        for video_id in video_ids:
            outcome = self._queue(video_id, name)
            outcomes.append(outcome)
            if outcome["outcome"] == "queued":
                accepted.append(video_id)
        if not accepted:
            if all(o["outcome"] == "notFound" for o in outcomes):
                raise NotFoundError(
                    "no such video" if len(outcomes) == 1 else "none of these videos exist",
                    details={"results": outcomes} if len(outcomes) > 1 else None,
                )
            single = outcomes[0] if len(outcomes) == 1 else None
            raise ConflictError(
                f"video is already {single['currentStatus']}"
                if single
                else "none of these videos can be processed now",
                details=single if single else {"results": outcomes},
                code="AlreadyInProgress",
            )
        try:
            arn = self._orchestrator().start(name, accepted)
        except Exception as exc:
            # Never leave them queued; a bug (not a DependencyError) still surfaces as a 500.
            log.warning("execution %s could not start: %r", name, exc)
            self._unqueue(accepted, name)
            if isinstance(exc, DependencyError):
                raise DependencyError(
                    "could not start the processing workflow; the videos were marked failed",
                    code="OrchestratorUnavailable",
                ) from exc
            raise
        return {"executionArn": arn, "executionName": name, "results": outcomes}

    def _queue(self, video_id: str, execution: str) -> dict[str, Any]:
        if not is_video_id(video_id):
            return {"videoId": video_id, "outcome": "notFound"}
        try:
            self._store.transition(
                video_id,
                QUEUEABLE,
                QUEUED,
                set_fields={"executionName": execution, "queuedAt": utc_now()},
                remove_fields=RESULT_FIELDS,
            )
        except TransitionRejected as exc:
            if exc.current is None:
                return {"videoId": video_id, "outcome": "notFound"}
            return {"videoId": video_id, "outcome": "conflict", "currentStatus": exc.current}
        return {"videoId": video_id, "outcome": "queued"}

    def _unqueue(self, video_ids: list[str], execution: str) -> None:
        error = {
            "code": "OrchestratorUnavailable",
            "message": "the processing workflow could not be started; process it again",
        }
        for video_id in video_ids:
            with contextlib.suppress(TransitionRejected):
                self._store.transition(
                    video_id,
                    {QUEUED},
                    VideoStatus.FAILED.value,
                    set_fields={"error": error, "failedAt": utc_now()},
                    only_if={"executionName": execution},
                )

    def execution(self, name: str) -> dict[str, Any]:
        found = self._orchestrator().describe(name) if is_execution_name(name) else None
        if found is None:
            raise NotFoundError(f"execution {name!r} not found")
        return found
