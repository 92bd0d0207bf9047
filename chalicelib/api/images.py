"""Images on demand: `GET /videos/{id}/thumbnail.{fmt}` and `GET /videos/{id}/animated.{fmt}`.

The API validates the request, names the render after its canonical parameters
(`img-<hash>.<ext>`, a file of the completed run) and answers a redirect to that file. A file
that is not there yet is rendered first, where ffmpeg lives (`render`: the local render executor,
or the `renderer` function in AWS, chalicelib/tasks/render.py); nothing of the media pipeline is
imported here. The redirect goes to the run file's ordinary URL (a signed `/media` URL streamed
by the local server, a presigned S3 URL), so the API never carries an image body.

An `<img>` cannot send a header: these routes also take one signature per video, over
`/videos/{id}/images` (`images` on the item), valid for every size, time and format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.api.render import MediaRenderer
from chalicelib.api.schemas import Choice, Integer, Number, Query
from chalicelib.domain import VideoStatus, is_video_id
from chalicelib.domain.access import Principal
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.media_store.base import MediaRef
from chalicelib.store.base import Videos

THUMBNAIL_FORMATS = ("jpg", "png", "webp")
ANIMATED_FORMATS = ("webp", "gif")
FITS = ("contain", "cover", "fill", "pad")
MAX_SIDE = 3840
MAX_ANIMATED_SECONDS = 10.0
MAX_ANIMATED_WIDTH = 640
MAX_FPS = 30
SIGNED_KEYS = ("exp", "sig")
RENDER_VERSION = "1"  # part of every render's name: bump it when the output changes

THUMBNAIL_PARAMS = Query(
    {
        "time": Number(
            minimum=0,
            maximum=86400,
            description="Seconds from the start (default: the poster's time); must be before "
            "the end.",
        ),
        "width": Integer(minimum=16, maximum=MAX_SIDE, description="Width in pixels."),
        "height": Integer(minimum=16, maximum=MAX_SIDE, description="Height in pixels."),
        "fit": Choice(
            FITS,
            default="contain",
            description="With both sides: `contain` (inside the box), `cover` (fill it, "
            "cropped), `fill` (stretched), `pad` (inside it, black bars).",
        ),
    }
)
ANIMATED_PARAMS = Query(
    {
        "start": Number(minimum=0, maximum=86400, default=0.0, description="Seconds."),
        "end": Number(
            minimum=0,
            maximum=86400,
            description="Seconds (default: start + 5, at most the end); at most 10 s after start.",
        ),
        "width": Integer(minimum=16, maximum=MAX_ANIMATED_WIDTH, default=320, description="Px."),
        "fps": Integer(minimum=1, maximum=MAX_FPS, default=10, description="Frames per second."),
    }
)


def images_scope(video_id: str) -> str:
    """The path a video's image signature covers (one for every image route of the video)."""
    return f"/videos/{video_id}/images"


def _render_name(kind: str, spec: Mapping[str, Any], ext: str) -> str:
    canon = json.dumps({"k": kind, "v": RENDER_VERSION, **spec}, sort_keys=True)
    return f"img-{hashlib.sha256(canon.encode()).hexdigest()[:32]}.{ext}"


class ImageService:
    def __init__(
        self,
        store: Videos,
        renderer: MediaRenderer,
        has_file: Callable[[str, str, str], bool],
        render: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        self._store = store
        self._renderer = renderer
        self._has_file = has_file  # (video id, run id, name) -> the render is cached
        self._render = render  # the render event -> {"name", "size"}; raises ServiceErrors

    def _completed(self, video_id: str, actor: Principal | None) -> dict[str, Any]:
        item = self._store.get(video_id) if is_video_id(video_id) else None
        if item is None or (actor is not None and item.get("workspace") != actor.workspace):
            raise NotFoundError(f"video {video_id!r} not found")
        if item.get("status") != VideoStatus.COMPLETED.value or not item.get("runId"):
            raise ConflictError(
                f"video is {item.get('status')}; images exist once it is completed",
                details={"currentStatus": item.get("status")},
                code="VideoNotCompleted",
            )
        return item

    def thumbnail(
        self, video_id: str, fmt: str, params: Mapping[str, str] | None, actor: Principal | None
    ) -> str:
        """The URL of the frame at `time`, scaled (rendered first when not cached)."""
        found = THUMBNAIL_PARAMS.check(_without_signature(params))
        item = self._completed(video_id, actor)
        duration = _duration(item)
        poster = (item.get("thumbnail") or {}).get("captureTime") or 0.0
        # The poster's time by default (kept inside the video: a poster is never past its end)
        time = found.get("time", max(0.0, min(float(poster), duration - 0.05)))
        if time >= duration:
            raise ValidationError(
                f"time must be before the end of the video ({duration:.3f} s)",
                details={"field": "time", "reason": "TimeOutOfRange", "duration": duration},
            )
        spec = {
            "time": round(time, 3),
            "width": found.get("width"),
            "height": found.get("height"),
            "fit": found["fit"],
            "format": fmt,
        }
        return self._serve(item, "frame", spec, fmt)

    def animated(
        self, video_id: str, fmt: str, params: Mapping[str, str] | None, actor: Principal | None
    ) -> str:
        """The URL of an animated preview of `[start, end)`."""
        found = ANIMATED_PARAMS.check(_without_signature(params))
        item = self._completed(video_id, actor)
        duration = _duration(item)
        start = found["start"]
        end = found.get("end", min(start + 5.0, duration))
        if start >= duration:
            raise ValidationError(
                f"start must be before the end of the video ({duration:.3f} s)",
                details={"field": "start", "reason": "TimeOutOfRange", "duration": duration},
            )
        if end <= start or end > duration + 0.001:
            raise ValidationError(
                f"end must be after start and at most the video's duration ({duration:.3f} s)",
                details={"field": "end", "reason": "TimeOutOfRange", "duration": duration},
            )
        if end - start > MAX_ANIMATED_SECONDS + 1e-9:
            raise ValidationError(
                f"an animated preview spans at most {MAX_ANIMATED_SECONDS:g} s",
                details={"field": "end", "reason": "RangeTooLong"},
            )
        spec = {
            "start": round(start, 3),
            "end": round(end, 3),
            "width": found["width"],
            "fps": found["fps"],
            "format": fmt,
        }
        return self._serve(item, "animation", spec, fmt)

    def _serve(self, item: Mapping[str, Any], kind: str, spec: dict[str, Any], ext: str) -> str:
        video_id, run_id = str(item["id"]), str(item["runId"])
        source = _top_rendition(item, run_id)
        name = _render_name(kind, {**spec, "source": source}, ext)
        if not self._has_file(video_id, run_id, name):
            self._render(
                {
                    "videoId": video_id,
                    "runId": run_id,
                    "source": source,
                    "kind": kind,
                    "spec": spec,
                    "name": name,
                    "duration": _duration(item),
                }
            )
        return self._renderer.file_url(video_id, run_id, name)


def _without_signature(params: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (params or {}).items() if k not in SIGNED_KEYS}


def _duration(item: Mapping[str, Any]) -> float:
    transcoding = item.get("transcoding") or {}
    media = item.get("media") or {}
    return float(transcoding.get("duration") or media.get("duration") or 0.0)


def _top_rendition(item: Mapping[str, Any], run_id: str) -> str:
    """The name of the run's largest MP4 rendition (the images are made from it), H.264
    before AV1 at the same height (cheaper to decode)."""
    formats = (item.get("transcoding") or {}).get("formats") or []
    best: tuple[tuple[int, bool], str] | None = None
    for f in formats:
        ref = MediaRef.parse(str(f.get("url", "")))
        if ref is not None and ref.run_id == run_id and ref.name.endswith(".mp4"):
            rank = (int(f.get("height") or 0), f.get("codec") != "av1")
            if best is None or rank > best[0]:
                best = (rank, ref.name)
    if best is None:
        raise ConflictError("the video has no rendition to render from", code="NoRendition")
    return best[1]
