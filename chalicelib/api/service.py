"""The video service: what the API's routes call. No HTTP and no boto3 in here."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import sources
from chalicelib.api.cursor import CursorCodec
from chalicelib.api.render import MediaRenderer
from chalicelib.api.request_context import current_request_id
from chalicelib.api.streaming import is_stream_document, rewrite_references
from chalicelib.api.validation import validate_list_params, validate_new_video
from chalicelib.config import Settings
from chalicelib.domain import (
    ACTIVE,
    QUEUEABLE,
    RUN_FIELDS,
    Item,
    VideoStatus,
    is_video_id,
    new_video_id,
    utc_now,
)
from chalicelib.domain.access import Principal
from chalicelib.errors import (
    ConflictError,
    DependencyError,
    NotFoundError,
    RateLimitedError,
    TransitionRejected,
    ValidationError,
)
from chalicelib.media_store.base import MediaRef, MediaStore, content_type, live_name
from chalicelib.orchestrator.base import Orchestrator, is_execution_name, new_execution_name
from chalicelib.store.base import Videos

QUEUED = VideoStatus.QUEUED.value
COMPLETED = VideoStatus.COMPLETED.value
PROCESSING = VideoStatus.PROCESSING.value
log = logging.getLogger(__name__)


class VideoService:
    def __init__(
        self,
        store: Videos,
        settings: Settings,
        cursors: CursorCodec,
        orchestrator: Callable[[], Orchestrator],
        renderer: MediaRenderer,
        media_store: Callable[[], MediaStore],
        source_exists: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._cursors = cursors
        self._orchestrator = orchestrator  # built on first use: keeps the cold path light
        self._render = renderer.item
        self._renderer = renderer
        self._media_store = media_store
        # (bucket, key) -> does the s3:// source exist; None where sources are not in S3
        self._source_exists = source_exists

    def health(self) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"timestamp": utc_now(), "backend": self._store.backend_name}
        try:
            self._store.ping()
        except Exception as exc:  # any failure to reach the store means unhealthy
            log.warning("request %s: health check failed", current_request_id(), exc_info=exc)
            return False, {"status": "unhealthy", **body, "error": type(exc).__name__}
        return True, {"status": "healthy", **body}

    def create(self, body: Any, actor: Principal) -> Item:
        fields = validate_new_video(body, self._settings, actor.workspace)
        self._check_source_exists(fields["sourceUrl"])
        now = utc_now()
        item: Item = {
            "id": new_video_id(),
            **fields,
            "status": VideoStatus.UPLOADED.value,
            "workspace": actor.workspace,
            "createdBy": actor.token_id,
            "createdAt": now,
            "updatedAt": now,
        }
        self._store.create(item)
        return self._render(item)

    def _check_source_exists(self, url: str) -> None:
        """A missing S3 source is a 400 now, not a failed video later; an S3 outage is a 503."""
        if self._source_exists is None or not url.lower().startswith("s3://"):
            return
        bucket, key = sources.parse_s3_source(url)
        if not self._source_exists(bucket, key):
            raise ValidationError(
                "sourceUrl: the source object does not exist; upload it first (POST /uploads)",
                details={"field": "sourceUrl", "reason": "SourceNotFound"},
            )

    def list_videos(self, params: Mapping[str, str] | None, actor: Principal) -> dict[str, Any]:
        status, limit, token, words = validate_list_params(params)
        # A nextToken never crosses workspaces, filters or searches.
        scope = _cursor_scope(actor.workspace, status, words)
        cursor = self._cursors.decode(token, scope) if token else None
        if words:
            page = self._store.search(actor.workspace, words, status, limit, cursor)
        else:
            page = self._store.list(status, limit, cursor, workspace=actor.workspace)
        out: dict[str, Any] = {
            "videos": [self._render(i) for i in page.items],
            "count": len(page.items),
        }
        if page.cursor is not None:
            out["nextToken"] = self._cursors.encode(page.cursor, scope)
        return out

    def _owned(self, video_id: str, actor: Principal) -> Item:
        """The video, if it exists in the caller's workspace; another workspace's video is
        exactly as unknown as a missing one (no existence leak)."""
        item = self._store.get(video_id) if is_video_id(video_id) else None
        if item is None or item.get("workspace") != actor.workspace:
            raise NotFoundError(f"video {video_id!r} not found")
        return item

    def get(self, video_id: str, actor: Principal) -> Item:
        return self._render(self._owned(video_id, actor))

    def stream_document(self, video_id: str, name: str) -> tuple[str, str]:
        """An HLS playlist or the storyboard index of the video's run, with every file
        reference turned into a URL the client may fetch (presigned in AWS). A completed item
        serves its run; a processing one whose run is playable (`playback`) serves EVENT
        playlists of its finished prefix (`media_store.base.live_name`); any other answers 404
        (a re-queued one until its new run is playable: the old run's files go at completion)."""
        item = self._store.get(video_id) if is_video_id(video_id) else None
        status = item.get("status") if item else None
        run_id, stored = None, name
        if item and status == COMPLETED:
            run_id = item.get("runId")
        elif item and status == PROCESSING and isinstance(item.get("playback"), dict):
            ref = MediaRef.parse(str(item["playback"].get("hlsUrl") or ""))
            published = int((item.get("segments") or {}).get("published") or 0)
            run_id = ref.run_id if ref and ref.video_id == video_id else None
            stored = live_name(name, published) or ""
        if not run_id or not stored or not is_stream_document(name):
            raise NotFoundError("no such stream document")
        text = self._media_store().read_text(video_id, run_id, stored)
        if text is None:
            raise NotFoundError("no such stream document")

        def url_for(ref: str) -> str:
            if ref.endswith(".m3u8"):  # a variant playlist: this route again, signed
                return self._renderer.stream_url(video_id, ref, relative=True)
            return self._renderer.file_url(video_id, run_id, ref)

        return rewrite_references(text, url_for), content_type(name)

    def process(self, video_ids: list[str], actor: Principal) -> dict[str, Any]:
        """Queue each video (one conditional write each) and start one execution for them."""
        cap = self._settings.workspace_max_active
        active = self._store.count_active(actor.workspace, ACTIVE, cap)
        if active + len(video_ids) > cap:
            raise RateLimitedError(
                f"this workspace may have at most {cap} videos queued or processing at once "
                f"({active} now); try again when some have finished",
                retry_after=30,
                code="TooManyActiveVideos",
            )
        name = new_execution_name()
        accepted: list[str] = []
        outcomes: list[dict[str, Any]] = []
        for video_id in video_ids:
            outcome = self._queue(video_id, name, actor)
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
            log.warning(  # the cause itself is logged with the error response
                "request %s: execution %s could not start; marking %d video(s) failed",
                current_request_id(),
                name,
                len(accepted),
            )
            self._unqueue(accepted, name)
            if isinstance(exc, DependencyError):
                raise DependencyError(
                    "could not start the processing workflow; the videos were marked failed",
                    code="OrchestratorUnavailable",
                ) from exc
            raise
        return {"executionArn": arn, "executionName": name, "results": outcomes}

    def _queue(self, video_id: str, execution: str, actor: Principal) -> dict[str, Any]:
        if not is_video_id(video_id):
            return {"videoId": video_id, "outcome": "notFound"}
        try:
            self._store.transition(
                video_id,
                QUEUEABLE,
                QUEUED,
                set_fields={
                    "executionName": execution,
                    "queuedAt": utc_now(),
                    "processedBy": actor.token_id,
                },
                remove_fields=RUN_FIELDS,  # nothing of an earlier run survives
                only_if={"workspace": actor.workspace},
            )
        except TransitionRejected as exc:
            if exc.current is None or not self._in_workspace(video_id, actor):
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

    def watch(
        self, video_id: str, actor: Principal, last_id: str | None, wait: float
    ) -> tuple[str, bool]:
        """`GET /videos/{id}/events`: Server-Sent Events of the video's state and progress.

        Answers as soon as the state differs from `last_id` (the `Last-Event-ID` a client
        sends back), else after `wait` seconds with a keep-alive comment; EventSource then
        reconnects by itself. Buffered responses (API Gateway, Chalice) thus still deliver each
        change within one poll. Returns `(body, final)`: final once completed or failed."""
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            item = self._owned(video_id, actor)
            state = {
                "status": item["status"],
                "progress": item.get("progress", 0 if item["status"] != "completed" else 100),
                "eventSequence": item.get("eventSequence", 0),
            }
            if item.get("error"):
                state["error"] = item["error"]
            playable = isinstance(item.get("playback"), dict)
            if playable:  # the run can be watched (`video.playable`): its signed master URL
                state["playback"] = self._render(item)["playback"]
            event_id = f"{state['eventSequence']}.{state['progress']}.{state['status']}"
            event_id += ".p" if playable else ""
            final = item["status"] in (VideoStatus.COMPLETED.value, VideoStatus.FAILED.value)
            if event_id != last_id:
                lines = ["retry: 1000", f"id: {event_id}", "event: state"]
                lines.append(f"data: {json.dumps(state, separators=(',', ':'))}")
                if playable and not (last_id or "").endswith(".p"):
                    # once per stream: the first state this client sees with `playback`
                    data = json.dumps(state["playback"], separators=(",", ":"))
                    lines += ["", "event: playable", f"data: {data}"]
                if final:
                    lines += ["", "event: end", "data: {}"]
                return "\n".join(lines) + "\n\n", final
            if final or time.monotonic() >= deadline:
                end = "event: end\ndata: {}\n\n" if final else ""
                return f"retry: 1000\n: no change\n\n{end}", final
            time.sleep(0.25)

    def usage(self, params: Mapping[str, str] | None, actor: Principal) -> dict[str, Any]:
        """`GET /usage?from=&to=`: what the workspace's videos completed in [from, to) cost
        (ISO 8601 UTC bounds, either may be left out). One indexed query per page."""
        from chalicelib.api.usage import usage
        from chalicelib.api.validation import USAGE_PARAMS

        checked = USAGE_PARAMS.check(params)
        bounds = {k: str(checked.get(k) or "") for k in ("from", "to")}
        start, end = bounds["from"], bounds["to"] or "9999"
        items: list[Item] = []
        cursor = None
        while True:
            page = self._store.list(
                VideoStatus.COMPLETED.value, 100, cursor, workspace=actor.workspace
            )
            items += [i for i in page.items if start <= str(i.get("completedAt", "")) < end]
            if page.cursor is None:
                break
            cursor = page.cursor
        body = usage(items, self._settings.price_per_env_hour)
        return {"workspace": actor.workspace, "from": start or None, "to": bounds["to"] or None,
                **body}  # fmt: skip

    def _in_workspace(self, video_id: str, actor: Principal) -> bool:
        item = self._store.get(video_id)
        return item is not None and item.get("workspace") == actor.workspace

    def execution(self, name: str, actor: Principal) -> dict[str, Any]:
        found = self._orchestrator().describe(name) if is_execution_name(name) else None
        ids = found.get("videoIds") if found else None
        # An execution belongs to the workspace of its videos (one workspace per execution).
        if found is None or not ids or not self._in_workspace(ids[0], actor):
            raise NotFoundError(f"execution {name!r} not found")
        return found


def _cursor_scope(workspace: str, status: str | None, words: list[str] | None) -> str:
    scope = f"{workspace}/{status or '*'}"
    return f"{scope}/q={' '.join(words)}" if words else scope
