"""What both paths share: the run context (ffmpeg, timeouts, work dirs, Whisper) and the one
stage runner, with its one report shape; progress and run ids.

The one-pass job (`one_pass`) and the segmented actions (`segmented`) build a `RunContext` from
the settings and run every stage through `Stages`, so a stage reads the same whichever path ran
it: `{status, ms, reason?, code?}`; an optional stage's failure is a report, never a failed video.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from chalicelib.config import Settings
from chalicelib.media.errors import MediaError, scrub
from chalicelib.media.whisper_model import ModelChoice

OK, SKIPPED, FAILED = "completed", "skipped", "failed"
T = TypeVar("T")

# The progress bar: up to PROGRESS_STARTED once the source is fetched (one pass) or planned
# (segmented); the media work (the transcode, or the segments) drives it to PROGRESS_ENCODED;
# the rest is publishing (the assembly).
PROGRESS_STARTED, PROGRESS_ENCODED = 5, 95
PROGRESS_INTERVAL_SECONDS = 2.0


def media_progress(fraction: float) -> int:
    """The percent shown when `fraction` (0-1) of the media work is done, on either path."""
    span = PROGRESS_ENCODED - PROGRESS_STARTED
    return PROGRESS_STARTED + int(span * max(0.0, min(1.0, fraction)))


def new_run_id() -> str:
    """Time-ordered, unique run id: `20260101T120000Z-1a2b3c4d`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


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

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StageReport:
        return cls(str(raw["status"]), int(raw.get("ms", 0)), raw.get("reason"), raw.get("code"))


class Cancelled(Exception):
    """A required stage failed elsewhere: the stages still waiting do not start."""


def failure(exc: BaseException) -> tuple[str, str]:
    """(reason, code) of a stage's error: a MediaError's own, else the exception's kind."""
    if isinstance(exc, MediaError):
        return exc.message, exc.code
    return scrub(f"{type(exc).__name__}: {exc}")[:300], "StageError"


class Stages:
    """The one stage runner: each stage timed and recorded in one report shape. A required
    stage's error is raised (and cancels the stages not started yet); an optional one's becomes
    a `failed` report and the stage's value is None. Thread-safe: stages may run concurrently."""

    def __init__(self) -> None:
        self.reports: dict[str, StageReport] = {}
        self.cancel = threading.Event()
        self._lock = threading.Lock()

    def run(self, name: str, fn: Callable[[], T], *, required: bool) -> T | None:
        if self.cancel.is_set():
            raise Cancelled
        started = time.monotonic()
        try:
            value = fn()
        except Exception as exc:
            reason, code = failure(exc)
            self.record(name, FAILED, started, reason, code)
            if required:
                self.cancel.set()
                raise
            return None
        self.record(name, OK, started)
        return value

    def record(
        self,
        name: str,
        status: str,
        started: float | None = None,
        reason: str | None = None,
        code: str | None = None,
        *,
        ms: int | None = None,
    ) -> None:
        """Record a stage: its time from `started` (monotonic) or given as `ms`."""
        if ms is None:
            ms = int((time.monotonic() - started) * 1000) if started is not None else 0
        with self._lock:
            self.reports[name] = StageReport(status, ms, reason, code)

    def skip(self, name: str, reason: str) -> None:
        self.record(name, SKIPPED, reason=reason)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: v.to_dict() for k, v in self.reports.items()}


@dataclass
class RunContext:
    """One invocation's setting of the media work: the ffmpeg binary, the timeout of each run,
    where private work dirs go, the Whisper model (resolved on first use), the x264 preset."""

    settings: Settings
    work_root: Path | None = None
    exe: str = field(init=False)

    def __post_init__(self) -> None:
        from chalicelib.media.ffmpeg import ffmpeg_exe

        self.exe = ffmpeg_exe(self.settings.ffmpeg)
        if self.work_root is None:
            self.work_root = default_work_root(self.settings)

    @property
    def preset(self) -> str:
        return self.settings.x264_preset

    @cached_property
    def whisper(self) -> ModelChoice:
        from chalicelib.media.whisper_model import resolve_whisper_model

        return resolve_whisper_model(self.settings.whisper_model, self.settings.data_dir)

    def timeout(
        self, media_seconds: float, per_second: float = 20.0, floor: float = 300.0
    ) -> float:
        """Timeout of one ffmpeg run over `media_seconds` of media: the fixed setting when set
        (`VIDEO_FFMPEG_TIMEOUT_SECONDS`), else `floor + per_second x media_seconds`."""
        fixed = self.settings.ffmpeg_timeout_seconds
        return fixed if fixed > 0 else floor + per_second * media_seconds

    @contextmanager
    def work_dir(self, prefix: str) -> Iterator[Path]:
        """A private (0700) temp dir under the work root, removed on the way out whatever
        happened."""
        if self.work_root is not None:
            self.work_root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.work_root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def default_work_root(settings: Settings) -> Path | None:
    """Where private temp dirs go: `Settings.tmp_dir`, else (local mode) beside the media dir so
    publishing is a rename, else the system temp dir (/tmp on Lambda)."""
    if settings.tmp_dir is not None:
        return settings.tmp_dir
    if settings.is_local:
        return settings.data_dir / "work"
    return None


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
