"""Run the processing stages of one probed source, concurrently where they are independent.

Three chains share a thread pool bounded by the CPUs this process may use:
  transcode (+ analysis) → vision    (one ffmpeg process decodes once for the ladder, the
                                     signal analysis and the storyboard; vision then reads
                                     its frames from the top rendition)
  thumbnail                          (required: the poster, a few seeked frames)
  subtitles                          (best effort; skipped with a reason when there is no model)
The work is in ffmpeg subprocesses or native code that releases the GIL, so threads suffice.
On two CPUs the second worker runs the short chains one after another beside the transcode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from chalicelib.media import analysis, subtitles, thumbnails, transcode
from chalicelib.media.errors import MediaError, scrub
from chalicelib.media.ffmpeg import available_cpus
from chalicelib.media.probe import ProbeResult
from chalicelib.processing.context import FAILED, OK, Cancelled, RunContext, StageReport, Stages

T = TypeVar("T")


@dataclass
class PipelineOutput:
    """Everything the stages produced (None where a stage did not complete)."""

    transcode: transcode.TranscodeResult | None = None
    poster: thumbnails.Poster | None = None
    storyboard: thumbnails.StoryboardPlan | None = None
    signals: analysis.Signals | None = None
    vision: dict[str, Any] | None = None
    transcript: subtitles.Transcript | None = None
    stages: dict[str, StageReport] = field(default_factory=dict)
    audio_size: int | None = None  # the audio-only download (transcode.AUDIO_NAME), when made
    translation: subtitles.Transcript | None = None  # English, when the speech is not


def run_pipeline(
    ctx: RunContext,
    work_dir: Path,
    info: ProbeResult,
    *,
    on_transcode_progress: Callable[[float], None] | None = None,
    max_workers: int | None = None,
) -> PipelineOutput:
    """Run every stage on work_dir/source; raise MediaError when a required stage fails."""
    out = PipelineOutput()
    workers = max_workers or max(1, min(3, available_cpus()))
    stages = Stages()
    source = work_dir / "source"

    def transcode_chain() -> None:
        plan = thumbnails.plan_storyboard(info)
        out.transcode = stages.run(
            "transcode",
            lambda: transcode.transcode(
                work_dir, info, exe=ctx.exe, timeout=ctx.timeout(info.duration),
                on_progress=on_transcode_progress, preset=ctx.preset,
                tap=analysis.SignalTap(info, plan),
            ),
            required=True,
        )  # fmt: skip
        assert out.transcode is not None
        # The analysis rode in the transcode's run: its own time is only the reading of the log.
        started = time.monotonic()
        out.signals = out.transcode.signals
        if out.signals is None:
            stages.record("analysis", FAILED, started, "The analysis produced no results.",
                          "StageError")  # fmt: skip
            stages.skip("vision", "Content analysis failed, so there are no scenes to look at.")
            return
        stages.record("analysis", OK, started)
        if out.signals.storyboard_written:
            out.storyboard = plan
        top = out.transcode.renditions[0]
        scenes = out.signals.scenes
        out.vision = stages.run(
            "vision",
            lambda: analysis.analyse_vision(work_dir / top.name, top.as_source(info), scenes),
            required=False,
        )

    def picture_chain() -> None:
        out.poster = stages.run(
            "thumbnail",
            lambda: thumbnails.extract_poster(
                work_dir, info, exe=ctx.exe, timeout=ctx.timeout(info.duration, 0.5, 120.0)
            ),
            required=True,
        )

    def subtitle_chain() -> None:
        # One thread at every size: a second one was 1.0-1.3x faster on the wall clock but cost
        # 5-18 % more CPU per media second (bench-whisper), and at ~11x realtime subtitles never
        # hold a video up; the cores are better spent on the encoders beside it.
        out.transcript = transcribe(
            stages, ctx, info, lambda model: subtitles.transcribe(
                source, model, cpu_threads=1,
                audio_index=info.audio_track.index if info.audio_track else 0, exe=ctx.exe,
            ),
        )  # fmt: skip
        out.translation = translation(stages, ctx, out.transcript, lambda model, language: (
            subtitles.translate(
                source, model, language, cpu_threads=1,
                audio_index=info.audio_track.index if info.audio_track else 0, exe=ctx.exe,
            )
        ))  # fmt: skip

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media") as pool:
        futures = [pool.submit(c) for c in (transcode_chain, picture_chain, subtitle_chain)]
        errors: list[BaseException] = []
        for f in futures:
            try:
                f.result()
            except Cancelled:
                continue
            except BaseException as exc:
                errors.append(exc)
    out.stages = dict(stages.reports)
    if errors:  # the video's own problem first, else whatever broke
        raise next((e for e in errors if isinstance(e, MediaError)), errors[0])
    return out


def transcribe(
    stages: Stages,
    ctx: RunContext,
    info: ProbeResult,
    fn: Callable[[str], T],
) -> T | subtitles.Transcript | None:
    """The subtitles stage, the same on both paths: best effort (a failure is a report), skipped
    with the model's reason when speech to text is off, an empty transcript (completed) when the
    video has no sound. `fn(model)` transcribes (the whole source, or a segment's window)."""
    model = ctx.whisper.model
    if model is None:
        stages.skip("subtitles", scrub(ctx.whisper.reason))  # never a server path
        return None
    if not info.has_audio:
        # Not a failure: a video without sound simply has nothing to caption.
        return stages.run("subtitles", subtitles.Transcript, required=False)
    return stages.run("subtitles", lambda: fn(model), required=False)


def translation(
    stages: Stages,
    ctx: RunContext,
    heard: Any,
    fn: Callable[[str, str], T],
) -> T | None:
    """The translation stage (`VIDEO_SUBTITLE_TRANSLATE=en`), the same on both paths: best
    effort, run only when speech was heard in another language; `fn(model, language)`."""
    target = ctx.settings.subtitle_translate
    model = ctx.whisper.model
    language = (
        getattr(heard, "language", None) if not isinstance(heard, dict) else heard.get("language")
    )
    if not target or not model or language in (None, target):
        return None
    return stages.run("translation", lambda: fn(model, str(language)), required=False)
