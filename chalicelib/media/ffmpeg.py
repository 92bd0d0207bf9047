"""Run ffmpeg safely: argument lists (never a shell), a hard timeout, and progress parsing.

ffmpeg is the static binary from the `imageio-ffmpeg` wheel (no root install needed); the
`VIDEO_FFMPEG` setting overrides it.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from chalicelib.media.errors import MediaError, scrub

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


def run_ffmpeg(  # noqa: C901 - one process: its pipes, watchdog and verdict share state
    args: Sequence[str],
    *,
    exe: str,
    timeout: float,
    cwd: Path | None = None,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    error_code: str = "TranscodeFailed",
    what: str = "ffmpeg",
    stdout_sink: Callable[[BinaryIO], None] | None = None,
    feeds: Sequence[Callable[[BinaryIO], None]] = (),
) -> FfmpegResult:
    """Run `exe args…` with `-progress pipe:1`; kill it after `timeout` seconds.

    `on_progress(fraction)` receives 0.0-1.0 as media time advances (needs `duration`).
    With `stdout_sink`, the output is `pipe:1` instead (no progress): the sink reads it as a
    binary stream whose end raises MediaError when ffmpeg failed, so an upload fed from it
    aborts instead of completing with a truncated file.
    `feeds[i]` writes input `feed_input(i)` into a pipe (a thread each): inputs streamed from
    elsewhere, never written to disk; an error of a feed fails the run like ffmpeg's own.
    Raises MediaError(`error_code`) on a non-zero exit and MediaError("Timeout") on timeout.
    """
    progress = [] if stdout_sink else ["-progress", "pipe:1"]
    cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-y", *progress, *args]
    started = time.monotonic()
    proc, feeders, feed_errors = _spawn(cmd, cwd, feeds)
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
        err_lines.extend(line.decode("utf-8", "replace") for line in proc.stderr)

    drainer = threading.Thread(target=_drain_stderr, daemon=True)
    drainer.start()

    def failure() -> BaseException | None:
        if feed_errors:
            return feed_errors[0]
        if timed_out.is_set():
            return MediaError("Timeout", f"{what} did not finish within {timeout:.0f} seconds.")
        if proc.returncode:
            drainer.join(timeout=5)
            tail = "".join(err_lines[-_ERR_TAIL_LINES:]).strip()
            return MediaError(
                error_code, f"{what} failed (exit {proc.returncode}): {_last_error(tail)}"
            )
        return None

    try:
        assert proc.stdout is not None
        if stdout_sink is not None:
            stdout_sink(cast(BinaryIO, _CheckedOutput(proc, failure)))
        else:
            for raw in proc.stdout:
                seconds = parse_progress_seconds(raw.decode("ascii", "replace"))
                if seconds is not None and on_progress is not None and duration:
                    on_progress(min(1.0, seconds / duration))
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:  # an exception in a callback: never leave ffmpeg behind
            proc.kill()
            proc.wait()
        drainer.join(timeout=5)
        for t in feeders:  # their pipes are broken now if they were not done
            t.join()
    error = failure()
    if error is not None:
        raise error
    return FfmpegResult(proc.returncode, "".join(err_lines), time.monotonic() - started)


def _spawn(
    cmd: list[str], cwd: Path | None, feeds: Sequence[Callable[[BinaryIO], None]]
) -> tuple[subprocess.Popen[bytes], list[threading.Thread], list[BaseException]]:
    """Start ffmpeg with a pipe per feed (its `feed_input` argument replaced by `pipe:N`) and a
    thread writing each; the errors of the feeds are collected in the list returned."""
    pipes = [os.pipe() for _ in feeds]
    names = {feed_input(i): f"pipe:{r}" for i, (r, _) in enumerate(pipes)}
    try:
        proc = subprocess.Popen(  # argument list, no shell
            [names.get(a, a) for a in cmd],
            cwd=str(cwd) if cwd else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=[r for r, _ in pipes],
        )
    except BaseException:
        for _, w in pipes:
            os.close(w)
        raise
    finally:
        for r, _ in pipes:
            os.close(r)  # the child has its copies
    errors: list[BaseException] = []
    feeders = [
        threading.Thread(target=_feed, args=(f, w, errors), daemon=True)
        for f, (_, w) in zip(feeds, pipes, strict=True)
    ]
    for t in feeders:
        t.start()
    return proc, feeders, errors


def feed_input(index: int) -> str:
    """The input argument (`-i feed_input(0)`) that `run_ffmpeg` replaces with the pipe of
    `feeds[index]`."""
    return f"@feed{index}@"


def _feed(feed: Callable[[BinaryIO], None], fd: int, errors: list[BaseException]) -> None:
    out = os.fdopen(fd, "wb")
    try:
        feed(out)
    except BrokenPipeError:
        pass  # ffmpeg stopped reading: its own exit says why
    except BaseException as exc:  # recorded before the pipe closes: ffmpeg's EOF comes after
        errors.append(exc)
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.close()


class _CheckedOutput(io.RawIOBase):
    """ffmpeg's stdout for a consumer (an upload): at its end, ffmpeg's exit is checked and a
    failure raised, so a consumer never takes a truncated output for a whole one."""

    def __init__(
        self, proc: subprocess.Popen[bytes], failure: Callable[[], BaseException | None]
    ) -> None:
        super().__init__()
        self._proc, self._failure = proc, failure

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert self._proc.stdout is not None
        data = self._proc.stdout.read(size if size is not None and size >= 0 else -1)
        if not data:
            self._proc.wait()
            error = self._failure()
            if error is not None:
                raise error
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _last_error(tail: str) -> str:
    """The most telling line of an ffmpeg failure, without local paths."""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or "Invalid" in ln:
            return scrub(ln)[-300:]
    return scrub(lines[-1])[-300:] if lines else "no output"
