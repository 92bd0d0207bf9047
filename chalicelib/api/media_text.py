"""A video's words and ranges: the transcript as data (formats, search) and clips.

The transcript is `transcript.json` in the video's completed run (written by the processing
stages: media/subtitles.to_document); this module only reads and reshapes it, so the API's cold
path imports no media module. Clips:
- `instant`: a playlist over the completed run's own HLS segments, the ones that overlap the
  range (segment-accurate: the ladder's segments are 2 s), served signed by
  `GET /videos/{id}/clip/{range}/{name}`; nothing is encoded.
- `exact` (the default): a new video whose `clipOf` names the source and the range; processing
  trims the source to the range before anything else (frame-accurate), then runs as usual.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.api.render import MediaRenderer
from chalicelib.api.schemas import Choice, Number, Object, Query, Text
from chalicelib.api.signing import UrlSigner
from chalicelib.api.streaming import is_stream_document, rewrite_references
from chalicelib.config import Settings
from chalicelib.domain import ACTIVE, VideoStatus, is_video_id, new_video_id, utc_now
from chalicelib.domain.access import Principal
from chalicelib.errors import ConflictError, NotFoundError, RateLimitedError, ValidationError
from chalicelib.media_store.base import MediaRef, MediaStore
from chalicelib.store.base import Videos

TRANSCRIPT_NAME = "transcript.json"  # media/subtitles.TRANSCRIPT_NAME
MASTER_PLAYLIST = "hls_master.m3u8"  # media/transcode.MASTER_PLAYLIST (items without masterUrl)
COMPLETED = VideoStatus.COMPLETED.value
MAX_SECONDS = 7 * 24 * 3600.0
MAX_MATCHES = 500
CLIP_RANGE_RE = re.compile(r"^(0|[1-9][0-9]{0,9})-([1-9][0-9]{0,9})$")  # milliseconds
_NON_WORD = re.compile(r"[^\w']+|^'+|'+$")

TRANSCRIPT_PARAMS = Query(
    {
        "format": Choice(
            ["json", "txt", "vtt", "srt"],
            default="json",
            description="`json` (segments with word times), `txt` (plain text, one segment a "
            "line), `vtt` (WebVTT) or `srt` (SubRip).",
        ),
        "q": Text(
            max_length=200,
            non_blank=True,
            message="q must be a non-blank search",
            description="Search the words: every place where consecutive words start with the "
            "words of `q` (case ignored) → `{matches: [{start, end, text}]}`, times from the "
            "first and last matching word, `text` the segment it begins in.",
            example="hello",
        ),
    }
)
NEW_CLIP = Object(
    {
        "start": Number(minimum=0, maximum=MAX_SECONDS, description="Seconds from the start."),
        "end": Number(minimum=0, maximum=MAX_SECONDS, description="Seconds, after `start`."),
        "mode": Choice(
            ["exact", "instant"],
            default="exact",
            description="`instant`: a signed playlist over the video's own segments (the "
            "range widened to segment boundaries, nothing encoded), 200. `exact`: a new video "
            "of exactly the range (frame-accurate), processed like any other, 201.",
        ),
        "title": Text(max_length=200, non_blank=True, strip=True, description="exact only"),
    },
    required=("start", "end"),
)


def clip_range_name(start: float, end: float) -> str:
    """The `{range}` path part of an instant clip: milliseconds `start-end`."""
    return f"{round(start * 1000)}-{round(end * 1000)}"


def _norm(word: str) -> str:
    return _NON_WORD.sub("", word.casefold())


def search(doc: Mapping[str, Any], q: str) -> list[dict[str, Any]]:
    """Where the words of `q` start consecutive words of the transcript (case-insensitive
    prefixes), with the matched words' times."""
    terms = [t for t in (_norm(w) for w in q.split()) if t]
    if not terms:
        return []
    words: list[tuple[float, float, str, int]] = []  # start, end, normalised, segment index
    segments = doc.get("segments") or []
    for i, seg in enumerate(segments):
        timed = seg.get("words") or [
            {"start": seg["start"], "end": seg["end"], "word": w} for w in seg["text"].split()
        ]
        for w in timed:
            norm = _norm(str(w["word"]))
            if norm:
                words.append((float(w["start"]), float(w["end"]), norm, i))
    matches = []
    for k in range(len(words) - len(terms) + 1):
        if all(words[k + j][2].startswith(t) for j, t in enumerate(terms)):
            first, last = words[k], words[k + len(terms) - 1]
            matches.append({"start": first[0], "end": last[1], "text": segments[first[3]]["text"]})
            if len(matches) >= MAX_MATCHES:
                break
    return matches


def _time(seconds: float, sep: str = ".") -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(doc: Mapping[str, Any], fmt: str) -> tuple[str, str]:
    """The transcript as text: (body, content type)."""
    segments = doc.get("segments") or []
    if fmt == "txt":
        return "".join(f"{s['text']}\n" for s in segments), "text/plain; charset=utf-8"
    if fmt == "srt":
        lines: list[str] = []
        for i, s in enumerate(segments, start=1):
            times = f"{_time(s['start'], ',')} --> {_time(s['end'], ',')}"
            lines += [str(i), times, s["text"], ""]
        return "\n".join(lines), "application/x-subrip; charset=utf-8"
    lines = ["WEBVTT", ""]
    for s in segments:
        lines += [f"{_time(s['start'])} --> {_time(s['end'])}", s["text"], ""]
    return "\n".join(lines), "text/vtt; charset=utf-8"


def trim_playlist(text: str, start: float, end: float) -> tuple[str, float, float]:
    """A VOD media playlist cut to the segments that overlap [start, end): (playlist, the
    covered start, the covered end)."""
    head: list[str] = []
    segments: list[tuple[float, float, list[str]]] = []  # start, duration, lines
    pending: list[str] = []
    t = 0.0
    for line in text.splitlines():
        s = line.strip()
        if not s or s == "#EXT-X-ENDLIST":
            continue
        if s.startswith("#EXTINF:"):
            pending.append(s)
        elif s.startswith("#") and not pending:
            if not s.startswith("#EXT-X-MEDIA-SEQUENCE"):
                head.append(s)
        elif s.startswith("#"):
            pending.append(s)
        else:
            duration = float(pending[0][8:].split(",")[0]) if pending else 0.0
            segments.append((t, duration, [*pending, s]))
            t += duration
            pending = []
    kept = [(i, seg) for i, seg in enumerate(segments) if seg[0] < end and seg[0] + seg[1] > start]
    if not kept:
        kept = [(len(segments) - 1, segments[-1])] if segments else []
    out = [*head, f"#EXT-X-MEDIA-SEQUENCE:{kept[0][0] if kept else 0}"]
    for _, (_, _, lines) in kept:
        out += lines
    out.append("#EXT-X-ENDLIST")
    covered = (kept[0][1][0], kept[-1][1][0] + kept[-1][1][1]) if kept else (0.0, 0.0)
    return "\n".join(out) + "\n", round(covered[0], 3), round(covered[1], 3)


def _clip_of(source: Mapping[str, Any], video_id: str, start: float, end: float) -> dict[str, Any]:
    """`clipOf` of a new exact clip. A clip of a clip is cut from the same original source:
    `sourceRange` then says where its range lies there (processing reads it)."""
    out: dict[str, Any] = {"videoId": video_id, "start": start, "end": end}
    parent = source.get("clipOf")
    if isinstance(parent, dict):
        offset = float((parent.get("sourceRange") or [parent["start"]])[0])
        out["sourceRange"] = [round(offset + start, 6), round(offset + end, 6)]
    return out


class MediaTextService:
    """The transcript route, clips (instant and exact) and instant clips' playlists."""

    def __init__(
        self,
        store: Videos,
        settings: Settings,
        renderer: MediaRenderer,
        signer: UrlSigner,
        media_store: Callable[[], MediaStore],
        process: Callable[[list[str], Principal], Any],
    ) -> None:
        self._store = store
        self._settings = settings
        self._renderer = renderer
        self._signer = signer
        self._media_store = media_store
        self._process = process

    def _owned(self, video_id: str, actor: Principal) -> dict[str, Any]:
        item = self._store.get(video_id) if is_video_id(video_id) else None
        if item is None or item.get("workspace") != actor.workspace:
            raise NotFoundError(f"video {video_id!r} not found")
        return item

    def _completed(self, item: dict[str, Any]) -> str:
        run_id = item.get("runId")
        if item.get("status") != COMPLETED or not run_id:
            raise ConflictError(
                f"video {item['id']!r} is {item.get('status')}, not completed",
                details={"status": item.get("status")},
            )
        return str(run_id)

    def transcript(
        self, video_id: str, actor: Principal, params: Mapping[str, str] | None
    ) -> tuple[Any, str]:
        """(body, content type): the JSON document, a text format, or the search's matches."""
        query = TRANSCRIPT_PARAMS.check(params)
        item = self._owned(video_id, actor)
        run_id = self._completed(item)
        text = self._media_store().read_text(video_id, run_id, TRANSCRIPT_NAME)
        if text is None:
            reason = (item.get("subtitles") or {}).get("reason") or "no speech to text ran"
            raise NotFoundError(f"this video has no transcript: {reason}")
        doc = json.loads(text)
        if "q" in query:
            return {"matches": search(doc, query["q"])}, "application/json"
        if query["format"] == "json":
            return doc, "application/json"
        return render(doc, query["format"])

    def clip(self, video_id: str, body: Any, actor: Principal) -> tuple[int, dict[str, Any]]:
        fields = NEW_CLIP.check(body)
        item = self._owned(video_id, actor)
        start, end = fields["start"], fields["end"]
        duration = float((item.get("transcoding") or {}).get("duration") or 0.0)
        run_id = self._completed(item)
        if not 0 <= start < end <= duration + 1e-6:
            raise ValidationError(
                f"the range must satisfy 0 <= start < end <= duration ({duration:g} s)",
                details={"field": "end" if start < end else "start", "duration": duration},
            )
        if fields["mode"] == "instant":
            return 200, self._instant(item, run_id, start, end)
        cap = self._settings.workspace_max_active
        if self._store.count_active(actor.workspace, ACTIVE, cap) >= cap:
            # checked again when it is queued; here so that a refused clip leaves no video behind
            raise RateLimitedError(
                f"this workspace may have at most {cap} videos queued or processing at once; "
                "try again when some have finished",
                retry_after=30,
            )
        title = fields.get("title") or f"{item.get('title', '')} ({start:g}-{end:g} s)"[:200]
        now = utc_now()
        clip: dict[str, Any] = {
            "id": new_video_id(),
            "title": title,
            "description": "",
            "sourceUrl": item["sourceUrl"],
            "clipOf": _clip_of(item, video_id, start, end),
            "status": VideoStatus.UPLOADED.value,
            "workspace": actor.workspace,
            "createdBy": actor.token_id,
            "createdAt": now,
            "updatedAt": now,
        }
        self._store.create(clip)
        self._process([clip["id"]], actor)
        return 201, self._renderer.item(self._store.get(clip["id"]) or clip)

    def _instant(
        self, item: Mapping[str, Any], run_id: str, start: float, end: float
    ) -> dict[str, Any]:
        video_id = str(item["id"])
        ref = MediaRef.parse(
            str(((item.get("transcoding") or {}).get("hls") or {}).get("masterUrl"))
        )
        name = ref.name if ref is not None else MASTER_PLAYLIST
        master = self._media_store().read_text(video_id, run_id, name)
        if master is None:
            raise NotFoundError("this video has no HLS playlist")
        first = next((ln for ln in master.splitlines() if ln.endswith(".m3u8")), None)
        covered = (start, end)
        text = self._media_store().read_text(video_id, run_id, first) if first else None
        if text is not None:
            _, a, b = trim_playlist(text, start, end)
            covered = (a, b)
        path = f"/videos/{video_id}/clip/{clip_range_name(start, end)}/{name}"
        return {
            "hlsUrl": self._signer.sign(f"{self._renderer.base_url()}{path}", path),
            "start": start,
            "end": end,
            "segmentStart": covered[0],
            "segmentEnd": covered[1],
        }

    def clip_document(self, video_id: str, range_: str, name: str) -> tuple[str, str]:
        """An instant clip's master or media playlist: the run's own, cut to the range, every
        reference signed (playlists through this route again, segments as media URLs)."""
        m = CLIP_RANGE_RE.match(range_)
        item = self._store.get(video_id) if is_video_id(video_id) else None
        run_id = item.get("runId") if item and item.get("status") == COMPLETED else None
        if not m or not run_id or not is_stream_document(name) or not name.endswith(".m3u8"):
            raise NotFoundError("no such clip document")
        start, end = int(m.group(1)) / 1000, int(m.group(2)) / 1000
        if start >= end:
            raise NotFoundError("no such clip document")
        text = self._media_store().read_text(video_id, run_id, name)
        if text is None:
            raise NotFoundError("no such clip document")
        base = f"/videos/{video_id}/clip/{range_}/"

        def url_for(ref: str) -> str:
            if ref.endswith(".m3u8"):
                return self._signer.sign(ref, base + ref)
            return self._renderer.file_url(video_id, run_id, ref)

        if "#EXT-X-STREAM-INF" not in text:
            text, _, _ = trim_playlist(text, start, end)
        return rewrite_references(text, url_for), "application/vnd.apple.mpegurl"
