"""Run ffmpeg safely: argument lists (never a shell), a hard timeout, and progress parsing.

ffmpeg is the static binary from the `imageio-ffmpeg` wheel (no root install needed); the
`VIDEO_FFMPEG` setting overrides it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chalicelib.media.errors import MediaError

# Tail of stderr kept for error messages; analysis passes keep the whole log (it holds the results).
_ERR_TAIL_LINES = 40


def ffmpeg_exe(configured: str = "") -> str:
    """The ffmpeg binary: the configured path (`Settings.ffmpeg`), else the imageio-ffmpeg one."""
    if configured:
        return configured
    import imageio_ffmpeg  # lazy: not needed on the API path

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def available_cpus() -> int:
    """CPUs this process may run on (cgroup/affinity aware, unlike os.cpu_count())."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class FfmpegResult:
    """What an ffmpeg run left behind: its exit code, full stderr log and wall time."""

    returncode: int
    stderr: str
    seconds: float


def parse_progress_seconds(line: str) -> float | None:
    """Media time in seconds from one `-progress` line (`out_time_us=` / `out_time_ms=`).

    Both keys carry microseconds (ffmpeg's historic naming bug); `N/A` comes before the first
    packet.
    """
    key, _, value = line.strip().partition("=")
    if key not in ("out_time_us", "out_time_ms"):
        return None
    try:
        micros = int(value)
    except ValueError:
        return None
    return max(0.0, micros / 1_000_000)


def run_ffmpeg(
    args: Sequence[str],
    *,
    exe: str,
    timeout: float,
    cwd: Path | None = None,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    error_code: str = "TranscodeFailed",
    what: str = "ffmpeg",
) -> FfmpegResult:
    """Run `exe args…` with `-progress pipe:1`; kill it after `timeout` seconds.

    `on_progress(fraction)` receives 0.0-1.0 as media time advances (needs `duration`).
    Raises MediaError(`error_code`) on a non-zero exit and MediaError("Timeout") on timeout.
    """
    cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-y", "-progress", "pipe:1", *args]
    started = time.monotonic()
    proc = subprocess.Popen(  # argument list, no shell
        cmd,
        cwd=str(cwd) if cwd else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(timeout, _kill)
    watchdog.daemon = True
    watchdog.start()
    err_lines: list[str] = []

    def _drain_stderr() -> None:
        # stderr must be drained concurrently or ffmpeg blocks once the pipe buffer fills.
        assert proc.stderr is not None
        err_lines.extend(proc.stderr)

    drainer = threading.Thread(target=_drain_stderr, daemon=True)
    drainer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if on_progress is None or not duration:
                continue
            seconds = parse_progress_seconds(line)
            if seconds is not None:
                on_progress(min(1.0, seconds / duration))
        returncode = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:  # an exception in on_progress: never leave ffmpeg behind
            proc.kill()
            proc.wait()
        drainer.join(timeout=5)
    stderr = "".join(err_lines)
    if timed_out.is_set():
        raise MediaError("Timeout", f"{what} did not finish within {timeout:.0f} seconds.")
    if returncode != 0:
        tail = "".join(err_lines[-_ERR_TAIL_LINES:]).strip()
        raise MediaError(error_code, f"{what} failed (exit {returncode}): {_last_error(tail)}")
    return FfmpegResult(returncode, stderr, time.monotonic() - started)


def _last_error(tail: str) -> str:
    """The most telling line of an ffmpeg failure, without local paths."""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or "Invalid" in ln:
            return ln[-300:]
    return lines[-1][-300:] if lines else "no output"
