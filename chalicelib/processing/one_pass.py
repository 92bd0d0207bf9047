"""One processing job: fetch, probe, run the pipeline's stages, publish, build the result.

`run_processing` is the media layer's entry point (the processor task calls it).

Heavy media libraries are imported lazily (inside the media modules' functions), so importing
this module costs the API nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.media.cost import CostMeter
from chalicelib.media.errors import MediaError
from chalicelib.media_store.base import MediaStore
from chalicelib.processing.context import (
    OK,
    PROGRESS_ENCODED,
    PROGRESS_STARTED,
    ProgressReporter,
    RunContext,
    Stages,
    media_progress,
    new_run_id,
)
from chalicelib.processing.result import (
    ANALYSIS_JSON,
    analysis_fields,
    build_result,
    chapters_of,
)


def run_processing(
    video_id: str,
    source_url: str,
    settings: Settings,
    media_store: MediaStore,
    on_progress: Callable[[int], None],
    *,
    s3_client: Any = None,
    work_root: Path | None = None,
    info: Any = None,
    probe_ms: int = 0,
    trim: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Process one video and return the fields to merge into its item.

    `info` is the source's probe when the caller already made it (`segmented.prepare`, through
    a URL): it is not probed a second time.

    `trim` (a clip's `start, end` in the source) cuts the source to that range right after the
    fetch (media/filters.trim_args: frame-accurate); every stage then sees only the clip.

    Raises MediaError (code + message) when the input is the problem; temp files are always
    removed. `outputPrefix`/`runId` name the new run: switch the item to it, then call
    `media_store.delete_other_runs(video_id, runId)`.
    """
    from chalicelib.media import fetch, probe
    from chalicelib.processing import pipeline

    started = time.monotonic()
    ctx = RunContext(settings, work_root)
    meter = CostMeter(settings.price_per_env_hour)
    progress = ProgressReporter(on_progress)
    run_id = new_run_id()
    stages = Stages()
    with ctx.work_dir("run-") as work_dir:
        stages.run("fetch", lambda: fetch.fetch_source(
            source_url, work_dir, source_roots=settings.source_roots,
            max_bytes=settings.max_source_bytes, s3_client=s3_client,
        ), required=True)  # fmt: skip
        if info is None:
            info = stages.run("probe", lambda: probe.probe(
                work_dir / fetch.SOURCE_NAME, max_duration=settings.max_duration_seconds,
                exe=ctx.exe,  # the idet pass, when the field order is in doubt
            ), required=True)  # fmt: skip
            assert info is not None
        else:  # probed by `segmented.prepare`, through the source's URL
            stages.record("probe", OK, ms=probe_ms)
        if trim is not None:
            info = stages.run("trim", lambda: trim_source(ctx, work_dir, info, *trim),
                              required=True)  # fmt: skip
            assert info is not None
        progress.report(PROGRESS_STARTED)

        out = pipeline.run_pipeline(
            ctx, work_dir, info,
            on_transcode_progress=lambda f: progress.report(media_progress(f)),
        )  # fmt: skip
        stages.reports.update(out.stages)
        progress.report(PROGRESS_ENCODED)
        if out.transcode is not None:
            top = work_dir / out.transcode.renditions[0].name
            out.audio_size = write_audio(ctx, stages, info, str(top), work_dir)

        t0 = time.monotonic()
        names = write_documents(work_dir, out, info.duration)
        prefix = media_store.publish(video_id, run_id, [work_dir / n for n in names])
        stages.record("publish", OK, t0)
        result = build_result(video_id, run_id, prefix, info=info, out=out)
        result["stages"] = stages.to_dict()
        result["processingTimeMs"] = int((time.monotonic() - started) * 1000)
        result["cost"] = meter.block(info.duration, result["stages"])
        progress.report(100)
        return result


def write_audio(ctx: RunContext, stages: Stages, info: Any, top: str, work_dir: Path) -> int | None:
    """The audio-only download (both paths): the top rendition's AAC copied into
    `audio.m4a` in `work_dir`; its size, or None without audio (or when it failed: recorded as
    the `audio` stage, the run still completes)."""
    from chalicelib.media import transcode

    if not info.has_audio:
        return None
    return stages.run("audio", lambda: transcode.extract_audio(
        top, work_dir / transcode.AUDIO_NAME, exe=ctx.exe, timeout=ctx.timeout(info.duration, 0.2),
    ), required=False)  # fmt: skip


def trim_source(ctx: RunContext, work_dir: Path, info: Any, start: float, end: float) -> Any:
    """Replace work_dir/source by its [start, end) (a clip), and probe the cut."""
    from chalicelib.media import fetch, filters, probe
    from chalicelib.media.ffmpeg import run_ffmpeg

    source = work_dir / fetch.SOURCE_NAME
    if not 0 <= start < end <= info.duration + 0.5:
        raise MediaError("InvalidRange", f"The clip {start:g}-{end:g} s is outside the source.")
    out = work_dir / filters.TRIM_NAME  # lossless (x264 qp 0 or FFV1) + FLAC
    run_ffmpeg(filters.trim_args(info, start, end, str(source), str(out)), exe=ctx.exe,
               timeout=ctx.timeout(end - start), cwd=work_dir, error_code="TrimFailed",
               what="Cutting the clip")  # fmt: skip
    out.replace(source)
    return probe.probe(source, max_duration=ctx.settings.max_duration_seconds, exe=ctx.exe)


def write_documents(work_dir: Path, out: Any, duration: float) -> list[str]:
    """Write VTT/SRT/JSON documents and list every file of the run (flat names)."""
    from chalicelib.media import chapters, subtitles, thumbnails

    assert out.transcode is not None and out.poster is not None
    names = [out.poster.name, out.transcode.master_playlist]
    for r in out.transcode.renditions:
        names += [r.name, r.playlist]
        names += sorted(p.name for p in work_dir.glob(f"hls_{r.quality}_*.ts"))
    if out.storyboard is not None:
        vtt = thumbnails.storyboard_vtt(out.storyboard, duration, thumbnails.STORYBOARD_NAME)
        (work_dir / thumbnails.STORYBOARD_VTT).write_text(vtt, encoding="utf-8")
        names += [thumbnails.STORYBOARD_NAME, thumbnails.STORYBOARD_VTT]
    if out.transcript is not None:
        names += list(subtitles.write_subtitles(work_dir, out.transcript))
    if getattr(out, "audio_size", None) is not None:
        from chalicelib.media.transcode import AUDIO_NAME

        names.append(AUDIO_NAME)
    if out.translation is not None:
        names += list(subtitles.write_track(work_dir, out.translation, "en"))
    (work_dir / chapters.CHAPTERS_VTT).write_text(
        chapters.to_vtt(chapters_of(out, duration)), encoding="utf-8"
    )
    names.append(chapters.CHAPTERS_VTT)
    if out.signals is not None:
        doc = analysis_fields(out)
        (work_dir / ANALYSIS_JSON).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        names.append(ANALYSIS_JSON)
    return names


__all__ = [
    "MediaError",
    "ProgressReporter",
    "new_run_id",
    "run_processing",
    "write_audio",
    "write_documents",
]
