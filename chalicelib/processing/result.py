"""The shape of a completed run's result on the item, built in this one place."""

from __future__ import annotations

from typing import Any

from chalicelib.media import chapters, subtitles, thumbnails
from chalicelib.media.probe import ProbeResult
from chalicelib.media.transcode import AUDIO_NAME
from chalicelib.media_store.base import MediaRef
from chalicelib.processing.pipeline import PipelineOutput, StageReport

ANALYSIS_JSON = "analysis.json"


def analysis_fields(out: PipelineOutput) -> dict[str, Any]:
    s = out.signals
    assert s is not None, "analysis fields exist only when the analysis pass ran"
    vision = out.vision or {}
    return {
        "scenes": s.scenes,
        "sceneCuts": s.cuts,
        "blackSegments": s.black_segments,
        "silences": s.silences,
        "loudness": s.loudness,
        "faces": vision.get("faces") if out.vision is not None else None,
        "text": vision.get("text") if out.vision is not None else None,
        "framesAnalysed": vision.get("framesAnalysed", []),
    }


def chapters_of(out: PipelineOutput, duration: float) -> list[dict[str, Any]]:
    """The video's chapters (media/chapters.py) from its scenes, silences and transcript."""
    s = out.signals
    cues = out.transcript.cues if out.transcript is not None else []
    scenes, silences = (s.scenes, s.silences) if s is not None else ([], [])
    return chapters.chapters(duration, scenes, silences, cues)


def build_result(
    video_id: str, run_id: str, prefix: str, *, info: ProbeResult, out: PipelineOutput
) -> dict[str, Any]:
    """The fields a completed run writes on the item. File locations are `MediaRef`s, which
    the API renders into URLs when the item is read."""

    def url(name: str) -> str:
        return str(MediaRef(video_id, run_id, name))

    tr = out.transcode
    assert tr is not None and out.poster is not None
    result: dict[str, Any] = {
        "media": info.media_fields(),
        "thumbnail": {
            "url": url(out.poster.name),
            "width": out.poster.width,
            "height": out.poster.height,
            "captureTime": out.poster.capture_time,
        },
        "transcoding": {
            "formats": [
                {
                    "quality": r.quality,
                    "width": r.width,
                    "height": r.height,
                    "url": url(r.name),
                    "size": r.size,
                    "bitrate": r.bitrate,
                    "hlsUrl": url(r.playlist),
                }
                for r in tr.renditions
            ],
            "hls": {"masterUrl": url(tr.master_playlist)},
            "duration": info.duration,
            "encodeMs": int(tr.seconds * 1000),
        },
        "outputPrefix": prefix,
        "runId": run_id,
    }
    # Downloads (issue 26): each MP4 rendition and the audio-only M4A; the API renders them
    # with an attachment name "<title>-<quality>.<ext>".
    result["downloads"] = [
        {"quality": r.quality, "format": "mp4", "url": url(r.name), "size": r.size}
        for r in tr.renditions
    ]
    if out.audio_size is not None:
        result["downloads"].append(
            {"quality": "audio", "format": "m4a", "url": url(AUDIO_NAME), "size": out.audio_size}
        )
    if out.storyboard is not None:
        sb = out.storyboard
        result["storyboard"] = {
            "url": url(thumbnails.STORYBOARD_NAME),
            "vttUrl": url(thumbnails.STORYBOARD_VTT),
            "interval": sb.interval,
            "count": sb.count,
            "columns": sb.columns,
            "rows": sb.rows,
            "tileWidth": sb.tile_width,
            "tileHeight": sb.tile_height,
        }
    else:
        result["storyboard"] = _not_done(out.stages.get("analysis"))
    if out.signals is not None:
        result["analysis"] = {**analysis_fields(out), "url": url(ANALYSIS_JSON)}
    else:
        result["analysis"] = _not_done(out.stages.get("analysis"))
    if out.transcript is not None:
        t = out.transcript
        result["subtitles"] = {
            "status": "completed",
            "language": t.language,
            "languageProbability": t.language_probability,
            "vttUrl": url(subtitles.VTT_NAME),
            "srtUrl": url(subtitles.SRT_NAME),
            "transcriptUrl": url(subtitles.TRANSCRIPT_NAME),
            "wordCount": t.word_count,
            "tracks": _tracks(out, url),
        }
    else:
        result["subtitles"] = _not_done(out.stages.get("subtitles"))
    result["chapters"] = chapters_of(out, info.duration)
    result["chaptersVttUrl"] = url(chapters.CHAPTERS_VTT)
    return result


def _tracks(out: PipelineOutput, url: Any) -> list[dict[str, Any]]:
    """Every subtitle track: the speech as heard, then its English translation if made."""
    t = out.transcript
    assert t is not None
    tracks = [
        {
            "language": t.language,
            "kind": "transcript",
            "vttUrl": url(subtitles.VTT_NAME),
            "srtUrl": url(subtitles.SRT_NAME),
        }
    ]
    if out.translation is not None:
        vtt, srt = subtitles.track_names("en")
        tracks.append(
            {"language": "en", "kind": "translation", "vttUrl": url(vtt), "srtUrl": url(srt)}
        )
    return tracks


def _not_done(report: StageReport | None) -> dict[str, Any]:
    if report is None:
        return {"status": "skipped", "reason": "The stage did not run."}
    return {"status": report.status, "reason": report.reason or "The stage did not complete."}
