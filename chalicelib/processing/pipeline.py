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

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.media import analysis, subtitles, thumbnails, transcode
from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import available_cpus
from chalicelib.media.probe import ProbeResult
from chalicelib.media.whisper_model import ModelChoice

OK, SKIPPED, FAILED = "completed", "skipped", "failed"


def ffmpeg_timeout(
    duration: float, per_media_second: float, floor: float, fixed: float = 0.0
) -> float:
    """Timeout for one ffmpeg run: `fixed` when set (> 0), else estimated from the duration."""
    return fixed if fixed > 0 else floor + per_media_second * duration


@dataclass
class StageReport:
    """Outcome of one stage: status (completed/skipped/failed), wall time, why when not done."""

    status: str
    ms: int
    reason: str | None = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `stages.{name}` shape stored on the item."""
        out: dict[str, Any] = {"status": self.status, "ms": self.ms}
        if self.reason:
            out["reason"] = self.reason
        if self.code:
            out["code"] = self.code
        return out


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


class _Cancelled(Exception):
    pass


def run_pipeline(  # noqa: C901 - the stage closures share one cancel flag, lock and output
    work_dir: Path,
    info: ProbeResult,
    *,
    exe: str,
    whisper: ModelChoice,
    on_transcode_progress: Callable[[float], None] | None = None,
    max_workers: int | None = None,
    preset: str = "veryfast",
    fixed_timeout: float = 0.0,
) -> PipelineOutput:
    """Run every stage on work_dir/source; raise MediaError when a required stage fails."""
    out = PipelineOutput()
    cpus = available_cpus()
    workers = max_workers or max(1, min(3, cpus))
    cancel = threading.Event()
    lock = threading.Lock()
    source = work_dir / "source"

    def stage(name: str, fn: Callable[[], Any], *, required: bool) -> Any:
        """Time one stage and record it; optional stages turn errors into a `failed` report."""
        if cancel.is_set():
            raise _Cancelled
        started = time.monotonic()
        try:
            value = fn()
        except MediaError as exc:
            _record(name, FAILED, started, exc.message, exc.code)
            if required:
                cancel.set()
                raise
            return None
        except Exception as exc:
            _record(name, FAILED, started, f"{type(exc).__name__}: {exc}"[:300], "StageError")
            if required:
                cancel.set()
                raise
            return None
        _record(name, OK, started)
        return value

    def _record(
        name: str, status: str, started: float, reason: str | None = None, code: str | None = None
    ) -> None:
        ms = int((time.monotonic() - started) * 1000)
        with lock:
            out.stages[name] = StageReport(status, ms, reason, code)

    def skip(name: str, reason: str) -> None:
        with lock:
            out.stages[name] = StageReport(SKIPPED, 0, reason)

    def timeout(per_media_second: float, floor: float) -> float:
        return ffmpeg_timeout(info.duration, per_media_second, floor, fixed_timeout)

    def transcode_chain() -> None:
        plan = thumbnails.plan_storyboard(info)
        out.transcode = stage(
            "transcode",
            lambda: transcode.transcode(
                work_dir, info, exe=exe, timeout=timeout(20.0, 300.0),
                on_progress=on_transcode_progress, preset=preset,
                tap=analysis.SignalTap(info, plan),
            ),
            required=True,
        )  # fmt: skip
        # The analysis rode in the transcode's run: its own time is only the reading of the log.
        started = time.monotonic()
        out.signals = out.transcode.signals
        if out.signals is None:
            _record("analysis", FAILED, started, "The analysis produced no results.", "StageError")
            skip("vision", "Content analysis failed, so there are no scenes to look at.")
            return
        _record("analysis", OK, started)
        if out.signals.storyboard_written:
            out.storyboard = plan
        top = out.transcode.renditions[0]
        scenes = out.signals.scenes
        out.vision = stage(
            "vision",
            lambda: analysis.analyse_vision(work_dir / top.name, top.as_source(info), scenes),
            required=False,
        )

    def picture_chain() -> None:
        out.poster = stage(
            "thumbnail",
            lambda: thumbnails.extract_poster(
                work_dir,
                info,
                exe=exe,
                timeout=timeout(0.5, 120.0),
            ),
            required=True,
        )

    def subtitle_chain() -> None:
        if whisper.model is None:
            skip("subtitles", whisper.reason)
            return
        if not info.has_audio:
            # Not a failure: a video without sound simply has nothing to caption.
            out.transcript = stage("subtitles", subtitles.Transcript, required=False)
            return
        model = whisper.model
        # One thread at every size: a second one was 1.0-1.3x faster on the wall clock but cost
        # 5-18 % more CPU per media second (bench-whisper), and at ~11x realtime subtitles never
        # hold a video up; the cores are better spent on the encoders beside it.
        threads = 1
        out.transcript = stage(
            "subtitles",
            lambda: subtitles.transcribe(
                source,
                model,
                cpu_threads=threads,
                audio_index=info.audio_track.index if info.audio_track else 0,
                exe=exe,
            ),
            required=False,
        )

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media") as pool:
        futures = [pool.submit(c) for c in (transcode_chain, picture_chain, subtitle_chain)]
        errors: list[BaseException] = []
        for f in futures:
            try:
                f.result()
            except _Cancelled:
                continue
            except BaseException as exc:
                errors.append(exc)
    media_errors = [e for e in errors if isinstance(e, MediaError)]
    if media_errors:
        raise media_errors[0]
    if errors:
        raise errors[0]
    return out
