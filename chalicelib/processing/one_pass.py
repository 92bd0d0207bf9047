"""One processing job: fetch, probe, run the pipeline's stages, publish, build the result.

`run_processing` is the media layer's entry point (the processor task calls it).

Heavy media libraries are imported lazily (inside the media modules' functions), so importing
this module costs the API nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.media.cost import CostMeter
from chalicelib.media.errors import MediaError
from chalicelib.media_store.base import MediaStore
from chalicelib.processing.result import ANALYSIS_JSON, analysis_fields, build_result

PROGRESS_INTERVAL_SECONDS = 2.0
# Share of the progress bar before and after the transcode (which drives the middle part).
_PROGRESS_FETCHED, _PROGRESS_TRANSCODED = 5, 95


class ProgressReporter:
    """Forwards a rising 0-100 percent to `callback`, at most once per `interval` seconds.

    The callback writes to the database, so repeats and bursts are dropped; a value is never
    reported lower than one already sent (ffmpeg's per-output progress can step back).
    """

    def __init__(
        self,
        callback: Callable[[int], None],
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._interval = interval
        self._clock = clock
        self._last_time: float | None = None
        self._last_value = -1
        self._lock = threading.Lock()

    def report(self, percent: float) -> None:
        """Offer a value; it is sent only when higher than the last one and the interval passed."""
        value = max(0, min(100, int(percent)))
        with self._lock:
            now = self._clock()
            if value <= self._last_value:
                return
            if self._last_time is not None and now - self._last_time < self._interval:
                return
            self._last_time, self._last_value = now, value
        self._callback(value)


def new_run_id() -> str:
    """Time-ordered, unique run id: `20260101T120000Z-1a2b3c4d`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def _work_root(settings: Settings) -> Path | None:
    """Where private temp dirs go: `Settings.tmp_dir`, else (local mode) beside the media dir so
    publishing is a rename, else the system temp dir (/tmp on Lambda)."""
    if settings.tmp_dir is not None:
        return settings.tmp_dir
    if settings.is_local:
        return settings.data_dir / "work"
    return None


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
) -> dict[str, Any]:
    """Process one video and return the fields to merge into its item.

    `info` is the source's probe when the caller already made it (`segmented.prepare`, through
    a URL): it is not probed a second time.

    Raises MediaError (code + message) when the input is the problem; temp files are always
    removed. `outputPrefix`/`runId` name the new run: switch the item to it, then call
    `media_store.delete_other_runs(video_id, runId)`.
    """
    from chalicelib.media import fetch, probe
    from chalicelib.media.ffmpeg import ffmpeg_exe
    from chalicelib.media.whisper_model import resolve_whisper_model
    from chalicelib.processing import pipeline

    started = time.monotonic()
    meter = CostMeter(settings.price_per_env_hour)
    progress = ProgressReporter(on_progress)
    run_id = new_run_id()
    root = work_root or _work_root(settings)
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="run-", dir=root))  # mode 0700: private
    stages: dict[str, dict[str, Any]] = {}
    try:
        t0 = time.monotonic()
        fetch.fetch_source(
            source_url,
            work_dir,
            source_roots=settings.source_roots,
            max_bytes=settings.max_source_bytes,
            s3_client=s3_client,
        )
        stages["fetch"] = _done(t0)
        t0 = time.monotonic()
        if info is None:
            info = probe.probe(
                work_dir / fetch.SOURCE_NAME,
                max_duration=settings.max_duration_seconds,
                exe=ffmpeg_exe(settings.ffmpeg),  # the idet pass, when the field order is in doubt
            )
            probe_ms = int((time.monotonic() - t0) * 1000)
        stages["probe"] = {"status": "completed", "ms": probe_ms}
        progress.report(_PROGRESS_FETCHED)

        span = _PROGRESS_TRANSCODED - _PROGRESS_FETCHED
        out = pipeline.run_pipeline(
            work_dir,
            info,
            exe=ffmpeg_exe(settings.ffmpeg),
            whisper=resolve_whisper_model(settings.whisper_model, settings.data_dir),
            on_transcode_progress=lambda f: progress.report(_PROGRESS_FETCHED + span * f),
            preset=settings.x264_preset,
            fixed_timeout=settings.ffmpeg_timeout_seconds,
        )
        stages.update({k: v.to_dict() for k, v in out.stages.items()})
        progress.report(_PROGRESS_TRANSCODED)

        t0 = time.monotonic()
        names = _write_documents(work_dir, out, info.duration)
        prefix = media_store.publish(video_id, run_id, [work_dir / n for n in names])
        stages["publish"] = _done(t0)
        result = build_result(video_id, run_id, prefix, info=info, out=out)
        result["stages"] = stages
        result["processingTimeMs"] = int((time.monotonic() - started) * 1000)
        result["cost"] = meter.block(info.duration, stages)
        progress.report(100)
        return result
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _done(t0: float) -> dict[str, Any]:
    return {"status": "completed", "ms": int((time.monotonic() - t0) * 1000)}


def _write_documents(work_dir: Path, out: Any, duration: float) -> list[str]:
    """Write VTT/SRT/JSON documents and list every file of the run (flat names)."""
    from chalicelib.media import subtitles, thumbnails

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
    if out.signals is not None:
        doc = analysis_fields(out)
        (work_dir / ANALYSIS_JSON).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        names.append(ANALYSIS_JSON)
    return names


__all__ = ["MediaError", "ProgressReporter", "new_run_id", "run_processing"]
