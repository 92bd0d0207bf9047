"""The renderer: one image (a frame, an animated preview) from a completed run, cached in it.

The API names the render and sends an event; this renders it from the run's top rendition and
writes it into the run (`img-<hash>.<ext>`), where the API's redirect finds it. It runs where
ffmpeg lives: in AWS the `renderer` function (the processor's image, an ordinary Lambda, see
docs/architecture.md), locally `LocalRenderExecutor` in the server's process tree (ffmpeg
children, a few at a time, a bounded wait). `LambdaRenderInvoker` is the API's side in AWS.

Event: {"videoId", "runId", "source": rendition name, "kind": "frame"|"animation",
"spec": {...}, "name": the render's file name, "duration": seconds}. Answer: {"name", "size"},
or {"error": {"code", "message"}} for a render that failed.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from chalicelib.config import Settings
from chalicelib.errors import DependencyError, RateLimitedError, ValidationError
from chalicelib.media_store.base import is_valid_ids

log = logging.getLogger(__name__)

_FRAME_FORMATS = ("jpg", "png", "webp")
_ANIMATION_FORMATS = ("webp", "gif")
_FITS = ("contain", "cover", "fill", "pad")


class RenderStore(Protocol):
    """What the renderer needs of the media store (both adapters have it)."""

    def source_of(self, video_id: str, run_id: str, name: str) -> str | None: ...

    def put_file(self, video_id: str, run_id: str, name: str, path: Path) -> None: ...


def _num(spec: Mapping[str, Any], key: str, lo: float, hi: float) -> float:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"render spec: {key} must be a number")
    if not lo <= value <= hi:
        raise ValidationError(f"render spec: {key} out of range")
    return float(value)


def _side(spec: Mapping[str, Any], key: str, hi: int) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= hi:
        raise ValidationError(f"render spec: {key} out of range")
    return value


class RenderTask:
    """Renders one event's image into the run (re-checks the event: it may come from Lambda)."""

    def __init__(self, settings: Settings, media_store: Callable[[], RenderStore]) -> None:
        self._settings = settings
        self._media_store = media_store

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        from chalicelib.media import images
        from chalicelib.media.errors import MediaError
        from chalicelib.media.ffmpeg import ffmpeg_exe

        video_id, run_id = str(event.get("videoId")), str(event.get("runId"))
        source, name = str(event.get("source")), str(event.get("name"))
        if not is_valid_ids(video_id, run_id, source) or not is_valid_ids(video_id, run_id, name):
            raise ValidationError("render: invalid ids or names")
        if not name.startswith("img-") or not source.endswith(".mp4"):
            raise ValidationError("render: invalid names")
        spec = event.get("spec")
        if not isinstance(spec, dict):
            raise ValidationError("render: spec must be an object")
        duration = _num(event, "duration", 0, 86400)
        fmt = spec.get("format")
        ext = name.rsplit(".", 1)[-1]
        job: Any
        run: Callable[..., None]
        if event.get("kind") == "frame" and fmt in _FRAME_FORMATS and fmt == ext:
            fit = spec.get("fit")
            if fit not in _FITS:
                raise ValidationError("render spec: fit")
            job = images.FrameSpec(
                time=_num(spec, "time", 0, duration),
                width=_side(spec, "width", 3840),
                height=_side(spec, "height", 3840),
                fit=str(fit),
                format=str(fmt),
            )
            run = images.render_frame
        elif event.get("kind") == "animation" and fmt in _ANIMATION_FORMATS and fmt == ext:
            start = _num(spec, "start", 0, duration)
            end = _num(spec, "end", start, min(duration + 0.001, start + 10.0))
            width = _side(spec, "width", 640)
            if width is None or end <= start:
                raise ValidationError("render spec: width, end")
            job = images.AnimationSpec(
                start=start, end=end, width=width, fps=int(_num(spec, "fps", 1, 30)), format=fmt
            )
            run = images.render_animation
        else:
            raise ValidationError("render: unknown kind or format")
        store = self._media_store()
        location = store.source_of(video_id, run_id, source)
        if location is None:
            raise ValidationError("render: no such rendition")
        exe = ffmpeg_exe(self._settings.ffmpeg)
        with tempfile.TemporaryDirectory(prefix="render-") as tmp:
            out = Path(tmp) / name
            try:
                run(location, job, out, exe=exe, timeout=self._settings.render_timeout_seconds)
            except MediaError as exc:
                log.warning("render %s/%s/%s failed: %s", video_id, run_id, name, exc)
                return {"error": exc.to_dict()}
            size = out.stat().st_size
            store.put_file(video_id, run_id, name, out)
        return {"name": name, "size": size}


def _raise_failed(answer: Mapping[str, Any]) -> dict[str, Any]:
    error = answer.get("error")
    if isinstance(error, dict):
        raise DependencyError(
            f"the image could not be rendered: {error.get('message', '')}", code="RenderFailed"
        )
    return dict(answer)


class LocalRenderExecutor:
    """Renders in this process tree: at most `concurrency` at once (each one an ffmpeg child of
    about one GOP's decode), a caller waits at most `wait_seconds` for a slot, then 429."""

    def __init__(self, task: RenderTask, concurrency: int, wait_seconds: float) -> None:
        self._task = task
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._wait = wait_seconds

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        if not self._slots.acquire(timeout=self._wait):
            raise RateLimitedError(
                "the image renderer is busy; retry shortly", retry_after=1, code="RenderBusy"
            )
        try:
            return _raise_failed(self._task.handle(event))
        finally:
            self._slots.release()


class LambdaRenderInvoker:
    """The API's side in AWS: invoke the `renderer` function and wait for its answer. Its
    reserved concurrency bounds the renders; a throttled invoke is a 429 here."""

    def __init__(self, client: Callable[[], Any], function_name: str) -> None:
        self._client = client
        self._function = function_name

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        client = self._client()
        try:
            answer = client.invoke(
                FunctionName=self._function,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
        except client.exceptions.TooManyRequestsException:
            raise RateLimitedError(
                "the image renderer is busy; retry shortly", retry_after=1, code="RenderBusy"
            ) from None
        except Exception as exc:  # botocore's errors: the renderer is unavailable
            raise DependencyError("the image renderer is unavailable", code="RenderFailed") from exc
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError") or not isinstance(payload, dict):
            raise DependencyError("the image renderer failed", code="RenderFailed")
        return _raise_failed(payload)
